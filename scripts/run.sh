#!/usr/bin/env bash
# Set up and run Branchline on this machine: install what it needs, build it, create
# the demo library system in ./branchline-data (once), and open the desktop app on it.
# Without a display, it shows a first look from the command line instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p branchline-cli -p branchline-app
export BRANCHLINE_DATA="${BRANCHLINE_DATA:-$PWD/branchline-data}"
bl() { ./target/release/branchline --data "$BRANCHLINE_DATA" "$@"; }
if [ ! -f "$BRANCHLINE_DATA/branchline.db" ]; then
  bl demo
fi
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "Opening Branchline on $BRANCHLINE_DATA"
  exec ./target/release/branchline-app
fi
echo "No display here: a first look from the command line (the app needs a desktop)."
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
echo "Explore further with: ./target/release/branchline --data $BRANCHLINE_DATA --help"
