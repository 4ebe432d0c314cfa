#!/usr/bin/env bash
# Install what Branchline needs to build and test on a Debian/Ubuntu machine, once:
# the system libraries the desktop app builds against (WebKitGTK and friends), the
# WebDriver and virtual display its end-to-end tests use, iproute2 for the network
# namespace tests, mksquashfs for the AppImage (and its runtime's tests), cargo-nextest, and the npm packages of the UI and the interop check.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  pkg-config build-essential
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev libsoup-3.0-dev
  webkit2gtk-driver xvfb xauth iproute2 squashfs-tools
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "Branchline needs these Debian packages: ${missing[*]}" >&2
    echo "install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "Branchline needs a Rust toolchain (cargo): https://rustup.rs" >&2; exit 1; }
command -v npm >/dev/null || { echo "Branchline needs Node.js 20+ and npm (the UI is built with npm)" >&2; exit 1; }
if [ "${1:-}" = "--test" ] && ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

# The UI: its packages come from package-lock.json, and the build lands in ui/dist,
# which the desktop app embeds at compile time.
npm ci --prefix ui --no-audit --no-fund --silent
npm run --prefix ui build --silent
if [ "${1:-}" = "--test" ]; then
  # The JavaScript automerge, to check that exported documents load there too.
  npm ci --prefix tests/js --no-audit --no-fund --silent
fi
