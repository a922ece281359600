#!/bin/sh
# Debian's Chromium and ChromeDriver for the studio's browser test (tests/test_studio_browser.py).
# Installs them when missing; needs root (or sudo). Prints nothing when they are there already.
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium chromium-driver >/dev/null; } || {
  echo "setup-browser: could not install chromium and chromium-driver with apt-get" >&2; exit 1; }
