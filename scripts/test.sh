#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (headless Chromium and chromedriver for the browser tests) when it is
# missing, starts the local PostgreSQL when it is installed but stopped (the
# PostgreSQL tests need a server at 127.0.0.1:5432, user `postgres`, trust
# auth; CHAT_TEST_POSTGRES_URL names another; CHAT_TEST_POSTGRES=skip skips
# them), then runs every crate's tests. The checkout stays clean: the web
# page's screenshot goes under target/ (scripts/refresh-screenshot.sh redraws
# docs/screenshot.png).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x scripts/install-browser.sh ]; then
    scripts/install-browser.sh
fi

if command -v pg_lsclusters >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    # Start every installed cluster that is down ("version name port status ...").
    pg_lsclusters --no-header | while read -r version name _port status _rest; do
        if [ "$status" = down ]; then
            pg_ctlcluster "$version" "$name" start || true
        fi
    done
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 0.5
    done
fi

cargo test --workspace --locked "$@"
