#!/usr/bin/env bash
# Desktop-app figures on the full demo data set (release build, under Xvfb):
# app start to an interactive dashboard, and a peer's change from arriving to showing
# on screen. Prints medians; a benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p branchline-app -p branchline-cli
BRANCHLINE_BIN_DIR="$PWD/target/release" node ui/e2e/bench.mjs "$@"
