//! The web interface in a real browser: headless Chromium (Debian's
//! `chromium` + `chromium-driver`) against real servers. Per server, each
//! demo role signs in and completes its main task; the pages pass axe-core
//! with no serious or critical violation; CSRF, cookie flags, scripts under
//! the CSP and signing out are checked in the browser. Screenshots of each
//! main page go to `<target>/tmp/browser-screenshots/`.
//!
//! Without chromium each test is listed as ignored, with the reason on
//! standard error (`make test` says so too); `--include-ignored` runs it
//! anyway and it fails. CI installs chromium and sets
//! BULKHEAD_REQUIRE_BROWSER, which turns a missing browser into a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod chrome;
mod flows;

/// Why the browser tests cannot run here, if they cannot.
fn missing_browser() -> Option<&'static str> {
    (!chrome::available()).then_some("no chromium (apt-get install chromium chromium-driver)")
}

fn main() {
    testkit::mimic::run(
        missing_browser(),
        "BULKHEAD_REQUIRE_BROWSER",
        &[("every_role_completes_its_main_task_in_chromium", || {
            Box::pin(flows::every_role_completes_its_main_task_in_chromium())
        })],
    )
}
