//! What every CLI test shares: the binaries, a command runner, throw-away
//! databases, and the guard that leaves no process behind.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The `bulkhead` binary under test.
pub fn bulkhead() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bulkhead"))
}

/// A server binary built next to `bulkhead` (`hospital`, `company`, …).
pub fn server_binary(service: &str) -> PathBuf {
    let bin = bulkhead()
        .parent()
        .map(|d| d.join(format!("{service}-server")))
        .unwrap();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bins` (make test does)",
        bin.display()
    );
    bin
}

/// Fail early, with the fix, when the server binaries were not built.
pub fn require_server_binaries() {
    for s in ["hospital", "company", "dev", "owner"] {
        server_binary(s);
    }
}

/// A port nobody listens on now, for a server in a child process
/// (see [`testdb::ports`]).
pub use testdb::ports::free_port;

/// A throw-away database for one server of a test: SQLite in the test's
/// folder, or a new PostgreSQL database (dropped with this value) when
/// `BULKHEAD_TEST_PG_URL` is set.
pub struct TestDb {
    url: String,
    _pg: Option<testdb::PgDatabase>,
}

impl TestDb {
    /// A fresh database for `service` (SQLite files go in `dir`).
    pub fn new(dir: &Path, service: &str) -> Self {
        match testdb::PgDatabase::from_env("bh_cli").unwrap() {
            Some(pg) => Self {
                url: pg.url(),
                _pg: Some(pg),
            },
            None => Self {
                url: format!("sqlite://{}/{service}.db", dir.display()),
                _pg: None,
            },
        }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A child process in its own process group, killed with everything it
/// started when the guard drops (a panicking test included). `kill` on the
/// group reaches the servers `bulkhead up` spawns, which a kill of
/// `bulkhead` alone would orphan.
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    /// Spawn `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut Command) -> Self {
        let child = cmd.process_group(0).spawn().unwrap();
        Self { child }
    }

    /// Its process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (without waiting).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Wait up to `within` for it to exit; panics if it does not.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.try_wait() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "process {} did not exit within {within:?}",
                self.id()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its direct children (the servers of `bulkhead up`).
    pub fn children(&self) -> Vec<u32> {
        let pid = self.child.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Wait up to `within` for it to exit, then hand back its status and
    /// output (stdout and stderr must have been piped).
    pub fn output_within(mut self, within: Duration) -> Output {
        let status = self.wait_exit(within);
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let Some(out) = self.child.stdout.as_mut() {
            let _ = out.read_to_end(&mut stdout);
        }
        if let Some(err) = self.child.stderr.as_mut() {
            let _ = err.read_to_end(&mut stderr);
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // The whole group: the child and whatever it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a server binary that is expected to refuse to start; its output.
/// Killed (and the test failed) if it is still running after 30 s.
pub fn run_server(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    ChildGuard::spawn(cmd).output_within(Duration::from_secs(30))
}

/// Run `bulkhead` with `args` and `env` in `cwd`; its output. Killed (and
/// the test failed) if still running after 60 s.
pub fn run(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Output {
    let mut cmd = Command::new(bulkhead());
    cmd.args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    ChildGuard::spawn(&mut cmd).output_within(Duration::from_secs(60))
}

/// stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Send `sig` (`-TERM`, `-KILL`) to `pid`.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Wait until something accepts connections on `port`, while `child` runs.
pub fn wait_listening(child: &mut ChildGuard, port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().is_none(), "the process exited early");
        assert!(Instant::now() < deadline, "nothing listened on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Log in on a public listener; the success body.
pub async fn login(port: u16, prefix: &str, user: &str, password: &str) -> serde_json::Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{prefix}/auth/login"))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "login {user} on {port}");
    res.json().await.unwrap()
}
