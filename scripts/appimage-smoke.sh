#!/usr/bin/env bash
# Smoke test of the AppImage (slow: ~10 s; not part of scripts/test.sh):
#   scripts/appimage-smoke.sh [APPIMAGE]
# Starts the AppImage as a user would, under a virtual display, on an empty data
# directory and an empty cache, listening on loopback only, and checks that its window
# appears and that WebKit's helper processes run from the extracted AppImage. As root,
# it runs the app in a private mount namespace where the host's copies of every library
# the AppImage bundles (WebKitGTK, JavaScriptCore, GTK, ...) and WebKitGTK's helper
# directory are hidden behind empty files: what a machine without WebKitGTK sees.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' src-tauri/tauri.conf.json | head -n1)"
APPIMAGE="$(realpath "${1:-target/release/bundle/appimage/Branchline_${VERSION}_amd64.AppImage}")"
for tool in Xvfb xwininfo; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install xvfb x11-utils)" >&2; exit 1; }
done

WORK="$(mktemp -d)"
XPID="" APID=""
stop() {
  local rc=$?
  local pid
  for pid in $APID $XPID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # The extracted copy keeps its directories writable by their owner: removable.
  rm -rf "$WORK"
  exit "$rc"
}
trap stop EXIT

# The libraries the AppImage bundles, by name.
(cd "$WORK" && "$APPIMAGE" --appimage-extract >/dev/null 2>&1)
mapfile -t BUNDLED < <(cd "$WORK/squashfs-root/usr/lib/x86_64-linux-gnu" && ls -- *.so*)
rm -rf "$WORK/squashfs-root"

for n in $(seq 150 250); do
  [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || break
done
Xvfb ":$n" -screen 0 1366x768x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
XPID=$!
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
export DISPLAY=":$n"

mkdir -p "$WORK/data" "$WORK/cache" "$WORK/empty"
run=(env XDG_CACHE_HOME="$WORK/cache" BRANCHLINE_DATA="$WORK/data" BRANCHLINE_LISTEN=127.0.0.1:0
  BRANCHLINE_MDNS=off NO_AT_BRIDGE=1 "$APPIMAGE")
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v python3 >/dev/null; then
  # What to cover, then one process that covers it and execs the app: `mount` itself
  # links libraries that get hidden, so the bind mounts are made by mount(2) directly.
  {
    echo "$WORK/empty /usr/lib/x86_64-linux-gnu/webkit2gtk-4.1"
    for lib in "${BUNDLED[@]}"; do
      for dir in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu; do
        if [ -e "$dir/$lib" ]; then echo "/dev/null $(readlink -f "$dir/$lib")"; fi
      done
    done | sort -u
  } >"$WORK/hide.list"
  cat >"$WORK/hide.py" <<'EOF'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
MS_BIND = 4096
for line in open(sys.argv[1]):
    src, dst = line.split()
    if libc.mount(src.encode(), dst.encode(), None, MS_BIND, None) != 0:
        sys.exit(f"cannot hide {dst}: {os.strerror(ctypes.get_errno())}")
os.execvp(sys.argv[2], sys.argv[2:])
EOF
  echo "hiding the host's WebKitGTK helpers and $(($(wc -l <"$WORK/hide.list") - 1)) libraries"
  # Without --fork, unshare, python and the AppImage runtime each exec the next: $! is the app.
  unshare --mount --propagation private python3 "$WORK/hide.py" "$WORK/hide.list" "${run[@]}" >"$WORK/app.log" 2>&1 &
else
  echo "not root: running without hiding the host's libraries"
  "${run[@]}" >"$WORK/app.log" 2>&1 &
fi
APID=$!
started=$(date +%s%N)

for _ in $(seq 300); do
  xwininfo -root -tree 2>/dev/null | grep -q '"Branchline"' && break
  kill -0 "$APID" 2>/dev/null || { cat "$WORK/app.log" >&2; echo "FAIL: the app exited" >&2; exit 1; }
  sleep 0.1
done
xwininfo -root -tree | grep -q '"Branchline"' || { cat "$WORK/app.log" >&2; echo "FAIL: no window" >&2; exit 1; }
echo "window \"Branchline\" after $((($(date +%s%N) - started) / 1000000)) ms (first start: extraction included)"

appdir="$(dirname "$(dirname "$(readlink "/proc/$APID/exe")")")/.."
appdir="$(realpath "$appdir")"
case "$appdir" in "$WORK/cache/branchline-appimage/"*) ;; *)
  echo "FAIL: the app runs from $appdir, not from the AppImage's cache" >&2; exit 1 ;;
esac
for helper in WebKitNetworkProcess WebKitWebProcess; do
  pid=""
  for _ in $(seq 100); do pid="$(pgrep -P "$APID" -x "${helper:0:15}" | head -n1 || true)"; [ -n "$pid" ] && break; sleep 0.1; done
  [ -n "$pid" ] || { echo "FAIL: no $helper started" >&2; exit 1; }
  exe="$(readlink "/proc/$pid/exe")"
  case "$exe" in "$appdir"/*) echo "$helper (pid $pid) runs $exe" ;; *)
    echo "FAIL: $helper runs $exe, not the bundled one" >&2; exit 1 ;;
  esac
done
if grep -E ' (/usr)?/lib/x86_64-linux-gnu/(libwebkit2gtk|libjavascriptcoregtk)' "/proc/$APID/maps" >/dev/null; then
  echo "FAIL: the app mapped the host's WebKitGTK" >&2; exit 1
fi
echo "OK"
