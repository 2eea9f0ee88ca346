#!/usr/bin/env bash
# Benchmark W1: 4 veth parents, 50 namespaces, 1000 bridge-mode macvlans (20 per
# namespace), one IPv4 address each. Prints, in one run: mvtopo apply from scratch, no-op
# re-apply, destroy (wall time and peak RSS), and the same work done by an `ip -batch` script
# that creates each link directly in its namespace (the practical limit).
# Runs as root, entirely inside namespaces it creates (prefix w1<pid>-) and removes on exit.
# Usage: scripts/bench-w1.sh [ROUNDS]   (default 3; the best round is printed)
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

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
# timed LABEL CMD...: runs CMD under /usr/bin/time, records wall ms and peak RSS (KiB)
timed() {
  local t0 t1; t0=$(now)
  /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out"; return 1; }
  t1=$(now)
  echo "$(ms "$t0" "$t1") $(cat "$WORK/rss")"
}

best() { sort -n | head -1; }
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
  del_namespaces
done

row() { local v; v=$(printf '%s' "${R[$1]}" | best); printf '%-34s %8s ms %10s KiB\n' "$2" "${v% *}" "${v#* }"; }
echo "W1: 4 veth parents, 50 namespaces, 1000 bridge macvlans, 1 IPv4 each; best of $ROUNDS rounds"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r)"
row apply   "mvtopo apply (from scratch)"
row noop    "mvtopo apply (no-op re-apply)"
row destroy "mvtopo destroy"
row ipbatch "ip -batch, links made in their ns"
a=$(printf '%s' "${R[apply]}" | best); b=$(printf '%s' "${R[ipbatch]}" | best)
awk -v a="${a% *}" -v b="${b% *}" 'BEGIN { printf "apply / ip-batch: %.2fx (target <= 1.5x)\n", (b > 0 ? a / b : 0) }'
