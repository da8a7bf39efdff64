#!/usr/bin/env bash
# Redraws docs/screenshot.png, the picture of the web page in the README and
# docs/web.md, from the browser test that draws it. Ordinary test runs write
# the picture under target/ and leave the tracked one alone; this is the
# deliberate step that changes it (commit the result).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x scripts/install-browser.sh ]; then
    scripts/install-browser.sh
fi

CHAT_REFRESH_SCREENSHOT=1 cargo test -p chat-server --test browser --locked -- \
    --exact layout::a_screenshot_of_a_conversation_is_saved_for_the_docs
echo "docs/screenshot.png redrawn"
