#!/usr/bin/env bash
# Cargo target runner that runs test binaries inside the tc-vm guest:
#
#   CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/scripts/tc-vm/cargo-runner.sh \
#     cargo test -p oxvs-datapath --test ports
#
# cargo calls it as `cargo-runner.sh BINARY ARGS...` in the package's
# directory. Listing runs (nextest's `BINARY --list ...`) stay on the host: a
# list needs no kernel feature and the guest would add seconds to each.
# Inside the guest (OXVS_IN_VM=1, e.g. cargo run through run.sh) and with
# OXVS_VM_RUNNER=host it runs the binary directly.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
[ $# -ge 1 ] || {
  echo "usage: cargo-runner.sh BINARY [ARGS...]" >&2
  exit 125
}

if [ "${OXVS_IN_VM:-}" = 1 ] || [ "${OXVS_VM_RUNNER:-}" = host ]; then
  exec "$@"
fi
for a in "${@:2}"; do
  [ "$a" = --list ] && exec "$@"
done

# Besides run.sh's CARGO_*/RUST_*/OXVS_*/PATH/HOME: what cargo and nextest
# set for test processes.
extra=$(compgen -e | grep -E '^(NEXTEST_|__NEXTEST_|LD_LIBRARY_PATH$)' | tr '\n' ' ' || true)
OXVS_VM_ENV="${OXVS_VM_ENV:-} $extra" exec "$here/run.sh" "$@"
