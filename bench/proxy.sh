#!/usr/bin/env bash
# proxy.sh: edgesim's L4 proxy (proxy/, via bench/proxyload serve, with
# lookup, ip_firewall and PROXY v2 on) against HAProxy 2.6 with splice and a
# direct connection, on loopback, interleaved round by round in one run:
# iperf3 1 and 8 streams (+ proxy CPU per GB), new connections/s with 32
# clients (+ CPU per connection), 64 B ping-pong RTT, UDP relay pps (64 and
# 1400 B; off, SPP, v2) and the idle cost of IDLE held connections. Every run
# is bounded; proxyload stops every process it starts by PID.
#
#   bench/proxy.sh                        # ROUNDS=5 DUR=4s IDLE=7500
#   ROUNDS=7 DUR=3s IDLE=0 ONLY=udp bench/proxy.sh     # tests: tcp,conn,ping,udp,idle
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."
ROUNDS=${ROUNDS:-5}; DUR=${DUR:-4s}; IDLE=${IDLE:-7500}; ONLY=${ONLY:-tcp,conn,ping,udp,idle}
for b in iperf3 haproxy; do
	command -v $b >/dev/null || [ -x /usr/sbin/$b ] || { echo "proxy.sh: $b missing (run scripts/deps.sh as root)" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin
BIN=$(mktemp -d /tmp/edgesim-proxybench.XXXXXX)
trap 'rm -rf "$BIN"' EXIT
go build -o "$BIN/proxyload" ./bench/proxyload
timeout 1800 "$BIN/proxyload" run -rounds "$ROUNDS" -dur "$DUR" -idle "$IDLE" -only "$ONLY"
