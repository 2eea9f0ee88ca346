#!/bin/bash
# The QEMU VM suite: boots Debian's cloud kernel with virtio NICs on a lab switch, runs mvtopo
# inside the guest against those NICs and judges the connectivity each case must give.
#
# Usage: vm-tests/run.sh [CASE...]        (as root; no argument = every case in cases.table)
# Environment:
#   VM_BREAK_MODES=1   swap the modes of every macvlan (bridge becomes vepa, every other mode
#                      bridge): a self-check, every case whose mode shows must then fail
#   VM_CASE_TIMEOUT=S  seconds a case may take before it is failed (default 150)
#   MVTOPO_BIN=PATH    use this static mvtopo instead of building one
#   VM_TABLE=FILE      the case table in vm-tests/ (default cases.table; oracle.table holds
#                      the iproute2-only proofs of the scenarios' expectations)
#   VM_QUIET_FAILURES=1  list what failed without dumping the guest's console
#
# Prepares everything itself on a fresh Debian machine: the packages it needs, the kernel
# (unpacked from its .deb into target/vm-cache, never installed), a static mvtopo build in
# target/vm-static, and one initramfs per case. Every kernel object it makes lives in network
# namespaces named vmt<pid>-*, which a trap removes (and qemu is killed) even on failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=$ROOT/target/vm-cache
LOGS=$ROOT/target/vm-logs
P=vmt$$
CASE_TIMEOUT=${VM_CASE_TIMEOUT:-150}
BREAK=${VM_BREAK_MODES:-0}
TABLE=${VM_TABLE:-cases.table}

log() { printf '%s\n' "$*" >&2; }
die() {
    log "vm-tests: $*"
    exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (it creates network namespaces and tap devices)"

# ---------------------------------------------------------------- packages
need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have qemu-system-x86_64 || need_pkgs+=(qemu-system-x86)
# The guest needs a static busybox: Debian's busybox-static puts it at /bin/busybox.
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
have cpio || need_pkgs+=(cpio)
have ip || need_pkgs+=(iproute2)
have ping || need_pkgs+=(iputils-ping)
have ldd || need_pkgs+=(libc-bin)
# The wire-* checks capture on the switch port facing the guest.
have tcpdump || need_pkgs+=(tcpdump)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "vm-tests: installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# ldd exits non-zero on a static binary; only its words matter here.
is_static() {
    local out
    out=$(ldd "$1" 2>&1 || true)
    grep -q -e 'not a dynamic' -e 'statically linked' <<<"$out"
}
BUSYBOX=/bin/busybox
is_static "$BUSYBOX" ||
    die "$BUSYBOX is not static (install busybox-static)"

# ---------------------------------------------------------------- kernel
# Debian's cloud kernel, taken from its package without installing it. The unpacked tree is
# kept, so a second run needs no network.
kernel_dir() { find "$CACHE/kernel" -mindepth 1 -maxdepth 1 -type d -name 'linux-image-*' 2>/dev/null | sort | tail -n 1 || true; }
KDIR=$(kernel_dir)
if [ -z "$KDIR" ] || [ ! -d "$KDIR/lib/modules" ]; then
    mkdir -p "$CACHE/kernel"
    pkg_of() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image/{print $2; exit}' || true; }
    pkg=$(pkg_of)
    if [ -z "$pkg" ]; then
        apt-get update -qq
        pkg=$(pkg_of)
    fi
    [ -n "$pkg" ] || die "cannot find the package behind linux-image-cloud-amd64"
    log "vm-tests: fetching $pkg"
    (cd "$CACHE/kernel" && apt-get download -o APT::Sandbox::User=root "$pkg" >/dev/null)
    deb=$(ls "$CACHE/kernel/${pkg}"_*.deb | head -n 1)
    rm -rf "$CACHE/kernel/$pkg.tmp"
    dpkg -x "$deb" "$CACHE/kernel/$pkg.tmp"
    mv "$CACHE/kernel/$pkg.tmp" "$CACHE/kernel/$pkg"
    rm -f "$deb"
    KDIR=$CACHE/kernel/$pkg
fi
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
KVER=$(ls "$KDIR/lib/modules" 2>/dev/null | head -n 1 || true)
MODDIR=$KDIR/lib/modules/$KVER
if [ ! -f "$VMLINUZ" ] || [ ! -d "$MODDIR" ]; then die "kernel tree $KDIR is incomplete"; fi

# The file of module NAME (dashes and underscores are the same to the kernel), or nothing.
mod_file() {
    local n=${1//-/_} alt=${1//_/-}
    find "$MODDIR/kernel" \( -name "$n.ko" -o -name "$n.ko.xz" -o -name "$n.ko.zst" -o -name "$n.ko.gz" \
        -o -name "$alt.ko" -o -name "$alt.ko.xz" -o -name "$alt.ko.zst" -o -name "$alt.ko.gz" \) | head -n 1
}
# Put module NAME, decompressed, into DIR as NAME.ko. Compressed modules are unpacked here on
# the host because busybox insmod cannot read them.
mod_extract() {
    local f=$1 out=$2
    case "$f" in
    *.ko.xz) xz -dc "$f" >"$out" ;;
    *.ko.zst) zstd -q -dc "$f" >"$out" ;;
    *.ko.gz) gzip -dc "$f" >"$out" ;;
    *) cp "$f" "$out" ;;
    esac
}
# Dependencies come from the module's own modinfo "depends=" (the .deb ships no modules.dep).
mod_deps() {
    local tmp=$1
    tr '\0' '\n' <"$tmp" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '
}
builtin_mod() { grep -q -E "/${1//_/[-_]}\.ko$" "$MODDIR/modules.builtin" 2>/dev/null; }
# resolve_modules DIR NAME...: writes DIR/NAME.ko for NAME and its dependencies, and prints
# the load order (dependencies first) on stdout.
declare -A MOD_SEEN
resolve_one() {
    local dir=$1 m=${2//-/_} f d
    [ -z "${MOD_SEEN[$m]:-}" ] || return 0
    MOD_SEEN[$m]=1
    if builtin_mod "$m"; then return 0; fi
    f=$(mod_file "$m")
    [ -n "$f" ] || die "kernel module $m not found in $MODDIR"
    mod_extract "$f" "$dir/$m.ko"
    for d in $(mod_deps "$dir/$m.ko"); do resolve_one "$dir" "$d"; done
    echo "$m"
}
resolve_modules() {
    local dir=$1 m
    shift
    MOD_SEEN=()
    for m in "$@"; do resolve_one "$dir" "$m"; done
}

# ---------------------------------------------------------------- mvtopo (static)
if [ -n "${MVTOPO_BIN:-}" ]; then
    MVTOPO=$MVTOPO_BIN
else
    have cargo || die "cargo not found (needed for the static mvtopo build)"
    log "vm-tests: building a static mvtopo (target/vm-static)"
    # Its own target dir, so the flags below do not invalidate the normal build.
    (cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target/vm-static" RUSTFLAGS='-C target-feature=+crt-static' \
        cargo build --quiet --locked --release --target x86_64-unknown-linux-gnu --bin mvtopo)
    MVTOPO=$ROOT/target/vm-static/x86_64-unknown-linux-gnu/release/mvtopo
fi
[ -x "$MVTOPO" ] || die "no mvtopo binary at $MVTOPO"
is_static "$MVTOPO" || die "$MVTOPO is not static"

# ---------------------------------------------------------------- lab and cleanup
mkdir -p "$ROOT/target"
WORK=$(mktemp -d "$ROOT/target/vm-run.XXXXXX")
QPID=""
WIRE_PIDS=()
cleanup() {
    local rc=$?
    if [ -n "$QPID" ]; then
        kill "$QPID" 2>/dev/null || true
        wait "$QPID" 2>/dev/null || true
    fi
    wire_stop
    # Only this run's names, by their files: `ip netns list` opens every entry of /run/netns,
    # and one that is not a namespace (another program's, such as a fifo) can block it.
    local n
    for n in /run/netns/"$P"-*; do
        [ -e "$n" ] || continue
        ip netns del "${n##*/}" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$rc"
}
# The captures of the wire-* checks: they live in the switch namespace, and deleting a
# namespace does not end the processes in it.
wire_stop() {
    local p
    for p in "${WIRE_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${WIRE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    WIRE_PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns() { ip netns exec "$P-$1" "${@:2}"; }
mkdir -p "$LOGS"

# The external switch: bridge br0 in $P-sw. The guest's NICs are taps made there in advance
# (qemu only opens them), so they exist before qemu and die with the namespace.
for n in sw ext ext2; do ip netns add "$P-$n"; done
ns sw ip link set lo up
ns sw ip link add br0 type bridge
ns sw ip link set br0 up
for t in 0 1; do
    ns sw ip tuntap add dev "vtap$t" mode tap
    ns sw ip link set "vtap$t" master br0 up
done
# Outside hosts with fixed MACs: source mode allows ext's only.
ns ext ip link add eth0 address 02:00:00:00:00:aa type veth peer name sw1 netns "$P-sw"
ns ext2 ip link add eth0 address 02:00:00:00:00:bb type veth peer name sw2 netns "$P-sw"
for i in 1 2; do ns sw ip link set "sw$i" master br0 up; done
ns ext ip addr add 10.9.0.100/24 dev eth0
# An untagged address in VLAN 10's subnet: it must not reach the guest's VLAN 10 macvlans.
ns ext ip addr add 10.10.0.101/24 dev eth0
ns ext2 ip addr add 10.9.0.101/24 dev eth0
# IPv6 for the ipv6-* cases; no duplicate address detection, so they are usable at once.
ns ext ip addr add fd09::100/64 dev eth0 nodad
ns ext2 ip addr add fd09::101/64 dev eth0 nodad
for n in ext ext2; do
    ns "$n" ip link set lo up
    ns "$n" ip link set eth0 up
done

# ---------------------------------------------------------------- initramfs
# Common part: busybox, mvtopo, iproute2's ip (with its libraries) for setup and diagnostics.
BASE=$WORK/base
mkdir -p "$BASE"/{bin,usr/local/sbin,usr/local/bin,lib,lib64,etc,case,proc,sys,dev,run,tmp,var}
cp "$BUSYBOX" "$BASE/bin/busybox"
cp "$MVTOPO" "$BASE/usr/local/bin/mvtopo"
IP=$(command -v ip)
cp "$IP" "$BASE/usr/local/sbin/ip"
for lib in $(ldd "$IP" | grep -o '/[^ ]*'); do
    mkdir -p "$BASE$(dirname "$lib")"
    cp -L "$lib" "$BASE$lib"
done
cp "$HERE/guest/init" "$BASE/init"
chmod 755 "$BASE/init"
(cd "$BASE" && find . | cpio -o -H newc -R 0:0 --quiet) >"$WORK/base.cpio"

# build_case NAME FILE MODULES SETUP CHECKS -> $WORK/NAME.img (base + the case's own archive)
build_case() {
    local name=$1 file=$2 mods=$3 setup=$4 checks=$5
    local d=$WORK/case-$name
    rm -rf "$d"
    mkdir -p "$d/case/kmod"
    # The virtio chain for the NICs, then what the case asks for.
    local want=(virtio_pci virtio_net)
    local extra=()
    if [ "$mods" != - ]; then IFS=, read -r -a extra <<<"$mods"; fi
    want+=("${extra[@]}")
    # dummy makes a dummy0 of its own when loaded: that would be a foreign object in the way
    # of a topology's own dummy0, so the guest loads it with none.
    resolve_modules "$d/case/kmod" "${want[@]}" | sed 's/^dummy$/dummy numdummies=0/' >"$d/case/modules"
    case "$file" in
    *.toml)
        echo toml >"$d/case/kind"
        if [ "$BREAK" = 1 ]; then
            # Self-check: bridge becomes vepa, every other mode bridge (source-macs is only
            # valid on source).
            sed -e 's/^mode = "bridge"/mode = "vepa"/' -e t -e 's/^mode = ".*"/mode = "bridge"/' -e '/^source-macs/d' \
                "$HERE/cases/$file" >"$d/case/topology.toml"
        else
            cp "$HERE/cases/$file" "$d/case/topology.toml"
        fi
        ;;
    *.sh)
        echo sh >"$d/case/kind"
        if [ "$BREAK" = 1 ]; then
            # The same self-check for the iproute2 cases (source mode loses its allow-list).
            sed -e 's/ mode bridge/ mode vepa/' -e t -e 's/ mode [a-z]*\( macaddr add [0-9a-f:]*\)\{0,1\}/ mode bridge/' \
                "$HERE/cases/$file" >"$d/case/setup.sh"
        else
            cp "$HERE/cases/$file" "$d/case/setup.sh"
        fi
        ;;
    *) die "case $name: unknown file kind $file" ;;
    esac
    echo "$setup" >"$d/case/setup"
    echo "$checks" | tr ' ' '\n' | { grep -v '^$' || true; } >"$d/case/checks"
    cp "$HERE/endpoints" "$d/case/endpoints"
    (cd "$d" && find case | cpio -o -H newc -R 0:0 --quiet) >"$WORK/$name.case.cpio"
    # The kernel unpacks concatenated newc archives in turn.
    cat "$WORK/base.cpio" "$WORK/$name.case.cpio" >"$WORK/$name.img"
}

# ---------------------------------------------------------------- one case
ep_field() { awk -v n="$1" -v f="$2" '$1 == n { print $f; exit }' "$HERE/endpoints"; }
now() { date +%s.%N; }

# host_ping NAME EXPECTED: "X->Y" from outside host X's namespace to Y's address; prints
# yes/no. Three tries for an expected "no", six for a "yes" (as the guest's ping_check).
host_ping() {
    local from=${1%%->*} to=${1#*->} addr i tries=3
    addr=$(ep_field "$to" 4)
    [ "$2" = yes ] && tries=6
    for i in $(seq 1 "$tries"); do
        if ns "$(ep_field "$from" 3)" ping -c 1 -W 2 "$addr" >/dev/null 2>&1; then
            echo yes
            return
        fi
    done
    echo no
}

# The wire-* checks: what macvlans a and b (their MACs and addresses: vm-tests/endpoints) send
# each other, seen on the switch port facing the guest's eth0, entering the switch (in: the
# guest sent it out of eth0) or leaving it towards the guest (out: the switch sent it back,
# hairpin). "Each other" is a unicast frame between their MACs, or one's ARP request or IPv6
# neighbour solicitation for the other's address (all a private macvlan ever sends for its
# sibling, whose answer never comes).
wire_start() {
    local dir i
    : >"$d/wire-in.log"
    : >"$d/wire-out.log"
    for dir in in out; do
        # ip netns exec execs tcpdump: $! is tcpdump itself, which the INT in wire_stop ends
        # (a subshell around it would wait for it first)
        ip netns exec "$P-sw" tcpdump -i vtap0 -Q "$dir" -nn -U -w "$d/wire-$dir.pcap" \
            "ether host $(ep_field a 5) or ether host $(ep_field b 5)" >"$d/wire-$dir.log" 2>&1 &
        WIRE_PIDS+=($!)
    done
    # Only once both listen may the guest start (under load tcpdump takes a while).
    for i in $(seq 1 150); do
        if grep -q 'listening on' "$d/wire-in.log" && grep -q 'listening on' "$d/wire-out.log"; then return 0; fi
        sleep 0.1
    done
    log "vm-tests: the captures on vtap0 did not start: $(cat "$d/wire-in.log" "$d/wire-out.log")"
}
# wire_result NAME DIR FILTER: "yes" when the DIR capture holds frames matching FILTER
wire_result() {
    local n
    n=$(tcpdump -r "$d/wire-$2.pcap" -nn "$3" 2>/dev/null | wc -l)
    echo "MVTOPO-RESULT name=$1 got=$([ "$n" -gt 0 ] && echo yes || echo no) frames=$n"
}
# The IPv6 solicited-node multicast group of an address whose 13th byte is 0, as the
# endpoints' (fd09::2 -> ff02::1:ff00:2).
solicited() { echo "ff02::1:ff00:${1##*:}"; }
# for_peer X Y: the frames X sends for Y
for_peer() {
    local mx my
    mx=$(ep_field "$1" 5)
    my=$(ep_field "$2" 5)
    echo "(ether src $mx and (ether dst $my or (arp and arp dst host $(ep_field "$2" 4))" \
        "or ip6 dst host $(solicited "$(ep_field "$2"6 4)")))"
}
wire_results() {
    local between
    between="$(for_peer a b) or $(for_peer b a)"
    [ -s "$d/wire-in.pcap" ] || return 0
    wire_result wire-in in "$between"
    wire_result wire-out out "$between"
    # a's frames to the outside host must show, or the capture saw nothing at all
    wire_result wire-live in "ether src $(ep_field a 5) and ether dst $(ep_field ext 5)"
}

# serve_asks: do what the guest asked for (console lines "MVTOPO-ASK WHAT") and not yet got,
# then answer "DONE WHAT" on the control port. link-off / link-on: QEMU's set_link on the
# guest's eth0 (netdev n0), through the monitor: the NIC loses or regains its carrier, as
# when a cable is pulled and plugged back.
serve_asks() {
    local asks n what
    asks=$(tr -d '\r' <"$CONSOLE" | { grep -a '^MVTOPO-ASK ' || true; })
    [ -n "$asks" ] || return 0
    n=$(printf '%s\n' "$asks" | wc -l)
    while [ "$SERVED" -lt "$n" ]; do
        SERVED=$((SERVED + 1))
        what=$(printf '%s\n' "$asks" | sed -n "${SERVED}p" | awk '{ print $2 }')
        case "$what" in
        link-off) echo "set_link n0 off" >&6 ;;
        link-on) echo "set_link n0 on" >&6 ;;
        *) log "vm-tests: the guest asked for $what, which the harness does not know" ;;
        esac
        echo "DONE $what" >&8
    done
}

# wait_for PATTERN DEADLINE: until the console shows PATTERN, qemu exits or time runs out
# (serving the guest's requests meanwhile)
wait_for() {
    local pat=$1 deadline=$2
    while :; do
        serve_asks
        if grep -q -a "$pat" "$CONSOLE" 2>/dev/null; then return 0; fi
        if ! kill -0 "$QPID" 2>/dev/null; then
            grep -q -a "$pat" "$CONSOLE" 2>/dev/null && return 0
            return 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then return 2; fi
        sleep 0.2
    done
}

PASSED=0
FAILED=0
FAILED_NAMES=()

run_case() {
    local name=$1 hairpin=$2 file=$3 mods=$4 setup=$5 checks=$6
    local d=$WORK/run-$name t_start deadline step why="" chk want got
    mkdir -p "$d"
    CONSOLE=$d/console.log
    : >"$CONSOLE"
    : >"$d/host.results"
    t_start=$(now)
    build_case "$name" "$file" "$mods" "$setup" "$checks"

    # Per-case switch state: hairpin on the guest's port; forget old neighbours and MACs
    # (passthru gives 10.9.0.1 a different MAC than the cases before it).
    ns sw ip link set vtap0 type bridge_slave hairpin "$hairpin"
    ns sw ip link set br0 type bridge fdb_flush
    for n in ext ext2; do ns "$n" ip neigh flush all; done

    case " $checks" in *' wire-'*) wire_start ;; esac
    mkfifo "$d/ctl.in" "$d/ctl.out" "$d/mon.in" "$d/mon.out"
    SERVED=0
    ip netns exec "$P-sw" qemu-system-x86_64 \
        -accel tcg -m 384 -smp 1 -nodefaults -display none -no-reboot \
        -kernel "$VMLINUZ" -initrd "$WORK/$name.img" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
        -serial "file:$CONSOLE" \
        -chardev "pipe,id=ctl,path=$d/ctl" -serial chardev:ctl \
        -chardev "pipe,id=mon,path=$d/mon" -mon chardev=mon,mode=readline \
        -netdev tap,id=n0,ifname=vtap0,script=no,downscript=no \
        -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:10,romfile= \
        -netdev tap,id=n1,ifname=vtap1,script=no,downscript=no \
        -device virtio-net-pci,netdev=n1,mac=52:54:00:00:00:11,romfile= \
        </dev/null >"$d/qemu.log" 2>&1 &
    QPID=$!
    # Keep the control fifo open read-write: never blocks, and qemu always has a reader.
    exec 9<>"$d/ctl.out"
    exec 8<>"$d/ctl.in"
    # The monitor likewise (its replies, a few lines, are never read).
    exec 7<>"$d/mon.out"
    exec 6<>"$d/mon.in"

    deadline=$(($(date +%s) + CASE_TIMEOUT))
    local rc=0
    wait_for '^MVTOPO-READY' "$deadline" || rc=$?
    if [ $rc -eq 0 ]; then
        # The guest is up and waits: the outside hosts ping inward now.
        for chk in $checks; do
            want=${chk%=*}
            case "$want" in
            *'->'*)
                if [ "$(ep_field "${want%%->*}" 2)" = host ]; then
                    echo "MVTOPO-RESULT name=$want got=$(host_ping "$want" "${chk##*=}")" >>"$d/host.results"
                fi
                ;;
            esac
        done
        # Tell the guest to go on; repeat in case a line was lost, until DONE or the deadline.
        while :; do
            echo GO >&8
            rc=0
            step=$(($(date +%s) + 10))
            [ "$step" -le "$deadline" ] || step=$deadline
            wait_for '^MVTOPO-DONE' "$step" || rc=$?
            [ $rc -eq 2 ] && [ "$(date +%s)" -lt "$deadline" ] && continue
            break
        done
        [ $rc -eq 0 ] || why="no MVTOPO-DONE ($([ $rc -eq 1 ] && echo "qemu exited" || echo "timeout ${CASE_TIMEOUT}s"))"
    else
        why="no MVTOPO-READY ($([ $rc -eq 1 ] && echo "qemu exited" || echo "timeout ${CASE_TIMEOUT}s"))"
    fi
    # The guest powers itself off after DONE; give it a moment, then make sure.
    local i
    for i in $(seq 1 25); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.2; done
    kill "$QPID" 2>/dev/null || true
    wait "$QPID" 2>/dev/null || true
    QPID=""
    exec 6>&- 7>&- 8>&- 9>&-
    if [ ${#WIRE_PIDS[@]} -gt 0 ]; then
        wire_stop
        wire_results >>"$d/host.results"
        cp "$d/host.results" "$LOGS/$name.host.log"
    fi

    # Judge: every expected check must have exactly the expected answer.
    local all_checks=$checks
    case "$file" in
    *.toml) all_checks="apply=yes in-sync=yes reapply=yes in-sync-again=yes $checks destroy=yes pending-after-destroy=yes clean=yes" ;;
    *.sh) all_checks="setup=yes $checks" ;;
    esac
    local results
    results=$(tr -d '\r' <"$CONSOLE" | { grep -a '^MVTOPO-RESULT ' || true; } | cat - "$d/host.results")
    local bad=()
    for chk in $all_checks; do
        want=${chk##*=}
        got=$(printf '%s\n' "$results" | awk -v n="name=${chk%=*}" '$2 == n { sub("got=", "", $3); print $3; exit }')
        if [ "$got" != "$want" ]; then bad+=("${chk%=*}: expected $want, got ${got:-nothing}"); fi
    done
    # Any failure the guest reported beyond the table (a module that would not load) counts too.
    while read -r line; do
        [ -n "$line" ] && bad+=("$line")
    done < <(printf '%s\n' "$results" | awk '$2 ~ /^name=insmod:/ { print $2 " " $3 }')
    [ -z "$why" ] || bad+=("$why")

    local secs
    secs=$(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    cp "$CONSOLE" "$LOGS/$name.console.log"
    if [ ${#bad[@]} -eq 0 ]; then
        PASSED=$((PASSED + 1))
        printf 'ok    %-18s %6s s  hairpin %-3s %s\n' "$name" "$secs" "$hairpin" "$file"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        printf 'FAIL  %-18s %6s s  hairpin %-3s %s\n' "$name" "$secs" "$hairpin" "$file"
        local b
        for b in "${bad[@]}"; do printf '      - %s\n' "$b"; done
        if [ "${VM_QUIET_FAILURES:-0}" != 1 ]; then
            printf '      guest console (%s):\n' "target/vm-logs/$name.console.log"
            tr -d '\r' <"$CONSOLE" | sed 's/^/      | /'
            if [ -s "$d/qemu.log" ]; then sed 's/^/      qemu: /' "$d/qemu.log"; fi
        fi
    fi
}

# ---------------------------------------------------------------- the table
selected=("$@")
wanted() {
    [ ${#selected[@]} -eq 0 ] && return 0
    local s
    for s in "${selected[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}
[ "$BREAK" = 1 ] && log "vm-tests: VM_BREAK_MODES=1: every macvlan's mode is swapped (bridge -> vepa, others -> bridge)"
log "vm-tests: kernel $KVER, lab namespaces $P-*"
suite_start=$(now)
ran=0
while read -r name hairpin file mods setup checks; do
    case "$name" in '' | '#'*) continue ;; esac
    wanted "$name" || continue
    ran=$((ran + 1))
    run_case "$name" "$hairpin" "$file" "$mods" "$setup" "$checks"
done <"$HERE/$TABLE"
[ $ran -gt 0 ] || die "no case matched: ${selected[*]}"

total=$(awk -v a="$suite_start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
echo "vm suite: ${total} s"
[ $FAILED -eq 0 ] || echo "failed: ${FAILED_NAMES[*]}"
echo "$PASSED passed, $FAILED failed"
[ $FAILED -eq 0 ]
