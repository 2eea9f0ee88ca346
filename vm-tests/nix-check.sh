#!/bin/bash
# Syntax check of every .nix file in the repository (flake.nix, nix/). Nix cannot fetch
# nixpkgs on this project's machines, so nothing is built; the evaluation of the module, the
# flake and the NixOS test with nixpkgs' lib is nix/tests/eval.sh. Installs Debian's nix-bin
# when nix-instantiate is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! command -v nix-instantiate >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "nix-check: nix-instantiate missing and not root to install nix-bin" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nix-bin >/dev/null
fi

ok=0
bad=0
while IFS= read -r -d '' f; do
    # --parse prints the parsed expression; only success matters here.
    if out=$(nix-instantiate --parse "$f" 2>&1 >/dev/null); then
        echo "ok    $f"
        ok=$((ok + 1))
    else
        echo "FAIL  $f"
        printf '%s\n' "$out" | sed 's/^/      /'
        bad=$((bad + 1))
    fi
done < <(find . -path ./target -prune -o -path ./.git -prune -o -name '*.nix' -type f -print0 | sort -z)

# nix/package.nix reads its version with lib.importTOML (builtins.fromTOML): that much can be
# evaluated without nixpkgs.
if v=$(nix-instantiate --eval -E '(builtins.fromTOML (builtins.readFile ./Cargo.toml)).package.version' 2>&1); then
    echo "ok    Cargo.toml reads as TOML in Nix (version ${v##*$'\n'})"
    ok=$((ok + 1))
else
    echo "FAIL  Cargo.toml does not read as TOML in Nix"
    printf '%s\n' "$v" | sed 's/^/      /'
    bad=$((bad + 1))
fi

[ $((ok + bad)) -gt 0 ] || { echo "nix-check: no .nix file found" >&2; exit 1; }
echo "nix-check: $ok checks ok, $bad failed (parse only; nix/tests/eval.sh evaluates)"
[ "$bad" -eq 0 ]
