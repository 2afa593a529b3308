#!/usr/bin/env bash
# Debian/Ubuntu libraries Qt needs (also offscreen), a CJK font, and Xvfb for screenshots.
# Installs only what is missing; skips quietly where apt-get or root is not available.
set -u
pkgs="libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0
      libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-render-util0 libxcb-image0 fonts-wqy-microhei"
command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 || exit 0
missing=""
for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing system libraries:$missing"
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null || \
  echo "warning: could not install:$missing (Qt may fail to start)" >&2
exit 0
