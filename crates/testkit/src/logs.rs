//! Capturing what the servers of the test process log: [`capture`]
//! installs (once per process) a subscriber that writes every event of the
//! Bulkhead crates, at every level, and of their HTTP libraries at debug,
//! into memory; [`Logs::text`] is what was logged since the capture began
//! (by every test running meanwhile, which only adds text). Servers started
//! by the testkit log nowhere otherwise.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A capture begun at some point of the process's log.
pub struct Logs {
    from: usize,
}

/// Begin capturing (installing the process's subscriber the first time).
pub fn capture() -> Logs {
    let buffer = BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let filter = tracing_subscriber::EnvFilter::new(
            "info,hospital=trace,common=trace,testkit=trace,reqwest=debug,hyper=debug,actix_web=debug",
        );
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the test process");
        buffer
    });
    Logs {
        from: buffer.lock().unwrap().len(),
    }
}

impl Logs {
    /// Everything logged since [`capture`].
    pub fn text(&self) -> String {
        let buffer = BUFFER.get().expect("capturing").lock().unwrap();
        String::from_utf8_lossy(&buffer[self.from.min(buffer.len())..]).into_owned()
    }
}
