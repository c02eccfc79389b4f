//! `bulkhead up`: the four servers as child processes, their demo logins,
//! and how they stop: on a signal, when one dies, and when the test ends.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    alive, bulkhead, free_port, login, require_server_binaries, signal, ChildGuard, TestDb,
};

/// `bulkhead up --demo` with the four servers on free ports, each with a
/// throw-away database. Dropping it kills `bulkhead` and its servers first
/// (the guard is the first field), then drops the databases and the folder.
pub struct Up {
    /// `bulkhead up`, leader of the process group its servers join.
    pub child: ChildGuard,
    /// The four servers, then the demo's second hospital (`hospital-2`).
    ports: [(String, u16); 5],
    internal: [(String, u16); 4],
    dbs: Vec<(String, TestDb)>,
    /// Its working folder (certificates, SQLite files, `up.log`).
    pub dir: tempfile::TempDir,
}

/// The file `bulkhead up` and its servers write their output to.
pub const LOG_FILE: &str = "up.log";

impl Up {
    /// Start it with `extra` environment.
    pub fn start(extra: &[(String, String)]) -> Self {
        require_server_binaries();
        let dir = tempfile::tempdir().unwrap();
        let ports = [
            ("hospital".to_string(), free_port()),
            ("company".to_string(), free_port()),
            ("dev".to_string(), free_port()),
            ("owner".to_string(), free_port()),
            ("hospital-2".to_string(), free_port()),
        ];
        let second = TestDb::new(dir.path(), "hospital-2");
        let mut cmd = Command::new(bulkhead());
        cmd.args(["up", "--demo"])
            .arg("--second-hospital-port")
            .arg(ports[4].1.to_string())
            .arg("--second-hospital-db")
            .arg(second.url())
            .current_dir(dir.path())
            .stdin(Stdio::null());
        let log = std::fs::File::create(dir.path().join(LOG_FILE)).unwrap();
        cmd.stdout(log.try_clone().unwrap()).stderr(log);
        let internal = [
            ("hospital".to_string(), free_port()),
            ("company".to_string(), free_port()),
            ("dev".to_string(), free_port()),
            ("owner".to_string(), free_port()),
        ];
        let peer_url = |name: &str| {
            let port = internal.iter().find(|(s, _)| s == name).unwrap().1;
            format!("https://localhost:{port}")
        };
        let mut dbs = Vec::new();
        for ((s, p), (_, ip)) in ports.iter().zip(internal.iter()) {
            let prefix = s.to_uppercase();
            let db = TestDb::new(dir.path(), s);
            cmd.env(format!("{prefix}__SERVER__PORT"), p.to_string());
            cmd.env(format!("{prefix}__AUTH__BCRYPT_COST"), "4");
            cmd.env(format!("{prefix}__LOG__LEVEL"), "warn");
            cmd.env(format!("{prefix}__DATABASE__URL"), db.url());
            cmd.env(format!("{prefix}__PLANE__PORT"), ip.to_string());
            cmd.env(format!("{prefix}__PLANE__COMPANY_URL"), peer_url("company"));
            cmd.env(format!("{prefix}__PLANE__DEV_URL"), peer_url("dev"));
            cmd.env(format!("{prefix}__PLANE__OWNER_URL"), peer_url("owner"));
            cmd.env(format!("{prefix}__PLANE__OUTBOX_INTERVAL_SECS"), "1");
            cmd.env(format!("{prefix}__PLANE__ANCHOR_INTERVAL_SECS"), "1");
            cmd.env(format!("{prefix}__PLANE__HEARTBEAT_INTERVAL_SECS"), "1");
            dbs.push((s.clone(), db));
        }
        dbs.push(("hospital-2".to_string(), second));
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = ChildGuard::spawn(&mut cmd);
        Self {
            child,
            ports,
            internal,
            dbs,
            dir,
        }
    }

    /// The environment a CLI command needs to act as `service` of this run.
    pub fn env_of(&self, service: &str) -> Vec<(String, String)> {
        let prefix = service.to_uppercase();
        let company = self
            .internal
            .iter()
            .find(|(s, _)| s == "company")
            .unwrap()
            .1;
        vec![
            (
                format!("{prefix}__DATABASE__URL"),
                self.url(service).to_string(),
            ),
            (
                format!("{prefix}__PLANE__COMPANY_URL"),
                format!("https://localhost:{company}"),
            ),
        ]
    }

    /// The database URL of `service`.
    pub fn url(&self, service: &str) -> &str {
        self.dbs.iter().find(|(s, _)| s == service).unwrap().1.url()
    }

    /// The internal (plane) port of `service`.
    pub fn internal_port(&self, service: &str) -> u16 {
        self.internal.iter().find(|(s, _)| s == service).unwrap().1
    }

    /// The public port of `service`.
    pub fn port(&self, service: &str) -> u16 {
        self.ports.iter().find(|(s, _)| s == service).unwrap().1
    }

    /// The last lines `bulkhead up` and its servers wrote (for a failure).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Wait until all four public listeners accept connections.
    pub fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        for (_, port) in self.ports.clone() {
            loop {
                if self.child.try_wait().is_some() {
                    panic!("bulkhead up exited early; its log:\n{}", self.log_tail());
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                if Instant::now() >= deadline {
                    panic!("servers did not come up; the log:\n{}", self.log_tail());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[tokio::test]
async fn up_runs_all_four_with_demo_logins_and_stops_on_signal() {
    let mut up = Up::start(&[]);
    up.wait_healthy();
    let logins = [
        ("hospital", "/api/v1/tenant", "doctor", "doctor123"),
        ("hospital", "/api/v1/tenant", "reception", "reception123"),
        ("company", "/api/v1/company", "admin", "admin123"),
        ("company", "/api/v1/company", "teamlead", "teamlead123"),
        ("dev", "/api/v1/dev", "astro", "dev123456"),
        ("owner", "/api/v1/owner", "owner", "owner123"),
    ];
    for (service, prefix, user, pw) in logins {
        let body = login(up.port(service), prefix, user, pw).await;
        assert_eq!(body["data"]["user"]["username"], user);
    }
    let hospital = login(up.port("hospital"), "/api/v1/tenant", "hadmin", "hadmin123").await;
    assert_eq!(
        hospital["data"]["user"]["tenant_id"],
        "00000000-0000-4000-8000-000000000001"
    );

    // The second on-site hospital: its own tenant, database and
    // certificate; owner lists both demo hospitals with live health.
    let second = login(
        up.port("hospital-2"),
        "/api/v1/tenant",
        "doctor",
        "doctor123",
    )
    .await;
    assert_eq!(
        second["data"]["user"]["tenant_id"],
        common::config::DEMO_TENANT2_ID
    );
    let owner = login(up.port("owner"), "/api/v1/owner", "owner", "owner123").await;
    let token = owner["data"]["access_token"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list: serde_json::Value = client
            .get(format!(
                "http://127.0.0.1:{}/api/v1/owner/tenants?health=healthy",
                up.port("owner")
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut ids: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["id"].as_str())
            .collect();
        ids.sort_unstable();
        if ids
            == [
                common::config::DEMO_TENANT_ID,
                common::config::DEMO_TENANT2_ID,
            ]
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "owner never saw both hospitals healthy: {list}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let children = up.child.children();
    assert_eq!(children.len(), 5, "five server processes (two hospitals)");
    signal(up.child.id(), "-TERM");
    let status = up.child.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "clean stop exits 0: {status}");
    for pid in children {
        assert!(!alive(pid), "server {pid} stopped with bulkhead");
    }
}

#[tokio::test]
async fn up_exits_non_zero_when_a_server_dies() {
    let mut up = Up::start(&[]);
    up.wait_healthy();
    let children = up.child.children();
    assert_eq!(children.len(), 5);
    signal(children[1], "-KILL");
    let status = up.child.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "a dead server makes up fail: {status}");
    for pid in children {
        assert!(!alive(pid), "the other servers are stopped too");
    }
}

/// The orphan finding: `make test` used to leave a company-server and a
/// hospital-server running, because dropping the fixture killed `bulkhead`
/// alone. Dropping it now takes the servers down too.
#[test]
fn a_dropped_up_leaves_no_server_behind() {
    let mut up = Up::start(&[]);
    up.wait_healthy();
    let children = up.child.children();
    assert_eq!(children.len(), 5, "five server processes");

    drop(up);

    let deadline = Instant::now() + Duration::from_secs(10);
    while children.iter().any(|pid| alive(*pid)) {
        assert!(
            Instant::now() < deadline,
            "servers outlived the test: {:?}",
            children.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
