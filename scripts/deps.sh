#!/usr/bin/env bash
# deps.sh installs the Debian packages edgesim's tests and lab use. It does
# nothing when they are all present; it needs root to install.
set -euo pipefail

# Binary -> package. Keep in step with the tests that start real peers.
declare -A pkgs=(
	[stayrtr]=stayrtr          # registry: RTR cache for RPKI validation tests
	[dig]=bind9-dnsutils       # README walkthrough checks
	[jq]=jq                    # README walkthrough (TestREADMEWalkthrough runs it)
	[curl]=curl                # README walkthrough
	[knotd]=knot               # dnsmap: TestCompareKnot and bench/dns.sh reference server (/usr/sbin)
	[kdig]=knot-dnsutils       # dnsmap: manual checks against knotd
	[dnsperf]=dnsperf          # bench/dns.sh load driver
	[vtysh]=frr                # bgp, netlab: FRR peers in netns tests (daemons in /usr/lib/frr)
	[bird]=bird2               # bgp, netlab: BIRD peers in netns tests
	[haproxy]=haproxy          # proxy: PROXY v1/v2 origin (accept-proxy) and benchmark reference
	[iperf3]=iperf3            # proxy: throughput benchmarks (bench/proxyload)
	[nc]=netcat-openbsd        # the lab's printed commands (nc from the client namespace)
	[ss]=iproute2              # netlab: ip, ss
	[etcd]=etcd-server         # store: the etcd backend's conformance, two-client and restart tests; node: two nodes on one state
)

missing=()
for bin in "${!pkgs[@]}"; do
	command -v "$bin" >/dev/null 2>&1 || missing+=("${pkgs[$bin]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
	echo "deps: tests that need them will skip (and fail when CI=true)" >&2
	exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
