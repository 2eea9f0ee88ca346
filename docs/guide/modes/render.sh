#!/usr/bin/env bash
# Draws the frame-path pictures of the mode pages: docs/guide/modes/MODE.dot -> MODE.svg
# with Graphviz (installed with apt when `dot` is missing). The SVGs are committed, so the
# guide reads without Graphviz; `render.sh --check` redraws them into a temporary
# directory and fails when a committed SVG differs (tests/guide.rs runs it).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v dot >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq graphviz >/dev/null
  else
    echo "render.sh: Graphviz's dot is missing (Debian: apt-get install graphviz)" >&2
    exit 1
  fi
fi
check=no
[ "${1:-}" = --check ] && check=yes
out=.
if [ $check = yes ]; then out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
status=0
for src in *.dot; do
  svg=${src%.dot}.svg
  dot -Tsvg "$src" -o "$out/$svg"
  if [ $check = yes ] && ! cmp -s "$out/$svg" "$svg"; then
    echo "render.sh: docs/guide/modes/$svg is not current: run docs/guide/modes/render.sh" >&2
    status=1
  fi
done
exit $status
