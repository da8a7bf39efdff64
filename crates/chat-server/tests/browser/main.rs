//! End-to-end tests of the browser page (`GET /`) in headless Chromium,
//! driven over WebDriver by fantoccini, against an in-process server.
//!
//! They need Debian's `chromium` and `chromium-driver`
//! (`scripts/install-browser.sh` installs them) and fail with that hint when
//! `/usr/bin/chromedriver` is missing. The `assets` tests need no browser.
//! What the page does whichever way it follows its room (server-sent events
//! by default, long polling with `/?transport=long-poll`) is tested on both,
//! as `<test>::events` and `<test>::long_poll`.

#[macro_use]
mod harness;
mod server;

mod access;
mod assets;
mod composer;
mod events;
mod history;
mod layout;
mod live;
mod reconnect;
mod safety;
