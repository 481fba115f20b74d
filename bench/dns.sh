#!/usr/bin/env bash
# dns.sh: edgesim's DNS responder (dnsmap, via bench/dnsserve) against knotd
# serving the same zone file, on loopback, measured with dnsperf in the same
# run, alternating targets round by round. Every run is bounded (-l DUR);
# every process started here is stopped by PID on exit.
#
#   bench/dns.sh                 # ROUNDS=3 DUR=10 NAMES=10000
#   ROUNDS=5 DUR=10 bench/dns.sh
#
# Prints per-run qps, average latency, lost queries and server CPU per
# query, the median edgesim/knot ratio, p50/p99 at a fixed 10k qps, and TCP.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-10}; NAMES=${NAMES:-10000}; NQ=${NQ:-100000}
PE=${PE:-5301}; PK=${PK:-5310}; KWORKERS=${KWORKERS:-2}
SOCKETS=${SOCKETS:-2}; WORKERS=${WORKERS:-1}   # like knotd: one socket (SO_REUSEPORT) per worker
for b in knotd dnsperf; do
	command -v $b >/dev/null || { echo "dns.sh: $b missing (run scripts/deps.sh as root)" >&2; exit 1; }
done
D=$(mktemp -d /tmp/edgesim-dnsbench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	rm -rf "$D"
}
trap cleanup EXIT

# Zone (the notes/dns.md §5 data set): SOA, NS, h0..h{NAMES-1} A, AAAA on
# even names, a wildcard under an empty non-terminal, an ENT chain, a
# CNAME, and a 40-RR set. Queries: 45% A hit, 20% AAAA hit, 10% AAAA NODATA,
# 15% NXDOMAIN, 5% wildcard, 5% mixed-case hit.
awk -v n="$NAMES" 'BEGIN{
	print "$ORIGIN bench.test.\n$TTL 300"
	print "@ 3600 IN SOA ns1.bench.test. hostmaster.bench.test. 1 10000 2400 604800 1800"
	print "@ 86400 IN NS ns1.bench.test.\nns1 IN A 127.0.0.1"
	for (i = 0; i < n; i++) {
		printf "h%d IN A 192.0.%d.%d\n", i, 2 + int(i / 254) % 3, i % 254 + 1
		if (i % 2 == 0) printf "h%d IN AAAA 2001:db8::%x\n", i, i + 1
	}
	print "*.wild IN A 198.51.100.7\na.ent.deep IN A 198.51.100.8\nwww IN CNAME h1.bench.test."
	for (i = 1; i <= 40; i++) printf "big IN A 203.0.113.%d\n", i
}' > "$D/bench.test.zone"
awk -v n="$NAMES" -v nq="$NQ" 'BEGIN{
	srand(42)
	for (i = 0; i < nq; i++) {
		p = int(rand() * 100); h = int(rand() * n)
		if (p < 45) printf "h%d.bench.test A\n", h
		else if (p < 65) printf "h%d.bench.test AAAA\n", h - h % 2
		else if (p < 75) printf "h%d.bench.test AAAA\n", h - h % 2 + 1 < n ? h - h % 2 + 1 : 1
		else if (p < 90) printf "nx%d.bench.test A\n", h
		else if (p < 95) printf "w%d.wild.bench.test A\n", h
		else printf "H%d.BeNcH.TeSt A\n", h
	}
}' > "$D/queries.txt"

mkdir -p "$D/knot/run" "$D/knot/db" "$D/knot/data"
cp "$D/bench.test.zone" "$D/knot/data/"
cat > "$D/knot/knot.conf" <<CONF
server:
    rundir: "$D/knot/run"
    user: root:root
    pidfile: "$D/knot/run/knot.pid"
    listen: 127.0.0.1@$PK
    udp-workers: $KWORKERS
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$D/knot/db"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$D/knot/data"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
  - domain: bench.test.
CONF
go build -o "$D/dnsserve" ./bench/dnsserve
knotd -c "$D/knot/knot.conf" > "$D/knot.log" 2>&1 & PIDS+=($!); KPID=$!
"$D/dnsserve" -addr 127.0.0.1:$PE -sockets "$SOCKETS" -workers "$WORKERS" "$D/bench.test.zone" > "$D/edgesim.log" 2>&1 & PIDS+=($!); EPID=$!
for _ in $(seq 50); do
	kdig_ok=1
	dnsperf -s 127.0.0.1 -p $PK -d "$D/queries.txt" -n 1 -t 1 >/dev/null 2>&1 || kdig_ok=0
	dnsperf -s 127.0.0.1 -p $PE -d "$D/queries.txt" -n 1 -t 1 >/dev/null 2>&1 || kdig_ok=0
	[ $kdig_ok = 1 ] && break; sleep 0.2
done

cpu() { # utime+stime seconds of PID
	awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); split($0, f, " "); printf "%.2f", (f[12] + f[13]) / hz}' "/proc/$1/stat"
}
declare -A QPS
one() { # tag name port pid dnsperf-args...
	local tag=$1 name=$2 port=$3 pid=$4; shift 4
	local c0 c1 out=$D/$tag.$name.txt
	c0=$(cpu "$pid")
	dnsperf -s 127.0.0.1 -p "$port" -d "$D/queries.txt" -l "$DUR" "$@" > "$out" 2>&1
	c1=$(cpu "$pid")
	local qps lat done lost
	qps=$(awk '/Queries per second/{print $4}' "$out"); lat=$(awk '/Average Latency/{print $4}' "$out")
	done=$(awk '/Queries completed/{print $3}' "$out"); lost=$(awk '/Queries lost/{print $3}' "$out")
	printf "%-4s %-8s qps=%-10s avglat_s=%-9s completed=%-8s lost=%-4s cpu_us_per_q=%s load1=%s\n" "$tag" "$name" "$qps" "$lat" "$done" "$lost" \
		"$(echo "$c0 $c1 $done" | awk '{ if ($3 > 0) printf "%.2f", ($2 - $1) / $3 * 1e6; else print "-" }')" "$(cut -d' ' -f1 /proc/loadavg)"
	QPS[$tag.$name]=$qps
}
echo "# dnsperf $(dnsperf -h 2>&1 | awk '/^Version/{print $2}' | head -1) knotd $(knotd --version | awk '{print $NF}') go $(go env GOVERSION) $(nproc) cpus; udp-workers=$KWORKERS sockets=$SOCKETS"
echo "# UDP throughput: dnsperf -e -c 8 -T 1 -q 100 -l $DUR, rounds alternate edgesim/knot"
ratios=()
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order="edgesim knot"; else order="knot edgesim"; fi
	for n in $order; do
		if [ $n = knot ]; then one "U$r" knot $PK $KPID -e -c 8 -T 1 -q 100; else one "U$r" edgesim $PE $EPID -e -c 8 -T 1 -q 100; fi
	done
	ratios+=("$(echo "${QPS[U$r.edgesim]} ${QPS[U$r.knot]}" | awk '{printf "%.2f", $1 / $2}')")
done
echo "UDP qps ratio edgesim/knot per round: ${ratios[*]}; median $(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"

echo "# latency at a fixed 10k qps: dnsperf -e -c 8 -T 1 -Q 10000 -l $DUR -v"
for n in edgesim knot; do
	if [ $n = knot ]; then one L knot $PK $KPID -e -c 8 -T 1 -Q 10000 -v; else one L edgesim $PE $EPID -e -c 8 -T 1 -Q 10000 -v; fi
	grep '^>' "$D/L.$n.txt" | awk '{print $NF}' | sort -g | awk -v n=$n '{a[NR]=$1} END{printf "L    %-8s n=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p99.9_ms=%.3f max_ms=%.3f\n", n, NR, a[int(NR*.5)]*1e3, a[int(NR*.9)]*1e3, a[int(NR*.99)]*1e3, a[int(NR*.999)]*1e3, a[NR]*1e3}'
	awk '/^>/{c[$2]++} END{for (k in c) printf "%s=%d ", k, c[k]; print ""}' "$D/L.$n.txt" | sed "s/^/L    $n rcodes: /"
done

echo "# TCP: dnsperf -m tcp -c 8 -T 1 -q 100 -l $DUR"
one T edgesim $PE $EPID -m tcp -c 8 -T 1 -q 100
one T knot $PK $KPID -m tcp -c 8 -T 1 -q 100
echo "TCP qps ratio edgesim/knot: $(echo "${QPS[T.edgesim]} ${QPS[T.knot]}" | awk '{printf "%.2f", $1 / $2}')"
