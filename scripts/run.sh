#!/usr/bin/env bash
# run.sh starts edged in the foreground (Ctrl-C stops it) with the config
# given as $1, or the embedded demo config, and prints what to try.
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
[ -n "${1:-}" ] && args=(-config "$1")
api=127.0.0.1:8080
if [ -n "${1:-}" ]; then
	bin/edged -check "$1" >/dev/null
	api=$(sed -n 's/^ *api: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$1" | head -n1)
	api=${api:-127.0.0.1:8080}
fi
if (exec 3<>"/dev/tcp/${api%:*}/${api##*:}") 2>/dev/null; then
	echo "run: something already listens on $api (another edged?); stop it first" >&2
	exit 1
fi

cat <<MSG
edgesim: starting edged on http://$api/client/v4/ (state in var/edgesim.db; Ctrl-C stops it)

Try, in another terminal (the README walks the whole onboarding with curl;
'bin/edged -print-demo-config' shows the demo accounts and credentials):

  A=258def64c72dae45f3e4c8516e2111f2
  H=(-H 'X-Auth-Email: owner@example.net' -H 'X-Auth-Key: 144c9defac04969c7bfad8efaa8ea194')
  curl -s "\${H[@]}" http://$api/client/v4/accounts/\$A/addressing/services
  curl -s "\${H[@]}" http://$api/client/v4/accounts/\$A/addressing/prefixes \\
       -d '{"cidr":"203.0.113.0/24","asn":13335,"delegate_loa_creation":true}'
  bin/edgectl status
  bin/edgectl lookup 203.0.113.18
  bin/edgectl fast-forward 5h
  dig @127.0.0.1 -p 8053 example.com SOA

The BGP speaker runs when the config lists bgp.peers and the Spectrum proxy
with listen.proxy: true (the demo has neither). Not built yet: the network
lab (edge, FRR peer, client and origin namespaces), issue 8.

MSG
exec bin/edged "${args[@]}"
