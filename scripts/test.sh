#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (headless Chromium and chromedriver for the browser tests) when it is
# missing, then runs every crate's tests. The checkout stays clean: the web
# page's screenshot goes under target/ (scripts/refresh-screenshot.sh redraws
# docs/screenshot.png).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x scripts/install-browser.sh ]; then
    scripts/install-browser.sh
fi

cargo test --workspace --locked "$@"
