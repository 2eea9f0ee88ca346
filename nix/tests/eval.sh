#!/bin/bash
# The NixOS module evaluation test (CI runs it from scripts/test-all.sh): evaluates
# nix/module.nix, flake.nix and nix/vm-test.nix with nixpkgs' lib (vendored in nix/vendor/)
# under Debian's nix-bin, without a Nix store (--store dummy://), through nix/tests/eval.nix,
# then runs the build-time `mvtopo check` each configuration records on its rendered file,
# with the real mvtopo. Needs no root unless nix-bin must be installed.
#
# Environment: MVTOPO_BIN=PATH uses that mvtopo (default: target/debug/mvtopo, built if missing).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

die() {
    echo "nix-eval: $*" >&2
    exit 1
}

if ! command -v nix-instantiate >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "nix-instantiate is missing, and installing nix-bin needs root"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends nix-bin >/dev/null; } ||
        die "cannot install nix-bin: the module evaluation test cannot run"
    command -v nix-instantiate >/dev/null 2>&1 || die "nix-bin installed, but no nix-instantiate"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
tar -xzf nix/vendor/nixpkgs-lib.tar.gz -C "$TMP"
LIB=$TMP/nixpkgs-lib/lib
[ -f "$LIB/default.nix" ] || die "nix/vendor/nixpkgs-lib.tar.gz holds no lib/default.nix"

if [ -n "${MVTOPO_BIN:-}" ]; then
    MVTOPO=$MVTOPO_BIN
else
    MVTOPO=$ROOT/target/debug/mvtopo
    [ -x "$MVTOPO" ] || cargo build --quiet --locked --bin mvtopo
fi
[ -x "$MVTOPO" ] || die "no mvtopo binary at $MVTOPO"

# nix-bin 2.8: no store, no daemon; `nix eval --raw` prints the report as plain text.
nixeval() {
    nix eval --extra-experimental-features nix-command --store dummy:// --impure "$@"
}
expr="(import $ROOT/nix/tests/eval.nix { lib = import $LIB; })"

ok=0
bad=0
pass() {
    echo "ok    $*"
    ok=$((ok + 1))
}
fail() {
    echo "FAIL  $*"
    bad=$((bad + 1))
}

# 1. Every case: its problems (none expected) and its rendered files.
if ! nixeval --raw --expr "$expr.report" >"$TMP/report" 2>"$TMP/report.err"; then
    sed 's/^/      /' "$TMP/report.err"
    die "the evaluation itself failed"
fi
# Split the report: "@@ file CASE NAME CMD..." opens a file, "@@ end" closes it.
mkdir -p "$TMP/files"
awk -v dir="$TMP/files" '
    /^@@ file / { out = dir "/" $3 "--" $4; print substr($0, index($0, $5)) > (out ".cmd"); next }
    /^@@ rendered / { print $3 > (out ".path"); next }
    /^@@ end$/ { close(out); close(out ".cmd"); close(out ".path"); out = ""; next }
    /^@@ / { next }
    out != "" { print > out }
' "$TMP/report"
for c in $(sed -n 's/^@@ case //p' "$TMP/report"); do
    problems=$(sed -n "s/^@@ problem $c: //p" "$TMP/report")
    if [ -z "$problems" ]; then pass "case $c"; else
        fail "case $c"
        printf '%s\n' "$problems" | sed 's/^/      - /'
    fi
done

# 2. The build-time check each file records, run with the real mvtopo on the rendered text.
nfiles=0
for f in "$TMP"/files/*--*.toml; do
    [ -e "$f" ] || continue
    nfiles=$((nfiles + 1))
    label=$(basename "$f" | sed 's/--/: /')
    read -r -a cmd <"$f.cmd"
    path=$(cat "$f.path")
    # The recorded command is "mvtopo check RENDERED": check it is that, then run it.
    if [ "${#cmd[@]}" -ne 3 ] || [ "${cmd[0]}" != mvtopo ] || [ "${cmd[1]}" != check ] || [ "${cmd[2]}" != "$path" ]; then
        fail "$label: the recorded build step is not 'mvtopo check $path': ${cmd[*]}"
        continue
    fi
    if out=$("$MVTOPO" check "$f" 2>&1); then pass "$label: mvtopo check"; else
        fail "$label: mvtopo check"
        printf '%s\n' "$out" | sed 's/^/      /'
        sed 's/^/      | /' "$f"
    fi
done
[ "$nfiles" -gt 0 ] || fail "no rendered file to check"

# 3. A mode the kernel does not have is refused by the option type, naming the option.
if nix-instantiate --eval --strict --store dummy:// -E "$expr.badMode" >"$TMP/bad.out" 2>"$TMP/bad.err"; then
    fail "mode = \"bridged\" was accepted"
elif grep -q 'services\.mvtopo\.topologies\.lab\.settings\.macvlan\..*\.mode.* is not of type' "$TMP/bad.err" &&
    grep -q '"vepa", "bridge", "private", "passthru", "source"' "$TMP/bad.err"; then
    pass "mode = \"bridged\" is refused by the option type"
else
    fail "mode = \"bridged\" failed, but not with the option type's error"
    sed 's/^/      /' "$TMP/bad.err"
fi

echo "nix-eval: $ok ok, $bad failed (nixpkgs lib $(nixeval --raw --expr "(import $LIB).version"), $nfiles rendered files checked with $MVTOPO)"
[ "$bad" -eq 0 ]
