#!/usr/bin/env bash
# Build the release desktop app and its Linux packages with the Tauri bundler:
# target/release/bundle/deb/*.deb (and an AppImage where the bundler's AppImage
# tools are available: it fetches them from the network, which a machine without
# internet access cannot do; pass BUNDLES=deb there).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUNDLES="${BUNDLES:-deb,appimage}"
(cd src-tauri && ../ui/node_modules/.bin/tauri build --ci --bundles "$BUNDLES")
ls -l target/release/bundle/*/ 2>/dev/null || true
