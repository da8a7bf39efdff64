#!/bin/sh
# Installs Debian's `chromium` and `chromium-driver`, which the browser tests
# (crates/chat-server/tests/browser) drive headless. Does nothing when both
# are already there, so it is safe to run before every test run.
set -eu

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi

# Root needs no sudo (containers often have none); anyone else does.
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
else
    as_root="sudo"
fi

# apt-get is chatty even with -qq (debconf notices): keep its output and show
# it only when something fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "install-browser: failed: $*" >&2
        exit 1
    fi
}

echo "install-browser: installing chromium and chromium-driver with apt-get" >&2
run $as_root apt-get update -qq
# Recommends (printing, desktop integration) are not needed headless.
run $as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends chromium chromium-driver
