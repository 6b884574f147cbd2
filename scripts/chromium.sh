#!/usr/bin/env bash
# Debian's Chromium for the web client's browser tests (tests/e2e/test_web_*.py), when it is missing
# and this machine can install it (root, apt). Playwright's own browser download does not work here;
# the tests launch /usr/bin/chromium. An emoji font makes the screenshots show emoji.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "scripts/chromium.sh: /usr/bin/chromium is missing and cannot be installed here (needs root and apt);" \
         "install Debian's chromium package to run tests/e2e/test_web_*.py" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium fonts-noto-color-emoji >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium fonts-noto-color-emoji >/dev/null; }
