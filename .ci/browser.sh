#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the dashboard's end-to-end tests, where
# missing (idempotent; progress on stderr). Playwright drives /usr/bin/chromium; nothing
# downloads a browser of its own.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
echo "browser.sh: installing chromium and chromium-driver with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium chromium-driver >&2
