#!/usr/bin/env bash
# Build the release desktop app and its Linux packages, without the network:
# the .deb with the Tauri bundler (target/release/bundle/deb/), then the AppImage from
# the .deb's files with scripts/appimage.sh (target/release/bundle/appimage/).
# BUNDLES=deb builds the .deb alone.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUNDLES="${BUNDLES:-deb,appimage}"
# Tauri's own AppImage bundler downloads its tools from github.com: it only makes the .deb.
(cd src-tauri && ../ui/node_modules/.bin/tauri build --ci --bundles deb)
case ",$BUNDLES," in *,appimage,*) scripts/appimage.sh ;; esac
B="${CARGO_TARGET_DIR:-target}/release/bundle"
ls -l "$B"/deb/*.deb "$B"/appimage/*.AppImage 2>/dev/null || true
