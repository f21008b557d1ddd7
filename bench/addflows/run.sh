#!/usr/bin/env bash
# OpenFlow issue benchmark: `ovs-ofctl add-flows` of 100k flows from one
# file, oxvs beside Open vSwitch on this machine, same file.
#
#   bench/addflows/run.sh [RUNS] [FLOWS]        (defaults: 3 runs, 100000 flows)
#
# Needs root, iproute2 and openvswitch-switch (ovsdb-server, ovs-vswitchd,
# ovs-vsctl, ovs-ofctl) and a release oxvsd (default target/release/oxvsd
# and oxvsctl; OXVSD=... OXVSCTL=... to use others):
#   cargo build --release -p oxvs-cli
#
# Each switch runs in its own network namespace with bridge br0 and two
# veth ports (OpenFlow ports 1 and 2; Open vSwitch with datapath_type=netdev
# and private run/db/log directories). Runs alternate between the switches
# (the order flips each run); before each run the bridge's flows are
# deleted. Timed: `ovs-ofctl -O OpenFlow13 add-flows br0 FILE` (ovs-ofctl
# waits for the barrier reply, so the flows are installed when it returns)
# and then `ovs-ofctl -O OpenFlow13 dump-flows br0 >FILE` of the 100k.
# Note: ovs-ofctl 3.1 sends each flow mod followed by a barrier request and
# waits for the reply, so add-flows is 100k round trips over the unix
# socket, not a pipelined stream.
# The flow count is checked after each add. `--bundle add-flows` is timed
# too when oxvs accepts bundles (a probe decides).
#
# Besides wall-clock time, each run records the CPU time the switch daemon
# spent (utime+stime of ovs-vswitchd / oxvsd from /proc, all threads) and
# the CPU time of ovs-ofctl itself (it parses the 100k flows: the same work
# for both switches), which tell more than wall time on a shared machine.
#
# PERF_DIR=DIR: afterwards, profile oxvsd (perf record -g) during one more
# add-flows and one dump-flows and write DIR/perf-add.txt, DIR/perf-dump.txt.
#
# Prints one line per run and a summary table (median, min-max, ratio).
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${1:-3}
NFLOWS=${2:-100000}
OXVSD=${OXVSD:-$PWD/target/release/oxvsd}
OXVSCTL=${OXVSCTL:-$PWD/target/release/oxvsctl}

die() { echo "run.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
for t in ip ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl; do
  command -v "$t" >/dev/null 2>&1 || die "$t missing (apt-get install openvswitch-switch iproute2)"
done
[ -x "$OXVSD" ] && [ -x "$OXVSCTL" ] || die "no $OXVSD / $OXVSCTL (cargo build --release -p oxvs-cli)"

TMP=$(mktemp -d /tmp/oxvs-addflows.XXXXXX)
NS_OVS=oxaf$$-ovs
NS_OX=oxaf$$-ox
OVSDIR=$TMP/ovs
OXRUN=$TMP/oxrun
OXSTATE=$TMP/oxstate

cleanup() {
  set +e
  for p in "$OVSDIR/ovs-vswitchd.pid" "$OVSDIR/ovsdb-server.pid" "$OXRUN/oxvsd.pid"; do
    [ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null
  done
  sleep 0.5
  for p in "$OVSDIR/ovs-vswitchd.pid" "$OVSDIR/ovsdb-server.pid" "$OXRUN/oxvsd.pid"; do
    [ -s "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null
  done
  ip netns del "$NS_OVS" 2>/dev/null
  ip netns del "$NS_OX" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

ports() { # NS: veths p1-h1, p2-h2, IPv6 off (no stray traffic)
  ip netns add "$1"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$1" link set lo up
  for i in 1 2; do
    ip -n "$1" link add p$i type veth peer name h$i
    ip -n "$1" link set p$i up
    ip -n "$1" link set h$i up
  done
}
ports "$NS_OVS"
ports "$NS_OX"

# Open vSwitch, private.
mkdir -p "$OVSDIR" "$OXRUN" "$OXSTATE"
export OVS_RUNDIR=$OVSDIR OVS_LOGDIR=$OVSDIR OVS_DBDIR=$OVSDIR
ovsdb-tool create "$OVSDIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ip netns exec "$NS_OVS" ovsdb-server "$OVSDIR/conf.db" --remote=punix:"$OVSDIR/db.sock" \
  --unixctl="$OVSDIR/ovsdb-server.ctl" --pidfile="$OVSDIR/ovsdb-server.pid" \
  --log-file="$OVSDIR/ovsdb-server.log" --detach --no-chdir 2>"$TMP/ovsdb-server.err" ||
  die "ovsdb-server: $(cat "$TMP/ovsdb-server.err")"
VSCTL=(ovs-vsctl --db=unix:"$OVSDIR/db.sock" --timeout=60)
"${VSCTL[@]}" --no-wait init
ip netns exec "$NS_OVS" ovs-vswitchd unix:"$OVSDIR/db.sock" --unixctl="$OVSDIR/ovs-vswitchd.ctl" \
  --pidfile="$OVSDIR/ovs-vswitchd.pid" --log-file="$OVSDIR/ovs-vswitchd.log" --detach --no-chdir \
  2>"$TMP/ovs-vswitchd.err" || die "ovs-vswitchd: $(cat "$TMP/ovs-vswitchd.err")"
"${VSCTL[@]}" add-br br0 -- set bridge br0 datapath_type=netdev \
  -- add-port br0 p1 -- set interface p1 ofport_request=1 \
  -- add-port br0 p2 -- set interface p2 ofport_request=2
unset OVS_RUNDIR OVS_LOGDIR OVS_DBDIR

# oxvsd.
ip netns exec "$NS_OX" "$OXVSD" --rundir "$OXRUN" --statedir "$OXSTATE" --detach --pidfile --log warn
"$OXVSCTL" --rundir "$OXRUN" add-br br0
"$OXVSCTL" --rundir "$OXRUN" add-port br0 p1 ofport_request=1
"$OXVSCTL" --rundir "$OXRUN" add-port br0 p2 ofport_request=2

rundir_of() { case $1 in ovs) echo "$OVSDIR" ;; oxvs) echo "$OXRUN" ;; esac; }
pid_of() { case $1 in ovs) cat "$OVSDIR/ovs-vswitchd.pid" ;; oxvs) cat "$OXRUN/oxvsd.pid" ;; esac; }
TCK=$(getconf CLK_TCK)
cpu_of() { awk -v t="$TCK" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$(pid_of "$1")/stat"; }
ofctl() { local sw=$1; shift; OVS_RUNDIR=$(rundir_of "$sw") ovs-ofctl -O OpenFlow13 --timeout=600 "$@"; }
now() { date +%s.%N; }

# The flow file: NFLOWS distinct 5-tuple-ish matches (TCP or UDP, source
# and destination address and port), 1000 priorities, output to port 1 or 2.
FLOWS=$TMP/flows.txt
awk -v n="$NFLOWS" 'BEGIN {
  for (i = 0; i < n; i++) {
    proto = (i % 3 == 0) ? "udp" : "tcp";
    src = sprintf("10.%d.%d.%d", int(i / 65536) % 256, int(i / 256) % 256, i % 256);
    dst = sprintf("192.168.%d.%d", int(i / 7) % 256, (i * 13) % 254 + 1);
    printf "priority=%d,%s,nw_src=%s,nw_dst=%s,tp_src=%d,tp_dst=%d,actions=output:%d\n",
      100 + i % 1000, proto, src, dst, 1024 + (i * 31) % 60000, 1 + (i * 7) % 65535, 1 + i % 2;
  }
}' >"$FLOWS"
echo "flow file: $NFLOWS flows, $(wc -c <"$FLOWS") bytes; e.g. $(head -1 "$FLOWS")"

# Does oxvs take bundles?
BUNDLE=no
head -3 "$FLOWS" >"$TMP/probe.txt"
if ofctl oxvs --bundle add-flows br0 "$TMP/probe.txt" >"$TMP/probe.out" 2>&1; then
  BUNDLE=yes
else
  echo "oxvs refuses --bundle add-flows: $(head -1 "$TMP/probe.out")"
fi
ofctl oxvs del-flows br0

declare -A T
count() { ofctl "$1" dump-aggregate br0 | sed -n 's/.*flow_count=\([0-9]*\).*/\1/p'; }
one() { # SWITCH MODE RUN
  local sw=$1 mode=$2 run=$3 t0 t1 t2 t3 c0 c1 c2 c3 n lines extra=()
  [ "$mode" = bundle ] && extra=(--bundle)
  ofctl "$sw" del-flows br0
  [ "$(count "$sw")" = 0 ] || die "$sw: flows left after del-flows"
  sleep 1 # let the switch settle (revalidation after the delete)
  c0=$(cpu_of "$sw")
  t0=$(now)
  /usr/bin/time -f "%U %S" -o "$TMP/client.cpu" \
    env OVS_RUNDIR="$(rundir_of "$sw")" ovs-ofctl -O OpenFlow13 --timeout=600 "${extra[@]}" add-flows br0 "$FLOWS"
  t1=$(now)
  c1=$(cpu_of "$sw")
  n=$(count "$sw")
  [ "$n" = "$NFLOWS" ] || die "$sw: $n flows after add-flows, expected $NFLOWS"
  c2=$(cpu_of "$sw")
  t2=$(now)
  ofctl "$sw" dump-flows br0 >"$TMP/dump.txt"
  t3=$(now)
  c3=$(cpu_of "$sw")
  lines=$(grep -c 'actions=' "$TMP/dump.txt")
  [ "$lines" = "$NFLOWS" ] || die "$sw: dump-flows printed $lines flows"
  T[$sw,$mode,add,$run]=$(echo "$t1 - $t0" | bc -l)
  T[$sw,$mode,dump,$run]=$(echo "$t3 - $t2" | bc -l)
  T[$sw,$mode,swcpu,$run]=$(echo "$c1 - $c0" | bc -l)
  T[$sw,$mode,clcpu,$run]=$(awk '{ print $1 + $2 }' "$TMP/client.cpu")
  T[$sw,$mode,dumpcpu,$run]=$(echo "$c3 - $c2" | bc -l)
  printf '%-5s %-6s run %d: add-flows %7.3f s (%6.0f flows/s; switch CPU %6.2f s, ovs-ofctl CPU %5.2f s), dump-flows %6.3f s (switch CPU %5.2f s)\n' \
    "$sw" "$mode" "$run" "${T[$sw,$mode,add,$run]}" "$(echo "$NFLOWS / ${T[$sw,$mode,add,$run]}" | bc -l)" \
    "${T[$sw,$mode,swcpu,$run]}" "${T[$sw,$mode,clcpu,$run]}" "${T[$sw,$mode,dump,$run]}" "${T[$sw,$mode,dumpcpu,$run]}"
}

MODES=(plain)
[ "$BUNDLE" = yes ] && MODES+=(bundle)
for mode in "${MODES[@]}"; do
  for run in $(seq 1 "$RUNS"); do
    if ((run % 2)); then order=(ovs oxvs); else order=(oxvs ovs); fi
    for sw in "${order[@]}"; do one "$sw" "$mode" "$run"; done
  done
done

stats() { # prints "median min max" of the values given
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
    printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}
echo
echo "| operation | Open vSwitch 3.1: median (min-max) | oxvs: median (min-max) | oxvs / OVS |"
echo "| --- | --- | --- | --- |"
for mode in "${MODES[@]}"; do
  for op in add swcpu clcpu dump dumpcpu; do
    med=()
    line=""
    for sw in ovs oxvs; do
      vals=()
      for run in $(seq 1 "$RUNS"); do vals+=("${T[$sw,$mode,$op,$run]}"); done
      read -r m lo hi < <(stats "${vals[@]}")
      med+=("$m")
      line+=" $m s ($lo-$hi) |"
    done
    case $op in
      add) name="add-flows $NFLOWS, wall" ;;
      swcpu) name="add-flows $NFLOWS, switch CPU" ;;
      clcpu) name="add-flows $NFLOWS, ovs-ofctl CPU" ;;
      dump) name="dump-flows $NFLOWS, wall" ;;
      dumpcpu) name="dump-flows $NFLOWS, switch CPU" ;;
    esac
    [ "$mode" = bundle ] && name="--bundle $name"
    printf '| %s |%s %s |\n' "$name" "$line" "$(echo "${med[1]} ${med[0]}" | awk '{ printf ($2 > 0) ? "%.2f" : "-", $1 / ($2 > 0 ? $2 : 1) }')"
  done
done

if [ -n "${PERF_DIR:-}" ]; then
  command -v perf >/dev/null 2>&1 || die "PERF_DIR set but perf is missing"
  mkdir -p "$PERF_DIR"
  pid=$(pid_of oxvs)
  ofctl oxvs del-flows br0
  sleep 1
  perf record -q -g -p "$pid" -o "$TMP/perf-add.data" &
  perf_pid=$!
  sleep 0.5
  ofctl oxvs add-flows br0 "$FLOWS"
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  perf record -q -g -p "$pid" -o "$TMP/perf-dump.data" &
  perf_pid=$!
  sleep 0.5
  ofctl oxvs dump-flows br0 >/dev/null
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  for w in add dump; do
    perf report -i "$TMP/perf-$w.data" --stdio --no-children --percent-limit 1.5 -g none \
      --sort comm,dso,symbol 2>/dev/null >"$PERF_DIR/perf-$w.txt" || true
    perf report -i "$TMP/perf-$w.data" --stdio --children --percent-limit 5 -g caller,0.5,callee \
      --sort symbol 2>/dev/null >"$PERF_DIR/perf-$w-children.txt" || true
  done
  echo "perf reports in $PERF_DIR"
fi
