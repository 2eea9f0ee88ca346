#!/usr/bin/env bash
# The whole test suite, as root on a fresh Debian machine (this is what CI runs):
# lints, unit + golden + property tests, kernel tests (in private lab namespaces), the
# built-in example end to end, the QEMU VM suite, and the Nix syntax check.
# Kernel tests refuse to pass silently without root: they fail, unless MVTOPO_ALLOW_SKIP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Property tests draw from a fixed seed here, so a run is reproducible; to explore, run them
# with another seed or more cases: PROPTEST_RNG_SEED=N PROPTEST_CASES=20000 cargo test --release --test plan_props
export PROPTEST_RNG_SEED=${PROPTEST_RNG_SEED:-20261128}
results=()
run() {
  local name=$1; shift
  echo "=== $name: $*"
  local t0=$SECONDS
  if "$@"; then results+=("ok    $name ($((SECONDS - t0)) s)"); else results+=("FAIL  $name ($((SECONDS - t0)) s)"); fi
}
run fmt cargo fmt --all -- --check
run clippy cargo clippy --locked --all-targets --quiet -- -D warnings
run cargo-test cargo test --locked
run quickstart env SKIP_SETUP=1 examples/quickstart.sh
if [ -x vm-tests/run.sh ]; then run vm-tests vm-tests/run.sh; fi
if [ -x vm-tests/nix-check.sh ]; then run nix-check vm-tests/nix-check.sh; fi
if [ -x nix/tests/eval.sh ]; then run nix-eval nix/tests/eval.sh; fi
echo "=== summary"
printf '%s\n' "${results[@]}"
failed=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL' || true)
passed=$(( ${#results[@]} - failed ))
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
