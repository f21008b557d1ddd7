#!/usr/bin/env bash
# The datapath figures of bench/RESULTS.md: each scenario of the datapath
# issue run RUNS times (default 5) on one pinned core; prints min, median
# and max of the headline figure. Usage: bench/run-datapath.sh [RUNS] [CORE]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
core=${2:-1}
cargo build --release -q -p oxvs-bench
bin=target/release/oxvs-bench

scenario() { # name, jq-ish python expression over the JSON, args...
  local name=$1 expr=$2
  shift 2
  local vals=()
  for _ in $(seq "$runs"); do
    vals+=("$("$bin" replay --core "$core" --json "$@" | python3 -c "import json,sys; d=json.load(sys.stdin); print($expr)")")
  done
  printf '%s\n' "${vals[@]}" | python3 -c "
import sys, statistics
v = sorted(float(x) for x in sys.stdin)
print(f'%-44s median %10.3f  min %10.3f  max %10.3f' % ('$name', statistics.median(v), v[0], v[-1]))"
  echo "    oxvs-bench replay --core $core $*"
}

scenario "1 flow, 64 B, EMC hits (Mpps)" "d['mpps']" --flows 1 --packets 30000000 --size 64
scenario "10k flows, 8 masks, EMC off (Mpps)" "d['mpps']" --flows 10000 --packets 20000000 --profile masks --masks 8 --no-emc
scenario "1M 5-tuples via upcalls (M installs/s)" "d['upcalls_per_sec']/1e6" --flows 1000000 --packets 1000000 --profile five-tuple
scenario "bytes per megaflow (1M 5-tuple flows)" "d['bytes_per_megaflow']" --flows 1000000 --packets 1000000 --profile five-tuple --no-emc
