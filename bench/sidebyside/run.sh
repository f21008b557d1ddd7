#!/usr/bin/env bash
# Side by side: oxvs (oxvsd) and Open vSwitch (ovs-vswitchd, netdev
# datapath, type=system ports), plus the Linux bridge (ping, udp, tcp), in the same
# namespace topology:
#
#   [ns HA: eth0 10.77.0.1] --veth-- pa [ns SW: switch] pb --veth-- [ns HB: eth0 10.77.0.2]
#
# Every trial builds the topology afresh, starts one switch in SW pinned to
# SWITCH_CPU (taskset), runs the traffic tools pinned to TOOL_CPU, and tears
# it all down. Switches take turns (oxvs, ovs, bridge, oxvs, ...), RUNS
# trials each. Per trial:
#   ping   ping -c PINGS -i 0.01 HA -> HB (after warm-up pings): avg and p50 RTT
#   udp    oxvs-blast send (SIZE-byte UDP, UDP_FLOWS 5-tuples, as fast as it
#          can) HA -> HB, rule NORMAL; oxvs-blast count on HB gives the
#          forwarding rate; the switch's CPU (utime+stime of its process from
#          /proc/PID/stat) over the send, divided by the frames counted, gives
#          its CPU per forwarded packet
#   tcp    iperf3, 1 stream, DURATION s, host veth offloads off (or on,
#          with --host-offloads on: the hosts' TSO/GSO super-frames reach
#          the switch; oxvs segments them, Open vSwitch runs with
#          other_config:userspace-tso-enable=true)
#   flood  (oxvs, ovs) a rule that reads every 5-tuple field into registers
#          (see RULE_5TUPLE) so that both switches install one exact datapath
#          flow per 5-tuple; oxvs-blast sends distinct 5-tuples (each frame a
#          new flow) as fast as it can; frames counted on HB per second =
#          new flows set up and forwarded per second
#
# Usage: bench/sidebyside/run.sh [options]
#   -n, --runs N          trials per switch (default 3)
#   -d, --duration S      seconds per udp/tcp/flood test (default 10)
#   --switches "LIST"     subset of "oxvs oxvs-tc ovs bridge" (default
#                         "oxvs ovs bridge"; oxvs-tc is oxvs with
#                         hw-offload=true ports: needs a kernel with
#                         cls_flower, e.g. the guest of scripts/tc-vm)
#   --tests "LIST"        subset of "ping udp tcp flood" (default all four)
#   --udp-flows N         5-tuples in the udp test (default 64)
#   --size BYTES          frame size of the udp/flood tests (default 64)
#   --pings N             pings per trial (default 100)
#   --host-offloads on|off  hosts' veth tx checksum/TSO/GSO (default off)
#   --busy-poll           oxvsd with set-dp busy-poll=true (default false:
#                         both switches sleep in poll/epoll when idle)
#   --perf DIR            perf record -g the switch during udp and flood
#                         (perturbs the figures: for profiles only)
#   --out FILE            raw JSON lines (default /tmp/oxvs-sidebyside-DATE.json)
#   --no-build            use the binaries already in target/release
# Needs root, iproute2, ethtool, iperf3, ping, taskset, python3 and
# Debian's openvswitch-switch. Prints a table of medians (min-max) and the
# ratios against the issue's goals; the raw records go to --out and stdout.
set -euo pipefail

RUNS=3
DUR=10
SWITCHES="oxvs ovs bridge"
TESTS="ping udp tcp flood"
UDP_FLOWS=64
SIZE=64
PINGS=100
BUSY_POLL=false
HOST_OFFLOADS=off
PERF_DIR=""
OUT=""
BUILD=1
SWITCH_CPU=${SWITCH_CPU:-1}
TOOL_CPU=${TOOL_CPU:-0}
# More than the flood can send in any run: every frame is a new 5-tuple.
FLOOD_FLOWS=4000000000
FLOW_LIMIT=4000000
MAX_IDLE_MS=60000

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        -n|--runs) RUNS=${2:?}; shift 2 ;;
        -d|--duration) DUR=${2:?}; shift 2 ;;
        --switches) SWITCHES=${2:?}; shift 2 ;;
        --tests) TESTS=${2:?}; shift 2 ;;
        --udp-flows) UDP_FLOWS=${2:?}; shift 2 ;;
        --size) SIZE=${2:?}; shift 2 ;;
        --pings) PINGS=${2:?}; shift 2 ;;
        --busy-poll) BUSY_POLL=true; shift ;;
        --host-offloads) HOST_OFFLOADS=${2:?}; shift 2 ;;
        --perf) PERF_DIR=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ $DUR =~ ^[1-9][0-9]*$ ]] || die "--duration must be a positive whole number of seconds"
[[ $PINGS =~ ^[1-9][0-9]*$ ]] || die "--pings must be a positive integer"
for s in $SWITCHES; do case $s in oxvs|oxvs-tc|ovs|bridge) ;; *) die "unknown switch $s" ;; esac; done
[[ $HOST_OFFLOADS =~ ^(on|off)$ ]] || die "--host-offloads must be on or off"
for t in $TESTS; do case $t in ping|udp|tcp|flood) ;; *) die "unknown test $t" ;; esac; done
[ "$(id -u)" = 0 ] || die "needs root (namespaces, AF_PACKET)"
for tool in ip ethtool iperf3 ping taskset python3 ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl ovs-appctl; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install iproute2 ethtool iperf3 iputils-ping util-linux python3 openvswitch-switch)"
done
[ "$(nproc)" -gt "$SWITCH_CPU" ] && [ "$(nproc)" -gt "$TOOL_CPU" ] || die "needs CPUs $TOOL_CPU and $SWITCH_CPU"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
[ -f "$SCHEMA" ] || die "$SCHEMA missing (openvswitch-common)"
if [ "$BUILD" = 1 ]; then
    log "building release binaries"
    (cd "$ROOT" && cargo build --release -q -p oxvs-cli -p oxvs-bench --bin oxvsd --bin oxvsctl --bin oxvs-blast) ||
        die "cargo build failed"
fi
for b in oxvsd oxvsctl oxvs-blast; do [ -x "$TARGET/$b" ] || die "$TARGET/$b missing (drop --no-build)"; done
BLAST=$TARGET/oxvs-blast

STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=${OUT:-/tmp/oxvs-sidebyside-$STAMP.json}
PFX="sbs$$"
WORK=$(mktemp -d /tmp/oxvs-sidebyside.XXXXXX)
SW=$PFX-sw HA=$PFX-ha HB=$PFX-hb
HA_IP=10.77.0.1 HB_IP=10.77.0.2
# UDP test frames go to HB's MAC and an address HB does not own: HB's
# kernel drops them without answering (no ICMP back through the switch).
SINK_IP=10.77.0.99
# Reading each field into a register makes both switches unwildcard it:
# one exact datapath flow per (src, dst, proto, sport, dport).
RULE_5TUPLE='priority=100,in_port=1,udp,actions=move:NXM_OF_IP_SRC[]->NXM_NX_REG0[],move:NXM_OF_IP_DST[]->NXM_NX_REG1[],move:NXM_OF_UDP_SRC[]->NXM_NX_REG2[0..15],move:NXM_OF_UDP_DST[]->NXM_NX_REG2[16..31],output:2'

SWPID=""        # the switch process measured
STARTED=()      # every daemon pid this script started
BG=()           # traffic tools running in the background
CUR=""          # switch of the running trial

stop_pid() {
    local p=$1 i
    kill -0 "$p" 2>/dev/null || return 0
    kill "$p" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
}

stop_switch() {
    local p
    for p in "${STARTED[@]}"; do stop_pid "$p"; done
    STARTED=()
    SWPID=""
}

topo_down() {
    local n
    for n in "$SW" "$HA" "$HB"; do ip netns del "$n" 2>/dev/null || true; done
}

cleanup() {
    local rc=$? p
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_switch
    topo_down
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tools() { local ns=$1; shift; taskset -c "$TOOL_CPU" ip netns exec "$ns" "$@"; }
oxctl() { "$TARGET/oxvsctl" --rundir "$WORK/ox" "$@"; }
ovs() { OVS_RUNDIR=$WORK/ovs OVS_LOGDIR=$WORK/ovs OVS_DBDIR=$WORK/ovs "$@"; }
ofctl() {
    case $CUR in
        oxvs | oxvs-tc) OVS_RUNDIR=$WORK/ox ovs-ofctl "$@" ;;
        ovs) ovs ovs-ofctl "$@" ;;
    esac
}

# utime+stime of a process (all its threads), in clock ticks.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
TCK=$(getconf CLK_TCK)
mac_of() { ip -n "$1" -o link show "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
rx_packets() { ip netns exec "$1" cat /sys/class/net/eth0/statistics/rx_packets; }

topo_up() {
    local n
    topo_down
    for n in "$SW" "$HA" "$HB"; do
        ip netns add "$n"
        # No IPv6: no router solicitations or MLD reports in the counts.
        ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$n" link set lo up
    done
    ip -n "$SW" link add pa type veth peer name eth0 netns "$HA"
    ip -n "$SW" link add pb type veth peer name eth0 netns "$HB"
    ip -n "$SW" link set pa up
    ip -n "$SW" link set pb up
    ip -n "$HA" addr add $HA_IP/24 dev eth0
    ip -n "$HB" addr add $HB_IP/24 dev eth0
    for n in "$HA" "$HB"; do
        ip -n "$n" link set eth0 up
        # Host veth offloads: off means full checksums and no TSO/GSO
        # super-frames; on is a container's default.
        ip netns exec "$n" ethtool -K eth0 tx $HOST_OFFLOADS tso $HOST_OFFLOADS gso $HOST_OFFLOADS >/dev/null 2>&1
    done
    MAC_B=$(mac_of "$HB" eth0)
}

switch_up() {
    CUR=$1
    case $1 in
    oxvs | oxvs-tc)
        mkdir -p "$WORK/ox"
        rm -f "$WORK/ox/conf.json"
        ip netns exec "$SW" taskset -c "$SWITCH_CPU" "$TARGET/oxvsd" \
            --rundir "$WORK/ox" --statedir "$WORK/ox" --detach --pidfile
        SWPID=$(cat "$WORK/ox/oxvsd.pid")
        STARTED+=("$SWPID")
        oxctl add-br br0 >/dev/null
        local hw=false
        [ "$1" = oxvs-tc ] && hw=true
        oxctl add-port br0 pa ofport_request=1 hw-offload=$hw >/dev/null
        oxctl add-port br0 pb ofport_request=2 hw-offload=$hw >/dev/null
        oxctl set-dp flow-limit=$FLOW_LIMIT max-idle=$MAX_IDLE_MS busy-poll=$BUSY_POLL >/dev/null
        ;;
    ovs)
        local o=$WORK/ovs dbpid
        rm -rf "$o"
        mkdir -p "$o"
        ovs ovsdb-tool create "$o/conf.db" "$SCHEMA"
        # ovsdb-server is control plane only: it sits with the tools.
        ovs ip netns exec "$SW" taskset -c "$TOOL_CPU" ovsdb-server "$o/conf.db" \
            --remote="punix:$o/db.sock" --pidfile --detach --log-file 2>>"$o/stderr"
        dbpid=$(cat "$o/ovsdb-server.pid")
        STARTED+=("$dbpid")
        ovs ovs-vsctl --no-wait init
        if [ "$HOST_OFFLOADS" = on ]; then
            # Read once at start: set before ovs-vswitchd runs.
            ovs ovs-vsctl --no-wait set Open_vSwitch . other_config:userspace-tso-enable=true
        fi
        ovs ip netns exec "$SW" taskset -c "$SWITCH_CPU" ovs-vswitchd "unix:$o/db.sock" \
            --pidfile --detach --log-file 2>>"$o/stderr"
        SWPID=$(cat "$o/ovs-vswitchd.pid")
        STARTED=("$SWPID" "${STARTED[@]}")
        ovs ovs-vsctl set Open_vSwitch . \
            other_config:pmd-cpu-mask="$(printf '0x%x' $((1 << SWITCH_CPU)))" \
            other_config:flow-limit=$FLOW_LIMIT other_config:max-idle=$MAX_IDLE_MS
        ovs ovs-vsctl add-br br0 -- set bridge br0 datapath_type=netdev \
            -- add-port br0 pa -- set Interface pa type=system ofport_request=1 \
            -- add-port br0 pb -- set Interface pb type=system ofport_request=2
        ;;
    bridge)
        ip -n "$SW" link add br0 type bridge forward_delay 0
        ip -n "$SW" link set pa master br0
        ip -n "$SW" link set pb master br0
        ip -n "$SW" link set br0 up
        SWPID=""
        ;;
    esac
}

# Datapath flow count, flow limit, and upcalls that did not end in an
# installed flow: lost (oxvs: queue full) or executed without install
# (Open vSwitch: over its dynamic flow limit).
upcall_show() {
    case $CUR in
        oxvs | oxvs-tc) oxctl upcall/show ;;
        ovs) ovs ovs-appctl upcall/show ;;
    esac
}
dp_flows() { upcall_show | sed -n 's/.*(current \([0-9]*\)).*/\1/p' | head -1; }
dp_limit() { upcall_show | sed -n 's/.*(limit \([0-9]*\)).*/\1/p' | head -1; }
not_installed() {
    case $CUR in
        oxvs | oxvs-tc) oxctl upcall/show | sed -n 's/.*(lost \([0-9]*\)).*/\1/p' | head -1 ;;
        ovs) ovs ovs-appctl coverage/read-counter upcall_flow_limit_hit 2>/dev/null || echo null ;;
    esac
}

warm_ping() {
    local i
    for i in $(seq 10); do
        if tools "$HA" ping -c 2 -i 0.2 -W 1 -q $HB_IP >/dev/null 2>&1 &&
            tools "$HB" ping -c 2 -i 0.2 -W 1 -q $HA_IP >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    die "$CUR: no ping through the switch after 10 tries"
}

REC=""   # JSON fields of the running trial
add() { REC="$REC,\"$1\":$2"; }

start_perf() {
    PERF_PID=""
    [ -n "$PERF_DIR" ] && [ -n "$SWPID" ] || return 0
    mkdir -p "$PERF_DIR"
    taskset -c "$TOOL_CPU" perf record -q -g -p "$SWPID" -o "$PERF_DIR/$CUR-$1-run$RUN.data" \
        -- sleep "$DUR" >/dev/null 2>&1 &
    PERF_PID=$!
    BG+=("$PERF_PID")
}
stop_perf() { [ -z "${PERF_PID:-}" ] || wait "$PERF_PID" || true; PERF_PID=""; }

# Counter on HB, then sender on HA; the switch's CPU over the send.
# $1: test name, $2: flows; fills add() fields with prefix $1.
blast() {
    local t=$1 flows=$2 cpid c0 c1 cnt snd
    tools "$HB" "$BLAST" count --iface eth0 --duration $((DUR + 15)) --idle 1 >"$WORK/count.json" &
    cpid=$!
    BG=("$cpid")
    sleep 0.5
    start_perf "$t"
    [ -z "$SWPID" ] || c0=$(cpu_ticks "$SWPID")
    tools "$HA" "$BLAST" send --iface eth0 --flows "$flows" --size "$SIZE" --duration "$DUR" \
        --dst-mac "$MAC_B" --src-ip $HA_IP --dst-ip $SINK_IP >"$WORK/send.json"
    sleep 0.2   # the switch empties its socket buffers
    [ -z "$SWPID" ] || c1=$(cpu_ticks "$SWPID")
    wait "$cpid"
    BG=()
    stop_perf
    cnt=$(cat "$WORK/count.json")
    snd=$(cat "$WORK/send.json")
    add "${t}_send" "$snd"
    add "${t}_count" "$cnt"
    if [ -n "$SWPID" ]; then
        add "${t}_cpu_s" "$(python3 -c "print(($c1 - $c0) / $TCK)")"
    fi
}

ping_rtt() {
    local out
    out=$(tools "$HA" ping -c "$PINGS" -i 0.01 -W 1 $HB_IP) || true
    printf '%s\n' "$out" | python3 -c '
import sys, re, json, statistics
t = [float(m) for m in re.findall(r"time=([0-9.]+) ms", sys.stdin.read())]
print(json.dumps({"replies": len(t), "avg_ms": statistics.mean(t) if t else None,
                  "p50_ms": statistics.median(t) if t else None,
                  "min_ms": min(t) if t else None, "max_ms": max(t) if t else None}))'
}

test_ping() {
    add ping "$(ping_rtt)"
    # oxvs again with its poll thread spinning instead of sleeping in
    # epoll: how much of the RTT is wake-up latency.
    if [ "$CUR" = oxvs ] && [ "$BUSY_POLL" = false ]; then
        oxctl set-dp busy-poll=true >/dev/null
        sleep 0.2
        add ping_busy "$(ping_rtt)"
        oxctl set-dp busy-poll=false >/dev/null
    fi
}

test_udp() {
    # Learn HA's MAC and set up the flows before measuring.
    tools "$HA" "$BLAST" send --iface eth0 --flows "$UDP_FLOWS" --size "$SIZE" --duration 0.3 \
        --rate 20000 --dst-mac "$MAC_B" --src-ip $HA_IP --dst-ip $SINK_IP >/dev/null
    sleep 0.3
    blast udp "$UDP_FLOWS"
}

test_tcp() {
    local spid c0 c1 a0 b0 a1 b1
    tools "$HB" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
    spid=$!
    BG=("$spid")
    sleep 0.5
    a0=$(rx_packets "$HA"); b0=$(rx_packets "$HB")
    [ -z "$SWPID" ] || c0=$(cpu_ticks "$SWPID")
    tools "$HA" iperf3 -c $HB_IP -p 5201 -t "$DUR" -J >"$WORK/tcp.json" || true
    [ -z "$SWPID" ] || c1=$(cpu_ticks "$SWPID")
    a1=$(rx_packets "$HA"); b1=$(rx_packets "$HB")
    wait "$spid" || true
    BG=()
    add tcp "$(python3 -c '
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    e = j["end"]
    print(json.dumps({"gbps": e["sum_received"]["bits_per_second"] / 1e9,
                      "retransmits": e["sum_sent"].get("retransmits"),
                      "seconds": e["sum_received"]["seconds"]}))
except Exception as x:
    print(json.dumps({"error": str(x)}))' "$WORK/tcp.json")"
    add tcp_packets $(((a1 - a0) + (b1 - b0)))
    if [ -n "$SWPID" ]; then
        add tcp_cpu_s "$(python3 -c "print(($c1 - $c0) / $TCK)")"
    fi
}

test_flood() {
    [ "$CUR" != bridge ] || return 0
    ofctl add-flow br0 "$RULE_5TUPLE"
    add flood_flows_before "$(dp_flows)"
    add flood_not_installed_before "$(not_installed)"
    blast flood "$FLOOD_FLOWS"
    add flood_flows_after "$(dp_flows)"
    add flood_not_installed_after "$(not_installed)"
    add flood_flow_limit_after "$(dp_limit)"
}

trial() {
    local sw=$1 t
    CUR=$sw
    log "run $RUN/$RUNS: $sw"
    topo_up
    switch_up "$sw"
    warm_ping
    REC="{\"switch\":\"$sw\",\"run\":$RUN,\"duration\":$DUR,\"size\":$SIZE,\"udp_flows\":$UDP_FLOWS,\"busy_poll\":$BUSY_POLL,\"host_offloads\":\"$HOST_OFFLOADS\",\"load_before\":\"$(cut -d' ' -f1-3 /proc/loadavg)\""
    for t in $TESTS; do "test_$t"; done
    REC="$REC}"
    echo "$REC" >>"$OUT"
    stop_switch
    topo_down
}

: >"$OUT"
{
    echo "{\"meta\":{\"date\":\"$STAMP\",\"kernel\":\"$(uname -r)\",\"ovs\":\"$(ovs-vswitchd --version | head -1)\",\"oxvs_commit\":\"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo +dirty)\",\"runs\":$RUNS,\"duration\":$DUR,\"switch_cpu\":$SWITCH_CPU,\"tool_cpu\":$TOOL_CPU,\"nproc\":$(nproc)}}"
} >>"$OUT"
log "raw records: $OUT"
for RUN in $(seq "$RUNS"); do
    for sw in $SWITCHES; do trial "$sw"; done
done

python3 "$ROOT/bench/sidebyside/summarize.py" "$OUT"
echo
echo "raw records ($OUT):"
cat "$OUT"
