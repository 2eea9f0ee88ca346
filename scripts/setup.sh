#!/usr/bin/env bash
# Installs what mvtopo's build, example and tests need on a fresh Debian machine (as root),
# and builds the release binary. Safe to run again: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v nsenter >/dev/null || need+=(util-linux)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v dot >/dev/null || need+=(graphviz)   # the guide's mode pictures (tests/guide.rs)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
cargo build --release --locked --quiet
