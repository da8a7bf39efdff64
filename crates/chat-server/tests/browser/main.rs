//! End-to-end tests of the browser page (`GET /`) in headless Chromium,
//! driven over WebDriver by fantoccini, against an in-process server.
//!
//! They need Debian's `chromium` and `chromium-driver`
//! (`scripts/install-browser.sh` installs them) and fail with that hint when
//! `/usr/bin/chromedriver` is missing. The `assets` tests need no browser.

mod harness;
mod server;

mod assets;
mod composer;
mod history;
mod layout;
mod live;
mod reconnect;
mod safety;
