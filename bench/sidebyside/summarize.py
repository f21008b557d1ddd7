#!/usr/bin/env python3
"""Summarizes the JSON lines bench/sidebyside/run.sh writes: a table of
medians (min-max) per switch and the ratios against the issue's goals.

usage: summarize.py RESULTS.json
"""
import json
import statistics
import sys


def metrics(r):
    """Flat figures of one trial record (missing tests give None)."""
    m = {}

    def count(t):
        c = r.get(f"{t}_count")
        return None if c is None else c

    c = count("udp")
    if c:
        m["udp_pps"] = c["pps"]
        m["udp_sent_pps"] = r["udp_send"]["pps"]
        n = c["packets"] + c["ring_drops"]
        if "udp_cpu_s" in r and n:
            m["udp_cpu_ns"] = r["udp_cpu_s"] * 1e9 / n
            m["udp_cpu_pct"] = 100 * r["udp_cpu_s"] / max(r["udp_send"]["seconds"], 1e-9)
    t = r.get("tcp")
    if t and "gbps" in t:
        m["tcp_gbps"] = t["gbps"]
        m["tcp_retrans"] = t["retransmits"]
        if "tcp_cpu_s" in r:
            m["tcp_cpu_pct"] = 100 * r["tcp_cpu_s"] / max(t["seconds"], 1e-9)
            if r.get("tcp_packets"):
                m["tcp_cpu_ns"] = r["tcp_cpu_s"] * 1e9 / r["tcp_packets"]
    c = count("flood")
    if c:
        m["flood_fps"] = c["pps"]
        m["flood_sent_pps"] = r["flood_send"]["pps"]
        n = c["packets"] + c["ring_drops"]
        if "flood_cpu_s" in r and n:
            m["flood_cpu_ns"] = r["flood_cpu_s"] * 1e9 / n
        try:
            m["flood_installed"] = int(r["flood_flows_after"]) - int(r["flood_flows_before"])
        except (KeyError, TypeError, ValueError):
            pass
        try:
            m["flood_not_installed"] = (int(r["flood_not_installed_after"])
                                        - int(r["flood_not_installed_before"]))
        except (KeyError, TypeError, ValueError):
            pass
        if r.get("flood_flow_limit_after") is not None:
            m["flood_flow_limit"] = r["flood_flow_limit_after"]
    p = r.get("ping")
    if p and p.get("avg_ms") is not None:
        m["ping_avg_ms"] = p["avg_ms"]
        m["ping_p50_ms"] = p["p50_ms"]
        m["ping_replies"] = p["replies"]
    p = r.get("ping_busy")
    if p and p.get("avg_ms") is not None:
        m["ping_busy_avg_ms"] = p["avg_ms"]
        m["ping_busy_p50_ms"] = p["p50_ms"]
    return m


ROWS = [
    ("udp_pps", "UDP 64 B forwarded, pps", "{:,.0f}"),
    ("udp_sent_pps", "  offered by oxvs-blast, pps", "{:,.0f}"),
    ("udp_cpu_ns", "  switch CPU per forwarded packet, ns", "{:,.0f}"),
    ("udp_cpu_pct", "  switch CPU, % of a core", "{:.0f}"),
    ("tcp_gbps", "TCP 1 stream (offloads off), Gb/s", "{:.2f}"),
    ("tcp_retrans", "  retransmits", "{:.0f}"),
    ("tcp_cpu_ns", "  switch CPU per packet (both ways), ns", "{:,.0f}"),
    ("tcp_cpu_pct", "  switch CPU, % of a core", "{:.0f}"),
    ("flood_fps", "new 5-tuple flows forwarded per s", "{:,.0f}"),
    ("flood_sent_pps", "  offered by oxvs-blast, flows/s", "{:,.0f}"),
    ("flood_cpu_ns", "  switch CPU per new flow, ns", "{:,.0f}"),
    ("flood_installed", "  datapath flows installed", "{:,.0f}"),
    ("flood_not_installed", "  upcalls lost (oxvs) / run without install (OVS)", "{:,.0f}"),
    ("flood_flow_limit", "  flow limit at the end", "{:,.0f}"),
    ("ping_avg_ms", "ping RTT avg, ms", "{:.3f}"),
    ("ping_p50_ms", "ping RTT median, ms", "{:.3f}"),
    ("ping_busy_avg_ms", "ping RTT avg, oxvs busy-poll=true, ms", "{:.3f}"),
    ("ping_busy_p50_ms", "ping RTT median, oxvs busy-poll=true, ms", "{:.3f}"),
]


def fmt(vals, f):
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return f.format(med)
    return f"{f.format(med)} ({f.format(min(vals))} - {f.format(max(vals))})"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py RESULTS.json")
    meta, recs = {}, []
    with open(sys.argv[1]) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            j = json.loads(line)
            if "meta" in j:
                meta = j["meta"]
            else:
                recs.append(j)
    switches = [s for s in ("oxvs", "oxvs-tc", "ovs", "bridge") if any(r["switch"] == s for r in recs)]
    per = {s: {} for s in switches}
    for r in recs:
        for k, v in metrics(r).items():
            if v is not None:
                per[r["switch"]].setdefault(k, []).append(v)
    runs = {s: sum(1 for r in recs if r["switch"] == s) for s in switches}
    if meta:
        print(f"date {meta.get('date')}, kernel {meta.get('kernel')}, {meta.get('ovs')}, "
              f"oxvs {meta.get('oxvs_commit')}, {meta.get('duration')} s per test, "
              f"switch on CPU {meta.get('switch_cpu')}, tools on CPU {meta.get('tool_cpu')}")
    print("medians (min - max) over " + ", ".join(f"{s}: {runs[s]} runs" for s in switches))
    print()
    names = {"oxvs": "oxvs", "oxvs-tc": "oxvs, tc offload", "ovs": "Open vSwitch", "bridge": "Linux bridge"}
    head = ["metric"] + [names[s] for s in switches]
    rows = []
    for key, label, f in ROWS:
        if not any(per[s].get(key) for s in switches):
            continue
        rows.append([label] + [fmt(per[s].get(key, []), f) for s in switches])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()

    def med(s, k):
        v = per.get(s, {}).get(k)
        return statistics.median(v) if v else None

    goals = []

    def ratio(label, num, den, goal, better_high):
        if num is None or den is None or den == 0:
            return
        x = num / den
        ok = x >= goal if better_high else x <= goal
        rel = ">=" if better_high else "<="
        goals.append(f"| {label} | {x:.2f} | {rel} {goal:.3g} | {'met' if ok else 'MISSED'} |")

    ratio("UDP pps, oxvs / Open vSwitch", med("oxvs", "udp_pps"), med("ovs", "udp_pps"), 3, True)
    ratio("CPU per packet, oxvs / Open vSwitch", med("oxvs", "udp_cpu_ns"), med("ovs", "udp_cpu_ns"),
          1 / 3, False)
    ratio("new flows/s, oxvs / Open vSwitch", med("oxvs", "flood_fps"), med("ovs", "flood_fps"), 10, True)
    ratio("ping RTT avg, oxvs / Linux bridge", med("oxvs", "ping_avg_ms"), med("bridge", "ping_avg_ms"),
          1, False)
    ratio("ping RTT avg, oxvs busy-poll / Linux bridge", med("oxvs", "ping_busy_avg_ms"),
          med("bridge", "ping_avg_ms"), 1, False)
    ratio("UDP pps, oxvs tc offload / Open vSwitch", med("oxvs-tc", "udp_pps"), med("ovs", "udp_pps"), 3, True)
    ratio("CPU per packet, oxvs tc offload / Open vSwitch", med("oxvs-tc", "udp_cpu_ns"),
          med("ovs", "udp_cpu_ns"), 1 / 3, False)
    ratio("ping RTT avg, oxvs tc offload / Linux bridge", med("oxvs-tc", "ping_avg_ms"),
          med("bridge", "ping_avg_ms"), 1, False)
    ratio("TCP Gb/s, oxvs / Open vSwitch (no goal)", med("oxvs", "tcp_gbps"), med("ovs", "tcp_gbps"), 0, True)
    if goals:
        print("| goal | ratio of medians | target | |")
        print("|---|---|---|---|")
        print("\n".join(goals))


if __name__ == "__main__":
    main()
