#!/usr/bin/env bash
# The built-in example, end to end, as root: check, plan, apply, show, ping, re-apply (no
# changes), destroy. mvtopo runs inside a private lab namespace (entered with nsenter, which
# switches only the network namespace, unlike `ip netns exec`), so the machine's own
# interfaces are never touched. Everything is removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_SETUP:-}" = 1 ] || scripts/setup.sh
MVTOPO=${MVTOPO:-$PWD/target/release/mvtopo}
FILE=examples/quickstart.toml
LAB=mvtopo-demo-$$
in_lab() { nsenter --net="/run/netns/$LAB" "$@"; }
cleanup() {
  in_lab "$MVTOPO" destroy "$FILE" >/dev/null 2>&1 || true
  for n in "$LAB" mvtopo-qs-red mvtopo-qs-blue mvtopo-qs-sw; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT
ip netns add "$LAB"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step mvtopo check $FILE;            "$MVTOPO" check "$FILE"
step mvtopo plan $FILE;             in_lab "$MVTOPO" plan "$FILE"
step mvtopo apply $FILE;            in_lab "$MVTOPO" apply "$FILE"
step mvtopo show $FILE;             in_lab "$MVTOPO" show "$FILE"
step "ping red -> blue, red -> host shim (bridge mode)"
ip netns exec mvtopo-qs-red ping -c1 -W2 10.77.0.3
ip netns exec mvtopo-qs-red ping -c1 -W2 10.77.0.1
ip netns exec mvtopo-qs-red ping -6 -c1 -W2 fd77::3
step mvtopo apply $FILE "(again: nothing to do)"; in_lab "$MVTOPO" apply "$FILE"
step mvtopo plan --detailed-exitcode $FILE; in_lab "$MVTOPO" plan --detailed-exitcode "$FILE"
step mvtopo destroy $FILE;          in_lab "$MVTOPO" destroy "$FILE"
echo; echo "quickstart: ok"
