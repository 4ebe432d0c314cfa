#!/usr/bin/env bash
# Build the AppImage of the desktop app from the .deb's data tree, without the network:
#   scripts/appimage.sh [DEB_DATA_DIR] [OUT_DIR]
# DEB_DATA_DIR defaults to target/release/bundle/deb/Branchline_<version>_amd64/data
# (what `tauri build --bundles deb` leaves); OUT_DIR to target/release/bundle/appimage
# (under $CARGO_TARGET_DIR instead of target/ when that is set, as for Tauri).
# APP_BIN=path takes the app binary from elsewhere than DEB_DATA_DIR/usr/bin.
# It lays out Branchline.AppDir (the app, WebKitGTK's helper processes and every shared
# library they need except the host's own, see HOST_LIBS), packs it with mksquashfs
# (gzip) and writes packaging/appimage-runtime (built here, static) followed by that
# image to OUT_DIR/Branchline_<version>_amd64.AppImage.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

VERSION="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' src-tauri/tauri.conf.json | head -n1)"
BUNDLE="${CARGO_TARGET_DIR:-target}/release/bundle"
DATA="$(realpath -m "${1:-$BUNDLE/deb/Branchline_${VERSION}_amd64/data}")"
OUT="$(realpath -m "${2:-$BUNDLE/appimage}")"
APP_BIN="$(realpath -m "${APP_BIN:-$DATA/usr/bin/branchline-app}")"
[ -x "$APP_BIN" ] || { echo "no app at $APP_BIN: build the .deb first (scripts/package.sh)" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "the AppImage is built for x86_64 only" >&2; exit 1; }

# The packaging tools, installed as scripts/setup.sh installs its packages.
need=()
command -v mksquashfs >/dev/null || need+=(squashfs-tools)
command -v strip >/dev/null || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "the AppImage needs these Debian packages: ${need[*]}" >&2
    echo "install them as root: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Libraries taken from the host, never bundled. A library here must match the running
# kernel, C library or graphics driver, or is loaded by the host's driver stack too,
# where two copies of one soname (ours, older; the driver's, newer) break it:
# - the C library: ld-linux, libc, libm, libdl, libpthread, librt, libresolv, libutil,
#   libanl, libmvec, libnss_*, libthread_db (one per process; tied to the loader);
# - the compiler runtime: libgcc_s, libstdc++ (host GL drivers need one at least as
#   new as theirs);
# - OpenGL/EGL/Vulkan and DRM: libGL*, libEGL, libOpenGL, libGLES*, libglapi, libdrm,
#   libgbm, libvulkan (they are the host's driver);
# - the X and Wayland client libraries the drivers link against: libX11, libX11-xcb,
#   libxcb*, libwayland-*;
# - fonts and sound: libfontconfig and libfreetype (the host's fonts.conf belongs to
#   its fontconfig), libasound (the host's ALSA plugins and configuration);
# - libz and libexpat: used by all of the above, present on every desktop.
HOST_LIBS='^(ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv|libutil|libanl|libmvec|libnss_.*|libthread_db|libgcc_s|libstdc\+\+|libGL.*|libEGL|libOpenGL|libGLES.*|libglapi|libdrm|libgbm|libvulkan|libX11|libX11-xcb|libxcb.*|libwayland-.*|libfontconfig|libfreetype|libasound|libz|libexpat)\.so'

echo "== runtime (static)"
RT_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/appimage-runtime"
# Its own target directory and flags: static linking applies to this one build only.
RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_STRIP=true CARGO_PROFILE_RELEASE_DEBUG=false \
  CARGO_TARGET_DIR="$RT_TARGET" \
  cargo build --release --quiet -p branchline-appimage-runtime --target x86_64-unknown-linux-gnu
RUNTIME="$RT_TARGET/x86_64-unknown-linux-gnu/release/branchline-appimage-runtime"

echo "== AppDir"
mkdir -p "$OUT"
APPDIR="$OUT/Branchline.AppDir"
rm -rf "$APPDIR"
mkdir -p "$APPDIR"
cp -a "$DATA/usr" "$APPDIR/usr"
cp "$APP_BIN" "$APPDIR/usr/bin/branchline-app"
# The release binary keeps line tables for backtraces; the AppImage does without (−100 MB).
strip --strip-debug "$APPDIR/usr/bin/branchline-app"

# WebKitGTK: the library the app links, and the directory of its helper processes
# (WebKitWebProcess, WebKitNetworkProcess, ...) and injected bundle, whose absolute
# path is compiled into the library.
WEBKIT_LIB="$(ldd "$APP_BIN" | awk '$1 ~ /^libwebkit2gtk-4\.1\.so/ {print $3}')"
[ -n "$WEBKIT_LIB" ] || { echo "the app does not link libwebkit2gtk-4.1" >&2; exit 1; }
WEBKIT_LIB="$(readlink -f "$WEBKIT_LIB")"
HELPER_DIR="$(strings -n 8 "$WEBKIT_LIB" | grep -E '^/usr/[^ ]*/webkit2gtk-4\.1$' | head -n1)"
[ -n "$HELPER_DIR" ] && [ -d "$HELPER_DIR" ] || { echo "cannot find WebKitGTK's helper directory in $WEBKIT_LIB" >&2; exit 1; }
HOST_LIBDIR="$(dirname "$HELPER_DIR")"                         # /usr/lib/x86_64-linux-gnu
LIBDIR="$APPDIR/usr${HOST_LIBDIR#/usr}"                        # $APPDIR/usr/lib/x86_64-linux-gnu
mkdir -p "$LIBDIR"
cp -a "$HELPER_DIR" "$LIBDIR/"
rm -f "$LIBDIR/webkit2gtk-4.1/MiniBrowser"                      # a test browser, not needed

# gdk-pixbuf's image loaders (PNG and JPEG are built in; SVG, ICO, ... are modules).
PIXBUF_DIR="$(pkg-config --variable=gdk_pixbuf_moduledir gdk-pixbuf-2.0)"
PIXBUF_QUERY="$(pkg-config --variable=gdk_pixbuf_query_loaders gdk-pixbuf-2.0)"
PIXBUF_REL="${PIXBUF_DIR#"$HOST_LIBDIR"/}"                        # gdk-pixbuf-2.0/2.10.0/loaders
mkdir -p "$LIBDIR/$PIXBUF_REL"
cp -a "$PIXBUF_DIR"/*.so "$LIBDIR/$PIXBUF_REL/"
# GIO modules: TLS (glib-networking) and the dconf settings backend.
GIO_DIR="$(pkg-config --variable=giomoduledir gio-2.0)"
mkdir -p "$LIBDIR/gio/modules"
for m in libgiognutls.so libdconfsettings.so; do
  if [ -f "$GIO_DIR/$m" ]; then cp -a "$GIO_DIR/$m" "$LIBDIR/gio/modules/"; fi
done
# GStreamer: none bundled (the app plays no media); an empty plugin directory keeps
# WebKit from loading the host's plugins into the bundled GStreamer.
mkdir -p "$LIBDIR/gstreamer-1.0"

# Every shared library those need, by ldd, except the host's.
mapfile -t elves < <(
  echo "$APP_BIN"
  find "$LIBDIR" -type f \( -name '*.so' -o -perm -u+x \) -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \; -print
)
declare -A seen=()
for elf in "${elves[@]}"; do
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    if [ "$path" = "not" ]; then echo "$elf needs $name, which is not installed" >&2; exit 1; fi
    [[ "$name" =~ $HOST_LIBS ]] && continue
    [ -n "${seen[$name]:-}" ] && continue
    seen[$name]=1
    cp -L "$path" "$LIBDIR/$name"
  done < <(ldd "$elf")
done
echo "bundled ${#seen[@]} libraries"
[ -f "$LIBDIR/$(basename "$WEBKIT_LIB" | sed 's/\.so\..*/.so.0/')" ] || { echo "libwebkit2gtk was not bundled" >&2; exit 1; }

# WebKitGTK starts its helpers from the compiled-in absolute $HELPER_DIR. In the bundled
# copy that path becomes a relative one of the same length ("/usr" → "././"), which
# AppRun makes resolve into the AppDir by starting the app in $APPDIR/usr.
BUNDLED_WEBKIT="$LIBDIR/$(ldd "$APP_BIN" | awk '$1 ~ /^libwebkit2gtk-4\.1\.so/ {print $1}')"
REL_HELPER_DIR="././${HELPER_DIR#/usr}"
[ "${#REL_HELPER_DIR}" = "${#HELPER_DIR}" ] || { echo "internal: $REL_HELPER_DIR is not as long as $HELPER_DIR" >&2; exit 1; }
before="$(grep -c -a -F "$HELPER_DIR" "$BUNDLED_WEBKIT" || true)"
FROM="$HELPER_DIR" TO="$REL_HELPER_DIR" perl -0777 -pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/g' "$BUNDLED_WEBKIT"
after="$(grep -c -a -F "$HELPER_DIR" "$BUNDLED_WEBKIT" || true)"
patched="$(strings -n 8 "$BUNDLED_WEBKIT" | grep -c -F "$REL_HELPER_DIR" || true)"
if [ "$before" = 0 ] || [ "$after" != 0 ] || [ "$patched" = 0 ]; then
  echo "patching $HELPER_DIR in $BUNDLED_WEBKIT failed (before $before, after $after, patched $patched)" >&2
  exit 1
fi
echo "libwebkit2gtk: $HELPER_DIR → $REL_HELPER_DIR ($patched strings)"

# loaders.cache, with paths relative to $APPDIR/usr (AppRun's working directory).
"$PIXBUF_QUERY" "$LIBDIR/$PIXBUF_REL"/*.so | sed "s|\"$APPDIR/usr/|\"./|" >"$LIBDIR/${PIXBUF_REL%/loaders}/loaders.cache"
grep -q '^"\./' "$LIBDIR/${PIXBUF_REL%/loaders}/loaders.cache" || { echo "loaders.cache lists no loader" >&2; exit 1; }
"$(pkg-config --variable=gio_querymodules gio-2.0)" "$LIBDIR/gio/modules"
# GTK 3's settings schemas (the file chooser, colour chooser, ...), for hosts without GTK.
mkdir -p "$APPDIR/usr/share/glib-2.0/schemas"
cp /usr/share/glib-2.0/schemas/org.gtk.Settings.*.gschema.xml "$APPDIR/usr/share/glib-2.0/schemas/"
"$(pkg-config --variable=glib_compile_schemas gio-2.0)" "$APPDIR/usr/share/glib-2.0/schemas"

# The AppDir's root: AppRun, the desktop entry, the icon.
cp "$DATA/usr/share/applications/Branchline.desktop" "$APPDIR/Branchline.desktop"
ICON="$(grep '^Icon=' "$APPDIR/Branchline.desktop" | cut -d= -f2)"
ICON_PNG="$(find "$DATA/usr/share/icons" -name "$ICON.png" -path '*512x512*' | head -n1)"
[ -n "$ICON_PNG" ] || ICON_PNG="$(find "$DATA/usr/share/icons" -name "$ICON.png" | sort | tail -n1)"
cp "$ICON_PNG" "$APPDIR/$ICON.png"
ln -s "$ICON.png" "$APPDIR/.DirIcon"
LIBDIR_REL="${HOST_LIBDIR#/usr/}"
cat >"$APPDIR/AppRun" <<EOF
#!/bin/sh
# Starts Branchline from its AppDir (the AppImage runtime sets APPDIR; an extracted
# squashfs-root works too). Bundled libraries first, then the host's.
set -e
APPDIR="\${APPDIR:-\$(dirname "\$(readlink -f "\$0")")}"
LIB="\$APPDIR/usr/$LIBDIR_REL"
export APPDIR
export OWD="\${OWD:-\$PWD}"
export LD_LIBRARY_PATH="\$LIB\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export GDK_PIXBUF_MODULE_FILE="\$LIB/${PIXBUF_REL%/loaders}/loaders.cache"
export GIO_MODULE_DIR="\$LIB/gio/modules"
export GST_PLUGIN_SYSTEM_PATH_1_0="\$LIB/gstreamer-1.0"
export GST_REGISTRY_1_0="\${XDG_CACHE_HOME:-\$HOME/.cache}/branchline-appimage/gstreamer-registry.bin"
export XDG_DATA_DIRS="\$APPDIR/usr/share:\${XDG_DATA_DIRS:-/usr/local/share:/usr/share}"
# libwebkit2gtk finds its helper processes at $REL_HELPER_DIR, and gdk-pixbuf its
# loaders at ./$LIBDIR_REL/...: both relative to this directory.
cd "\$APPDIR/usr"
exec "\$APPDIR/usr/bin/branchline-app" "\$@"
EOF
chmod +x "$APPDIR/AppRun"

echo "== squashfs image"
IMAGE="$OUT/Branchline.squashfs"
mksquashfs "$APPDIR" "$IMAGE" -comp gzip -root-owned -noappend -quiet -no-progress >/dev/null

echo "== AppImage"
TARGET="$OUT/Branchline_${VERSION}_amd64.AppImage"
cp "$RUNTIME" "$TARGET.part"
# The AppImage type 2 magic, "AI" 0x02, in the ELF identification's padding (offset 8).
printf 'AI\002' | dd of="$TARGET.part" bs=1 seek=8 conv=notrunc status=none
cat "$IMAGE" >>"$TARGET.part"
chmod +x "$TARGET.part"
mv "$TARGET.part" "$TARGET"
rm -f "$IMAGE"
[ "$("$TARGET" --appimage-offset)" = "$(stat -c %s "$RUNTIME")" ] || { echo "the runtime does not find its image" >&2; exit 1; }
ls -l "$TARGET"
