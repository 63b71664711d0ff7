#!/usr/bin/env bash
# Installs, builds, and runs every test: GoogleTest units and the lit suites
# (passes, plugin, fingerprint corpus, tools, CMake package, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
