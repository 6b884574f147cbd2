#!/usr/bin/env bash
# The Debian packages some tests need, when they are missing and this machine can install them
# (root, apt):
#   chromium (+ an emoji font): the web client's browser tests (tests/e2e/test_web_*.py) launch
#     /usr/bin/chromium; Playwright's own browser download does not work here.
#   postgresql: an embedded server that speaks TLS (cell.embedded.postgres.PostgresTLS, the
#     replication-over-TLS move tests) runs Debian's binaries; the pgserver wheel has no OpenSSL.
set -euo pipefail
wanted=()
[ -x /usr/bin/chromium ] || wanted+=(chromium fonts-noto-color-emoji)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || wanted+=(postgresql)
if [ ${#wanted[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "scripts/debian-packages.sh: missing ${wanted[*]} and cannot install them here (needs root and apt);" \
         "install Debian's packages to run the browser and PostgreSQL-TLS tests" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${wanted[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${wanted[@]}" >/dev/null; }
