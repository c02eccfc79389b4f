//! The own-harness test binaries (libtest-mimic): tests that need something
//! the machine may lack (Chromium, an S3 server) are listed as *ignored* with
//! the reason when it is absent — never passed by returning early — and a
//! CI variable turns the absence into a failure.

use std::future::Future;
use std::pin::Pin;

use libtest_mimic::{Arguments, Failed, Trial};

/// An async test body.
pub type Body = fn() -> Pin<Box<dyn Future<Output = ()>>>;

/// One test on its own runtime, a panic reported as a failure; ignored when
/// `missing` names what it lacks.
pub fn trial(name: &'static str, missing: Option<&'static str>, test: Body) -> Trial {
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

/// Run `tests` (name, body); `missing` says what the machine lacks, and
/// `require` names the variable (set by CI) that makes that a failure.
pub fn run(missing: Option<&'static str>, require: &str, tests: &[(&'static str, Body)]) -> ! {
    let args = Arguments::from_args();
    if let Some(why) = missing {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but this is missing: {why}"
        );
        eprintln!("skipped (listed as ignored): {why}");
    }
    let trials = tests
        .iter()
        .map(|(name, body)| trial(name, missing, *body))
        .collect();
    libtest_mimic::run(&args, trials).exit()
}
