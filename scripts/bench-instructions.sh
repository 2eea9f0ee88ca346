#!/usr/bin/env bash
# The pure core of two builds compared by instructions executed, not by time: callgrind
# counts every instruction of `mvtopo check` and `mvtopo plan --state` (empty and matching)
# on the core bench's topology (10,000 macvlans in 500 namespaces). The count does not move
# with the machine's load, so "no slower" can be told on a shared machine where timings
# swing by 2x.
# Usage: scripts/bench-instructions.sh BASE_REV   (HEAD's build beside BASE_REV's)
#        BASE_BIN=/path/to/old/mvtopo scripts/bench-instructions.sh   (a binary already built)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null 2>&1 || { apt-get install -y -qq valgrind >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }; }
WORK=$(mktemp -d /tmp/mvtopo-ir-XXXXXX)
cleanup() {
  [ -d "$WORK/base" ] && git worktree remove --force "$WORK/base" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -z "${BASE_BIN:-}" ]; then
  BASE=${1:?usage: scripts/bench-instructions.sh BASE_REV}
  git worktree add -q --detach "$WORK/base" "$BASE"
  (cd "$WORK/base" && cargo build -q --release --locked --bin mvtopo)
  BASE_BIN=$WORK/base/target/release/mvtopo
fi
cargo build -q --release --locked --bin mvtopo
HEAD_BIN=$PWD/target/release/mvtopo
cargo bench -q --bench core -- --write-inputs "$WORK/in" >/dev/null
ir() { # instructions of one run; the run must succeed (exit 0, or 2 for a plan with changes)
  local out code
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null) && code=0 || code=$?
  [ "$code" = 0 ] || [ "$code" = 2 ] || { echo "bench: $* exited $code" >&2; exit 1; }
  grep -o 'Collected : [0-9]*' <<<"$out" | grep -o '[0-9]*$'
}
printf '%-44s %13s %13s %6s\n' "run" "base instr." "HEAD instr." "ratio"
for args in "check bench.toml" "plan --state empty.json bench.toml" "plan --state matching.json bench.toml"; do
  # shellcheck disable=SC2086
  b=$(cd "$WORK/in" && ir "$BASE_BIN" $args)
  # shellcheck disable=SC2086
  h=$(cd "$WORK/in" && ir "$HEAD_BIN" $args)
  printf '%-44s %13s %13s %6s\n' "mvtopo $args" "$b" "$h" "$(awk -v b="$b" -v h="$h" 'BEGIN{printf "%.3f", h/b}')"
done
