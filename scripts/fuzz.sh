#!/usr/bin/env bash
# fuzz.sh runs every Fuzz target in the module for $1 (default 30s) each,
# one target per invocation as go test requires.
set -euo pipefail
t=${1:-30s}
for pkg in $(go list ./...); do
	for f in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $f ($t)"
		go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg"
	done
done
