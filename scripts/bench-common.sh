# Shared by scripts/bench-w1.sh and scripts/bench-w2.sh (sourced, not run): timing one
# command, keeping the best of several rounds, and printing each mvtopo figure beside the
# iproute2 baseline measured in the same run. Needs WORK (a scratch directory) and the
# associative array R (label -> lines "wall_ms peak_rss_kib cpu_ms").

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
# timed CMD...: runs CMD under /usr/bin/time, prints "wall_ms peak_rss_kib cpu_ms" (user +
# system: on a shared machine the wall time also counts waiting for a core)
timed() {
  local t0 t1; t0=$(now)
  /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; return 1; }
  t1=$(now)
  echo "$(ms "$t0" "$t1") $(awk '{ printf "%d %d", $1, ($2 + $3) * 1000 }' "$WORK/rss")"
}
best() { sort -n | head -1; }
val() { printf '%s' "${R[$1]}" | best; }
# row KEY LABEL BASEKEY BASELABEL: the best round of KEY beside the best of BASEKEY, and
# their wall-time ratio.
row() {
  local v b; v=($(val "$1")); b=($(val "$3"))
  printf '%-28s %7s ms (cpu %6s) %7s KiB | %-31s %7s ms (cpu %6s) %7s KiB  %5s\n' \
    "$2" "${v[0]}" "${v[2]}" "${v[1]}" "$4" "${b[0]}" "${b[2]}" "${b[1]}" \
    "$(awk -v a="${v[0]}" -v b="${b[0]}" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')"
}
machine() {
  echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
}
