#!/usr/bin/env bash
# Benchmark W2: 20 existing veth parents (made by this script, not by mvtopo),
# 500 namespaces, 10,000 bridge-mode macvlans (20 per namespace), one IPv4 address each.
# Prints, in one run: mvtopo apply from scratch, no-op re-apply and destroy (wall time and
# peak RSS), each beside the same work done with `ip -batch` (links created directly in
# their namespace; destroyed per namespace with one group delete, then the namespace).
# Runs as root, entirely inside namespaces it creates (prefix w2<pid>-) and removes on exit.
# Usage: scripts/bench-w2.sh [ROUNDS]   (default 1; the best round is printed)
#        NS=50 PER=20 PARENTS=4 scripts/bench-w2.sh   (other sizes)
#        ONLY=apply scripts/bench-w2.sh   (only the apply from scratch and its baseline)
#        ONLY=noop scripts/bench-w2.sh    (the apply and NOOPS no-op re-applies per round,
#          default 5, beside ip -batch; no destroy: the namespaces are deleted by hand)
#        ISOLATE=1 scripts/bench-w2.sh    (in a mount namespace of its own whose /run/netns
#          is empty: namespaces other programs keep on the machine are neither read nor timed)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ISOLATE:-}" = 1 ]; then
  # A private tmpfs on /run/netns: `ip netns` and mvtopo see only the namespaces made here;
  # they go with the mount namespace when the script ends.
  exec unshare -m --propagation private env ISOLATE=done bash -c \
    'mount -t tmpfs -o mode=755 tmpfs /run/netns && exec "$0" "$@"' "$0" "$@"
fi
ROUNDS=${1:-1}
NS=${NS:-500}
PER=${PER:-20}
PARENTS=${PARENTS:-20}
ONLY=${ONLY:-}
NOOPS=${NOOPS:-$([ "$ONLY" = noop ] && echo 5 || echo 1)}
[ "${SKIP_SETUP:-}" = 1 ] || scripts/setup.sh
command -v /usr/bin/time >/dev/null 2>&1 || { apt-get install -y -qq time >/dev/null 2>&1 || apt-get update -qq && apt-get install -y -qq time >/dev/null; }
MVTOPO=${MVTOPO:-$PWD/target/release/mvtopo}
P=w2$$
WORK=$(mktemp -d)
del_namespaces() {
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$n" 2>/dev/null || true; done
  rm -f /run/mvtopo/netns/"$P"-* 2>/dev/null || true
}
trap 'del_namespaces; rm -rf "$WORK"' EXIT

last=$((NS - 1))
# The topology file: existing parents (no `create`), namespaces owned by the topology.
{
  echo "name = \"$P\""
  for n in $(seq 0 $last); do echo "[namespace.$P-n$n]"; done
  for p in $(seq 0 $((PARENTS - 1))); do printf '[parent.up%d]\n' "$p"; done
  for n in $(seq 0 $last); do for i in $(seq 0 $((PER - 1))); do
    k=$((n * PER + i))
    printf '[[macvlan]]\nname = "mv%d"\nparent = "up%d"\nnamespace = "%s-n%d"\nmode = "bridge"\naddresses = ["10.%d.%d.%d/16"]\n' \
      "$i" $((k % PARENTS)) "$P" "$n" 61 $((k / 250)) $((k % 250 + 1))
  done; done
} > "$WORK/w2.toml"

# The lab: its own namespace holding the existing parents, up.
lab() {
  ip netns add "$P-lab"
  for p in $(seq 0 $((PARENTS - 1))); do
    ip -n "$P-lab" link add "up$p" type veth peer name "up${p}p"
    ip -n "$P-lab" link set "up$p" up
  done
}

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

# The iproute2 equivalent: namespaces, links created in their namespace from the lab, then
# per namespace address + up. Destroy: per namespace, every link into one group, one
# group delete (one batch in the kernel), then the namespace.
: > "$WORK/host.batch"
for n in $(seq 0 $last); do for i in $(seq 0 $((PER - 1))); do
  k=$((n * PER + i))
  echo "link add mv$i link up$((k % PARENTS)) netns $P-n$n type macvlan mode bridge" >> "$WORK/host.batch"
done; done
for n in $(seq 0 $last); do
  : > "$WORK/ns$n.batch"; : > "$WORK/del$n.batch"
  for i in $(seq 0 $((PER - 1))); do
    k=$((n * PER + i))
    echo "address add 10.61.$((k / 250)).$((k % 250 + 1))/16 dev mv$i" >> "$WORK/ns$n.batch"
    echo "link set mv$i up" >> "$WORK/ns$n.batch"
    echo "link set mv$i group 77" >> "$WORK/del$n.batch"
  done
  echo "link del group 77" >> "$WORK/del$n.batch"
done
cat > "$WORK/ipbatch.sh" <<EOS
set -e
for n in \$(seq 0 $last); do ip netns add $P-n\$n; done
nsenter --net=/run/netns/$P-lab ip -batch $WORK/host.batch
for n in \$(seq 0 $last); do ip -n $P-n\$n -batch $WORK/ns\$n.batch; done
EOS
cat > "$WORK/ipdel.sh" <<EOS
set -e
for n in \$(seq 0 $last); do ip -n $P-n\$n -batch $WORK/del\$n.batch; ip netns del $P-n\$n; done
EOS

declare -A R
for r in $(seq 1 "$ROUNDS"); do
  lab
  L="nsenter --net=/run/netns/$P-lab"
  R[apply]+="$(timed $L "$MVTOPO" apply "$WORK/w2.toml")"$'\n'
  if [ "$ONLY" = apply ]; then
    del_namespaces
    lab
    R[ipbatch]+="$(timed bash "$WORK/ipbatch.sh")"$'\n'
    del_namespaces
    continue
  fi
  for _ in $(seq 1 "$NOOPS"); do
    R[noop]+="$(timed $L "$MVTOPO" apply "$WORK/w2.toml")"$'\n'
    grep -q "no changes" "$WORK/out" || { echo "bench: re-apply was not a no-op:"; cat "$WORK/out"; exit 1; }
  done
  if [ "$ONLY" != noop ]; then
    R[destroy]+="$(timed $L "$MVTOPO" destroy "$WORK/w2.toml")"$'\n'
    left=$(ip netns list 2>/dev/null | grep -c "^$P-n" || true)
    [ "$left" = 0 ] || { echo "bench: destroy left $left namespaces"; exit 1; }
  fi
  del_namespaces

  lab
  R[ipbatch]+="$(timed bash "$WORK/ipbatch.sh")"$'\n'
  [ "$ONLY" = noop ] || R[ipdel]+="$(timed bash "$WORK/ipdel.sh")"$'\n'
  del_namespaces
done

echo "W2: $PARENTS existing veth parents, $NS namespaces, $((NS * PER)) bridge macvlans, 1 IPv4 each; best of $ROUNDS round(s)"
machine
row apply   "mvtopo apply (from scratch)" ipbatch "ip -batch, made in their ns"
[ "$ONLY" = apply ] && exit 0
row noop    "mvtopo apply (no-op)"        ipbatch "(ip -batch apply)"
[ "$ONLY" = noop ] || row destroy "mvtopo destroy"              ipdel   "ip -batch group del + netns del"
