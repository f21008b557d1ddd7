#!/usr/bin/env bash
# Runs every test of the workspace on a fresh Debian 12 machine, installing
# first what the tests use (tcpdump reads back our pcap output, iproute2
# builds the network namespaces of the port tests, ovs-ofctl from
# openvswitch-common is the OpenFlow oracle). Needs root for the
# namespace and AF_PACKET tests; without root those tests skip themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
{ command -v ovs-ofctl && command -v ovs-vswitchd; } >/dev/null 2>&1 || need+=(openvswitch-switch)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
if ((${#need[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]}; run as root to install them" >&2
  fi
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

# The property tests draw the same cases on every run of this script, so
# that a red run is reproducible and a green one stays green; run
# `cargo nextest run` directly (or set another seed) to explore new cases.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261125}"

# nextest does not run doc tests; run them first so that nextest's summary
# is the last thing printed.
cargo test --workspace --doc --quiet
cargo nextest run --workspace --no-fail-fast "$@"

# Real tc flower: the host kernel has no cls_flower, so the offload tests
# run again inside a QEMU guest with Debian's stock kernel (scripts/tc-vm
# installs qemu and fetches the kernel on first use).
if [ "$(id -u)" -eq 0 ] && [ "${OXVS_SKIP_VM:-}" != 1 ]; then
  CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$PWD/scripts/tc-vm/cargo-runner.sh" \
    cargo test -p oxvs-tests --test offload
fi
