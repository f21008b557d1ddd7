#!/usr/bin/env bash
# Smoke test of the tc-vm guest: real tc flower forwards ping between two
# network namespaces, and the actions later work needs load and are accepted.
# On the host it runs itself inside the guest (through run.sh); in the guest
# (OXVS_IN_VM=1) or on any host with a complete kernel it runs directly.
#
#   left (10.0.0.1) --veth-- mid --veth-- right (10.0.0.2)
#
# mid has no addresses and no bridge: clsact + flower + mirred redirect move
# the packets between its two veth ends. Exits 0 only if ping passes, the
# filter counters rose and every capability below is accepted.
set -euo pipefail

if [ "${OXVS_IN_VM:-}" != 1 ] && [ "${1:-}" != --here ]; then
  exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/smoke.sh" "$@"
fi

L=oxsm-left M=oxsm-mid R=oxsm-right
cleanup() { for n in $L $M $R; do ip netns del "$n" 2>/dev/null || true; done; }
trap cleanup EXIT
cleanup

fails=0
ok() { echo "ok:   $*"; }
bad() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

echo "kernel $(uname -r)"
for n in $L $M $R; do ip netns add "$n"; done
ip -n $L link add l0 type veth peer name lm netns $M
ip -n $R link add r0 type veth peer name rm netns $M
ip -n $L addr add 10.0.0.1/24 dev l0
ip -n $R addr add 10.0.0.2/24 dev r0
for n in $L $M $R; do ip -n "$n" link set lo up; done
ip -n $L link set l0 up
ip -n $R link set r0 up
ip -n $M link set lm up
ip -n $M link set rm up

tcm() { ip netns exec $M tc "$@"; }
tcm qdisc add dev lm clsact
tcm qdisc add dev rm clsact
# prio 1: IPv4 (the counted one); prio 2: ARP, so that the neighbours resolve.
for pair in "lm rm" "rm lm"; do
  set -- $pair
  tcm filter add dev "$1" ingress prio 1 protocol ip flower ip_proto icmp action mirred egress redirect dev "$2"
  tcm filter add dev "$1" ingress prio 2 protocol arp flower action mirred egress redirect dev "$2"
done

pkts() { tcm -s filter show dev "$1" ingress prio 1 | awk '/Sent [0-9]+ bytes [0-9]+ pkt/ { print $4; exit }'; }
before=$(pkts lm)
if ip netns exec $L ping -c 3 -i 0.2 -W 2 10.0.0.2 >/tmp/oxsm-ping 2>&1; then
  ok "ping left -> right through flower + mirred ($(grep -o '[0-9]* received' /tmp/oxsm-ping))"
else
  cat /tmp/oxsm-ping
  bad "ping left -> right through flower + mirred"
fi
after=$(pkts lm)
echo "flower counters (mid, lm ingress):"
tcm -s filter show dev lm ingress | sed 's/^/    /'
if [ -n "$before" ] && [ -n "$after" ] && [ "$after" -ge $((before + 3)) ]; then
  ok "flower filter counters rose ($before -> $after packets)"
else
  bad "flower filter counters did not rise (${before:-?} -> ${after:-?} packets)"
fi
if tcm filter show dev lm ingress prio 1 | grep -q not_in_hw; then
  ok "filters report not_in_hw (veth offloads nothing)"
else
  bad "filters do not report not_in_hw"
fi

# Each capability: add a filter on a spare device, then delete it.
ip -n $M link add cap0 type dummy
ip -n $M link set cap0 up
tcm qdisc add dev cap0 clsact
cap() {
  local what=$1 err
  shift
  if err=$(tcm filter add dev cap0 ingress prio 10 "$@" 2>&1); then
    if tcm filter del dev cap0 ingress prio 10 2>/dev/null; then
      ok "$what"
    else
      bad "$what: added but cannot be deleted"
    fi
  else
    bad "$what: $(echo "$err" | tr '\n' ' ')"
  fi
}
cap "flower + vlan pop" protocol 802.1q flower vlan_id 10 action vlan pop
cap "flower + vlan push" protocol ip flower action vlan push id 10
cap "flower + pedit ip dst + csum" protocol ip flower action pedit ex munge ip dst set 10.0.0.9 pipe action csum ip
cap "flower + gact drop" protocol ip flower action drop
cap "flower + goto chain" protocol ip flower action goto chain 1
cap "flower + tunnel_key unset" protocol ip flower action tunnel_key unset
cap "flower + tunnel_key set" protocol ip flower action tunnel_key set id 42 src_ip 10.0.0.1 dst_ip 10.0.0.2 dst_port 6081
cap "flower + ct" protocol ip flower action ct
cap "flower ct_state match + ct commit" protocol ip chain 0 flower ct_state +trk+new action ct commit
cap "flower + police" protocol ip flower action police rate 1mbit burst 10k
cap "matchall" matchall action drop

if err=$(tcm filter add dev lm ingress prio 20 protocol ip flower skip_sw action drop 2>&1); then
  tcm filter del dev lm ingress prio 20 2>/dev/null || true
  bad "skip_sw on veth was accepted"
elif grep -qi 'not supported' <<<"$err"; then
  ok "skip_sw on veth refused: $(echo "$err" | tr '\n' ' ' | sed 's/ *$//')"
else
  bad "skip_sw on veth refused with an unexpected error: $err"
fi

echo "autoloaded modules: $(awk '$1 ~ /^(cls_|act_|sch_|nf_conntrack$|nf_flow)/ { print $1 }' /proc/modules | sort | tr '\n' ' ')"
if ((fails)); then
  echo "smoke: $fails failure(s)"
  exit 1
fi
echo "smoke: all ok"
