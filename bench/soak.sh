#!/usr/bin/env bash
# The soak of test/e2e/live-soak.test at full length: 8 threads calling
# f() -> g(), both patched; 1000 strict apply/revert cycles, then 200
# applies SIGKILLed at random moments. Prints the apply wall time of the
# first and the last 100 cycles and the target's mappings before and after
# (re-applies take their old region: neither grows).
# Usage: bench/soak.sh [CYCLES] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
test -x build/bin/hp-apply || { echo "soak: build first (bash scripts/setup.sh)" >&2; exit 1; }
HP_SOAK_CYCLES=${1:-1000} HP_SOAK_KILLS=${2:-200} \
  python3 test/e2e/live-soak.test build clang-19 clang++-19
