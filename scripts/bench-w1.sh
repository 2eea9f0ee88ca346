#!/usr/bin/env bash
# Benchmark W1: 4 veth parents, 50 namespaces, 1000 bridge-mode macvlans (20 per
# namespace), one IPv4 address each. Prints, in one run: mvtopo apply from scratch, no-op
# re-apply, destroy (wall time and peak RSS), and the same work done by an `ip -batch` script
# that creates each link directly in its namespace (the practical limit).
# Runs as root, entirely inside namespaces it creates (prefix w1<pid>-) and removes on exit.
# Usage: scripts/bench-w1.sh [ROUNDS]   (default 3; the best round is printed)
# Each figure is printed beside the iproute2 baseline of the same run, with their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
[ "${SKIP_SETUP:-}" = 1 ] || scripts/setup.sh
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get install -y -qq time >/dev/null 2>&1 || apt-get update -qq && apt-get install -y -qq time >/dev/null; }
MVTOPO=${MVTOPO:-$PWD/target/release/mvtopo}
P=w1$$
WORK=$(mktemp -d)
del_namespaces() {
  for n in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$n" 2>/dev/null || true; done
}
trap 'del_namespaces; rm -rf "$WORK"' EXIT

# The topology file.
{
  echo "name = \"$P\""
  for n in $(seq 0 49); do echo "[namespace.$P-n$n]"; done
  for p in 0 1 2 3; do printf '[parent.up%d]\ncreate = "veth"\n' "$p"; done
  for n in $(seq 0 49); do for i in $(seq 0 19); do
    k=$((n * 20 + i))
    printf '[[macvlan]]\nname = "mv%d"\nparent = "up%d"\nnamespace = "%s-n%d"\nmode = "bridge"\naddresses = ["10.%d.%d.%d/16"]\n' \
      "$i" $((k % 4)) "$P" "$n" 60 $((k / 250)) $((k % 250 + 1))
  done; done
} > "$WORK/w1.toml"

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

declare -A R
for r in $(seq 1 "$ROUNDS"); do
  ip netns add "$P-lab"
  L="nsenter --net=/run/netns/$P-lab"
  R[apply]+="$(timed $L "$MVTOPO" apply "$WORK/w1.toml")"$'\n'
  R[noop]+="$(timed $L "$MVTOPO" apply "$WORK/w1.toml")"$'\n'
  grep -q "no changes" "$WORK/out" || { echo "bench: re-apply was not a no-op:"; cat "$WORK/out"; exit 1; }
  R[destroy]+="$(timed $L "$MVTOPO" destroy "$WORK/w1.toml")"$'\n'
  ip netns del "$P-lab"

  # The same work with iproute2 batches: netns add, parents, links created in their namespace,
  # then per namespace: address + up.
  ip netns add "$P-lab"
  : > "$WORK/host.batch"
  for p in 0 1 2 3; do echo "link add up$p type veth peer name up${p}p" >> "$WORK/host.batch"; echo "link set up$p up" >> "$WORK/host.batch"; done
  for n in $(seq 0 49); do for i in $(seq 0 19); do
    k=$((n * 20 + i))
    echo "link add mv$i link up$((k % 4)) netns $P-n$n type macvlan mode bridge" >> "$WORK/host.batch"
  done; done
  for n in $(seq 0 49); do
    : > "$WORK/ns$n.batch"
    for i in $(seq 0 19); do
      k=$((n * 20 + i))
      echo "address add 10.60.$((k / 250)).$((k % 250 + 1))/16 dev mv$i" >> "$WORK/ns$n.batch"
      echo "link set mv$i up" >> "$WORK/ns$n.batch"
    done
  done
  cat > "$WORK/ipbatch.sh" <<EOS
set -e
for n in \$(seq 0 49); do ip netns add $P-n\$n; done
nsenter --net=/run/netns/$P-lab ip -batch $WORK/host.batch
for n in \$(seq 0 49); do ip -n $P-n\$n -batch $WORK/ns\$n.batch; done
EOS
  R[ipbatch]+="$(timed bash "$WORK/ipbatch.sh")"$'\n'
  # Destroy: the parents (each takes its macvlans in one batch), then the namespaces.
  cat > "$WORK/ipdel.sh" <<EOS
set -e
for p in 0 1 2 3; do ip -n $P-lab link del up\$p; done
for n in \$(seq 0 49); do ip netns del $P-n\$n; done
EOS
  R[ipdel]+="$(timed bash "$WORK/ipdel.sh")"$'\n'
  del_namespaces
done

echo "W1: 4 veth parents, 50 namespaces, 1000 bridge macvlans, 1 IPv4 each; best of $ROUNDS rounds"
machine
row apply   "mvtopo apply (from scratch)" ipbatch "ip -batch, made in their ns"
row noop    "mvtopo apply (no-op)"        ipbatch "(ip -batch apply)"
row destroy "mvtopo destroy"              ipdel   "ip link del parents + netns del"
echo "targets: apply <= 1.5x ip-batch, no-op < 100 ms, peak RSS < 50 MB"
