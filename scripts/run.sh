#!/usr/bin/env bash
# Set up and run Branchline on this machine: build it, create the demo library
# system in ./branchline-data (once), and show a first look at it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "Branchline needs a Rust toolchain (cargo): https://rustup.rs" >&2; exit 1; }
cargo build --release -p branchline-cli
bl() { ./target/release/branchline --data "${BRANCHLINE_DATA:-./branchline-data}" "$@"; }
if [ ! -f "${BRANCHLINE_DATA:-./branchline-data}/branchline.db" ]; then
  bl demo
fi
echo; bl status
echo; echo "== Public PCs at the Central Library (first 10) =="
bl asset list --branch CEN --where category=public-pc --limit 10
echo; echo "== Open tickets (first 10) =="
bl ticket list --where status=assigned --limit 10
echo; echo "== Supplies below reorder level =="
bl stock levels --below-reorder
echo; echo "== Conflicts to settle =="
bl conflicts
echo
echo "Explore further with: ./target/release/branchline --data ${BRANCHLINE_DATA:-./branchline-data} --help"
