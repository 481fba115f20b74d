#!/usr/bin/env bash
# run.sh is `make run`. As root (and without a CONFIG) it brings up the
# network lab in the foreground: edged in the "edge" namespace, an FRR peer,
# client and origin namespaces, the demo state loaded (bin/edgectl lab up;
# Ctrl-C tears it down). Otherwise it starts edged alone on loopback with
# the config given as $1 (default: the embedded demo config) and prints what
# to try. LAB=0 forces the loopback mode as root.
set -euo pipefail
cd "$(dirname "$0")/.."

api=127.0.0.1:8080
if [ -n "${1:-}" ]; then
	bin/edged -check "$1" >/dev/null
	api=$(sed -n 's/^ *api: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$1" | head -n1)
	api=${api:-127.0.0.1:8080}
fi
if (exec 3<>"/dev/tcp/${api%:*}/${api##*:}") 2>/dev/null; then
	echo "run: something already listens on $api (another edged, or a lab: bin/edgectl lab down); stop it first" >&2
	exit 1
fi

if [ "$(id -u)" = 0 ] && [ -z "${1:-}" ] && [ "${LAB:-1}" != 0 ]; then
	echo "edgesim: bringing up the network lab (state and logs in var/lab/; Ctrl-C tears it down)"
	exec bin/edgectl lab up
fi

args=()
[ -n "${1:-}" ] && args=(-config "$1")
skipped="Not root: the network lab is skipped (namespaces edge, peer, client and
origin; the FRR peer; BGP, AnyIP routes and the Spectrum proxy on the wire).
Run make run as root for it."
[ "$(id -u)" = 0 ] && skipped="The network lab is skipped (LAB=0 or a CONFIG was given); make run as root
without them brings it up."
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

$skipped

MSG
exec bin/edged "${args[@]}"
