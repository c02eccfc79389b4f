//! A real S3 server for tests: moto (`pip install 'moto[server]'`) on a
//! free loopback port, with one bucket and dummy credential files.
//!
//! ```text
//! let moto = MotoServer::start()?;               // skip first if moto_missing()
//! let objects = Objects::open(&moto.storage_config(), dir)?;
//! ```
//!
//! The process is killed when the [`MotoServer`] is dropped, also when the
//! test panics; its files live in a temporary folder removed with it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use common::objects::StorageConfig;
use tempfile::TempDir;

/// The bucket every [`MotoServer`] creates.
pub const BUCKET: &str = "bulkhead-test";
/// How long moto may take to answer after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Ports tried before giving up (another process may take the free port
/// between finding it and moto binding it).
const PORT_TRIES: usize = 5;

/// Why the S3 tests cannot run here (`None`: `moto_server` is on `PATH`).
pub fn moto_missing() -> Option<&'static str> {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| is_executable(&dir.join("moto_server")))
    });
    (!found).then_some("no moto_server (python3 -m pip install 'moto[server]')")
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running moto S3 server with the bucket [`BUCKET`].
pub struct MotoServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl std::fmt::Debug for MotoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MotoServer(127.0.0.1:{})", self.port)
    }
}

impl MotoServer {
    /// Spawn `moto_server` on a free loopback port, wait until it answers,
    /// create the bucket and write the credential files.
    pub fn start() -> anyhow::Result<Self> {
        if let Some(why) = moto_missing() {
            bail!("{why}");
        }
        let dir = TempDir::new().context("temporary folder for moto")?;
        std::fs::write(dir.path().join("access_key_id"), "testing-key-id\n")?;
        std::fs::write(dir.path().join("secret_access_key"), "  testing-secret  \n")?;
        let mut last = anyhow!("moto did not start");
        for _ in 0..PORT_TRIES {
            let port = testdb::ports::free_port();
            let log_path = dir.path().join("moto.log");
            let log = std::fs::File::create(&log_path)?;
            let mut child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("spawning moto_server")?;
            match wait_until_up(&mut child, port, &log_path) {
                Ok(()) => {
                    let server = Self {
                        child: Some(child),
                        port,
                        dir,
                    };
                    let (status, _) = request(port, "PUT", &format!("/{BUCKET}"))?;
                    if status != 200 {
                        bail!("moto refused to create the bucket: HTTP {status}");
                    }
                    return Ok(server);
                }
                Err(e) => {
                    last = e;
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        Err(last)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The storage config of the bucket (path-style, plain HTTP, the
    /// credential files in the server's temporary folder).
    pub fn storage_config(&self) -> StorageConfig {
        StorageConfig::S3 {
            endpoint: Some(self.endpoint()),
            bucket: BUCKET.to_string(),
            region: "us-east-1".to_string(),
            access_key_id_file: self.dir.path().join("access_key_id"),
            secret_access_key_file: self.dir.path().join("secret_access_key"),
            allow_http: true,
            prefix: None,
        }
    }

    /// The `ETag` of an object as S3 reports it (a multipart upload's ends
    /// in `-<parts>`).
    pub fn etag(&self, key: &str) -> anyhow::Result<String> {
        let (status, head) = self.request("HEAD", &format!("/{BUCKET}/{key}"))?;
        if status != 200 {
            bail!("HEAD {key}: HTTP {status}");
        }
        head.lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("etag")
                    .then(|| value.trim().trim_matches('"').to_string())
            })
            .ok_or_else(|| anyhow!("no ETag for {key}"))
    }

    /// Kill the server now (to test an unreachable store).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The folder holding the credential files and moto's log.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn request(&self, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
        request(self.port, method, path)
    }
}

/// Wait until moto answers HTTP; an early exit (port taken) is an error.
fn wait_until_up(child: &mut Child, port: u16, log: &std::path::Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            bail!("moto_server exited ({status}): {}", log.trim());
        }
        if request(port, "GET", "/").is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("moto_server did not answer within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One unsigned HTTP/1.1 request to moto; the status and the response head.
fn request(port: u16, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply);
    let head = reply
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("not an HTTP reply from moto"))?;
    Ok((status, head))
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
