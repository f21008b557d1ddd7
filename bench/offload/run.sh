#!/usr/bin/env bash
# TC offload on versus off, for one established UDP flow, in the QEMU guest
# of scripts/tc-vm (a stock Debian kernel with cls_flower; TCG emulation, so
# absolute rates mean little and ratios do):
#
#   [ns HA: eth0] --veth-- pa [ns SW: oxvsd, br0, NORMAL] pb --veth-- [ns HB: eth0]
#
# Per trial: a fresh topology, oxvsd with pa/pb hw-offload=true ("on") or
# false ("off"), a warm-up that makes the flow established (and, when on,
# offloaded), then `oxvs-blast send` of PACKETS 64-byte frames HA -> HB as
# fast as it can while `oxvs-blast count` on HB counts them. Recorded: the
# frames HB received per second, and oxvsd's CPU (utime+stime of its
# process) over the send per million frames forwarded. Modes alternate,
# RUNS trials each; medians (min-max) are printed with their ratio.
#
# Usage: bench/offload/run.sh [-n RUNS] [-p PACKETS] [--no-build]
# On the host it builds the release binaries and re-runs itself in the
# guest (scripts/tc-vm/run.sh); it needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
RUNS=3
PACKETS=300000
BUILD=1
while [ $# -gt 0 ]; do
    case $1 in
    -n | --runs) RUNS=$2; shift 2 ;;
    -p | --packets) PACKETS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release

if [ "${OXVS_IN_VM:-}" != 1 ]; then
    if [ "$BUILD" = 1 ]; then
        (cd "$ROOT" && cargo build --release -q -p oxvs-cli -p oxvs-bench \
            --bin oxvsd --bin oxvsctl --bin oxvs-blast)
    fi
    exec "$ROOT/scripts/tc-vm/run.sh" "$ROOT/bench/offload/run.sh" \
        --runs "$RUNS" --packets "$PACKETS" --no-build
fi

for b in oxvsd oxvsctl oxvs-blast; do
    [ -x "$TARGET/$b" ] || { echo "$TARGET/$b missing" >&2; exit 1; }
done
modprobe tun 2>/dev/null || true
modprobe veth 2>/dev/null || true
TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d)
SW=oxb-sw HA=oxb-ha HB=oxb-hb
OUT=$WORK/results.json
: >"$OUT"

cleanup() {
    [ -f "$WORK/oxvsd.pid" ] && kill "$(cat "$WORK/oxvsd.pid")" 2>/dev/null || true
    for n in $SW $HA $HB; do ip netns del $n 2>/dev/null || true; done
}
trap 'cleanup; rm -rf "$WORK"' EXIT

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
ctl() { "$TARGET/oxvsctl" --rundir "$WORK/run" "$@"; }

trial() {
    local mode=$1 run=$2 hw pid c0 c1
    cleanup
    rm -rf "$WORK/run" "$WORK/oxvsd.pid"
    mkdir -p "$WORK/run"
    for n in $SW $HA $HB; do ip netns add $n; done
    ip -n $SW link add pa type veth peer name eth0 netns $HA
    ip -n $SW link add pb type veth peer name eth0 netns $HB
    ip -n $SW link set pa up
    ip -n $SW link set pb up
    ip -n $HA addr add 10.90.0.1/24 dev eth0
    ip -n $HB addr add 10.90.0.2/24 dev eth0
    for n in $HA $HB; do
        ip -n $n link set eth0 up
        ip netns exec $n ethtool -K eth0 tx off >/dev/null 2>&1 || true
    done
    ip netns exec $SW "$TARGET/oxvsd" --rundir "$WORK/run" --statedir "$WORK/run" \
        --detach --pidfile="$WORK/oxvsd.pid" >/dev/null 2>&1
    pid=$(cat "$WORK/oxvsd.pid")
    hw=$([ "$mode" = on ] && echo true || echo false)
    ctl add-br br0 >/dev/null
    ctl add-port br0 pa hw-offload=$hw >/dev/null
    ctl add-port br0 pb hw-offload=$hw >/dev/null
    # MAC learning in both directions, then the flow: established.
    ip netns exec $HA ping -c 3 -i 0.2 -q 10.90.0.2 >/dev/null
    local mac_b
    mac_b=$(ip -n $HB -br link show eth0 | awk '{print $3}')
    ip netns exec $HA "$TARGET/oxvs-blast" send --iface eth0 --packets 1000 --rate 2000 \
        --dst-mac "$mac_b" --src-ip 10.90.0.1 --dst-ip 10.90.0.99 >/dev/null
    sleep 1.5
    ip netns exec $HB "$TARGET/oxvs-blast" count --iface eth0 --duration 120 --idle 2 \
        >"$WORK/count.json" &
    local cpid=$!
    sleep 0.5
    c0=$(cpu_ticks "$pid")
    ip netns exec $HA "$TARGET/oxvs-blast" send --iface eth0 --packets "$PACKETS" \
        --duration 60 --dst-mac "$mac_b" --src-ip 10.90.0.1 --dst-ip 10.90.0.99 \
        >"$WORK/send.json"
    sleep 0.3
    c1=$(cpu_ticks "$pid")
    wait "$cpid"
    local show
    show=$(ctl offload/show)
    local in_tc
    in_tc=$(grep -c "dp:tc" <<<"$show" || true)
    python3 - "$mode" "$run" "$c0" "$c1" "$TCK" "$in_tc" "$WORK/send.json" "$WORK/count.json" >>"$OUT" <<'EOF'
import json, sys
mode, run, c0, c1, tck, in_tc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
send = json.load(open(sys.argv[7]))
count = json.load(open(sys.argv[8]))
got = count["packets"]
cpu = (c1 - c0) / tck
print(json.dumps({
    "mode": mode, "run": run, "sent": send["packets"], "received": got,
    "rx_pps": count["pps"], "oxvsd_cpu_s": cpu,
    "cpu_s_per_mpkt": cpu / (got / 1e6) if got else None,
    "flows_in_tc": in_tc,
}))
EOF
    tail -1 "$OUT" >&2
    kill "$pid" 2>/dev/null || true
    sleep 0.5
}

for run in $(seq 1 "$RUNS"); do
    trial on "$run"
    trial off "$run"
done

python3 - "$OUT" "$PACKETS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def col(mode, key):
    return [r[key] for r in rows if r["mode"] == mode and r[key] is not None]
def fmt(v):
    return f"{statistics.median(v):.4g} ({min(v):.4g}-{max(v):.4g})" if v else "n/a"
print(f"{len(rows)} trials, {sys.argv[2]} frames each, 64 B, 1 UDP flow, NORMAL")
print(f"{'':28}{'offload on':>32}{'offload off':>32}")
for key, name in [("rx_pps", "received frames/s"),
                  ("cpu_s_per_mpkt", "oxvsd CPU s per Mpkt"),
                  ("received", "frames received")]:
    print(f"{name:28}{fmt(col('on', key)):>32}{fmt(col('off', key)):>32}")
on, off = col("on", "cpu_s_per_mpkt"), col("off", "cpu_s_per_mpkt")
if on and off and statistics.median(off) > 0:
    print(f"CPU per packet, on/off: {statistics.median(on) / statistics.median(off):.3%}")
pon, poff = col("on", "rx_pps"), col("off", "rx_pps")
if pon and poff and statistics.median(poff) > 0:
    print(f"throughput, on/off: {statistics.median(pon) / statistics.median(poff):.2f}x")
EOF
