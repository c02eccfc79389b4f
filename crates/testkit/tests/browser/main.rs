//! The web interface in a real browser: headless Chromium (Debian's
//! `chromium` + `chromium-driver`) against real servers. Per server, each
//! demo role signs in and completes its main task; the pages pass axe-core
//! with no serious or critical violation; CSRF, cookie flags, scripts under
//! the CSP and signing out are checked in the browser. Screenshots of each
//! main page go to `<target>/tmp/browser-screenshots/`.
//!
//! Without chromium the tests print "skipped: no chromium" and pass
//! (`make test` says so too); CI installs it and runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chrome;
mod flows;
