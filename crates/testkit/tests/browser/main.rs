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

use libtest_mimic::{Arguments, Failed, Trial};

/// Why the browser tests cannot run here, if they cannot.
fn missing_browser() -> Option<&'static str> {
    (!chrome::available()).then_some("no chromium (apt-get install chromium chromium-driver)")
}

/// One browser test: its own runtime, a panic reported as a failure.
fn trial(
    name: &'static str,
    test: fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) -> Trial {
    let missing = missing_browser();
    Trial::test(name, move || {
        if let Some(why) = missing {
            return Err(Failed::from(format!("cannot run: {why}")));
        }
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Failed::from(format!("tokio runtime: {e}")))?
            .block_on(test());
        Ok(())
    })
    .with_ignored_flag(missing.is_some())
}

fn main() {
    let args = Arguments::from_args();
    if let Some(why) = missing_browser() {
        // CI sets this: there a missing browser is a failure, not a skip.
        assert!(
            std::env::var_os("BULKHEAD_REQUIRE_BROWSER").is_none(),
            "BULKHEAD_REQUIRE_BROWSER is set but the browser is missing: {why}"
        );
        eprintln!("skipped (listed as ignored): {why}");
    }
    let trials = vec![trial(
        "every_role_completes_its_main_task_in_chromium",
        || Box::pin(flows::every_role_completes_its_main_task_in_chromium()),
    )];
    libtest_mimic::run(&args, trials).exit();
}
