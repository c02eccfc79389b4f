//! deploy/: the production configurations pass `bulkhead config check`
//! once the files they name exist (made by the compose set-up's own
//! `make-secrets.sh`), the check names each unsafe setting, and the
//! systemd units are valid and hardened (`systemd-analyze`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{bulkhead, run, text};

const SERVERS: [&str; 4] = ["hospital", "company", "dev", "owner"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Copy deploy/container into `dir` and run its make-secrets.sh there with
/// this build's `bulkhead`; the copy's path.
fn made_secrets(dir: &Path) -> PathBuf {
    let container = dir.join("container");
    std::fs::create_dir_all(&container).unwrap();
    for entry in std::fs::read_dir(repo().join("deploy/container")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), container.join(entry.file_name())).unwrap();
        }
    }
    let out = Command::new("bash")
        .arg(container.join("make-secrets.sh"))
        .env("BULKHEAD", bulkhead())
        .output()
        .unwrap();
    assert!(out.status.success(), "make-secrets.sh: {}", text(&out));
    container
}

/// The variables compose.yaml sets, pointing into `container`.
fn compose_env(container: &Path, server: &str) -> Vec<(String, String)> {
    let up = server.to_uppercase();
    let path = |p: &str| container.join(p).display().to_string();
    let mut env = vec![
        (
            "AUTH__JWT_SECRET_FILE",
            path(&format!("secrets/{server}/jwt")),
        ),
        (
            "DATABASE__URL_FILE",
            path(&format!("secrets/{server}/db-url")),
        ),
        (
            "BOOTSTRAP__ADMIN_PASSWORD_FILE",
            path(&format!("secrets/{server}/admin-password")),
        ),
        (
            "SERVER__TLS_CERT",
            path(&format!("pki/public/{server}.crt")),
        ),
        (
            "SERVER__TLS_KEY",
            path(&format!("secrets/{server}/tls-key")),
        ),
        ("PLANE__CERT", path(&format!("pki/plane/{server}.crt"))),
        ("PLANE__KEY", path(&format!("secrets/{server}/plane-key"))),
        ("PLANE__CA", path("pki/plane/ca.crt")),
        ("PLANE__CRL", path("pki/plane/ca.crl")),
    ];
    if server == "hospital" {
        env.push((
            "CRYPTO__MASTER_KEY_FILE",
            path("secrets/hospital/master-key"),
        ));
        let dotenv = std::fs::read_to_string(container.join(".env")).unwrap();
        let tenant = dotenv
            .trim()
            .strip_prefix("BULKHEAD_TENANT_ID=")
            .unwrap()
            .to_string();
        env.push(("TENANCY__TENANT_ID", tenant));
    }
    if server == "company" {
        env.push((
            "RELEASES__APPROVAL_KEY_FILE",
            path("secrets/company/approval-key"),
        ));
    }
    env.into_iter()
        .map(|(k, v)| (format!("{up}__{k}"), v))
        .collect()
}

fn check(server: &str, config: &Path, env: &[(String, String)], cwd: &Path) -> (i32, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let config = config.display().to_string();
    let out = run(
        &["config", "check", "--service", server, "--config", &config],
        &env,
        cwd,
    );
    (out.status.code().unwrap_or(-1), text(&out))
}

#[test]
fn the_production_configs_pass_the_check_once_their_files_exist() {
    let dir = tempfile::tempdir().unwrap();
    let container = made_secrets(dir.path());
    for server in SERVERS {
        let config = repo().join(format!("deploy/config/{server}.toml"));
        let (code, out) = check(
            server,
            &config,
            &compose_env(&container, server),
            dir.path(),
        );
        assert_eq!(code, 0, "{server}: {out}");
        assert!(out.contains("0 error(s), 0 warning(s)"), "{server}: {out}");
    }
}

#[test]
fn the_check_names_each_unsafe_setting_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    };

    // Inline secrets, an unverified remote database, the plane off, text logs.
    let company = write(
        "company.toml",
        r#"
[auth]
jwt_secret = "0123456789abcdef0123456789abcdef-inline"
bcrypt_cost = 10
mfa_required_roles = []
[database]
url = "postgres://bulkhead:pw@db.example.org:5432/company?sslmode=require"
[bootstrap]
admin_username = "root"
admin_password = "inline-password-123"
[plane]
enabled = false
port = 3102
cert = "x"
key = "x"
[log]
format = "pretty"
level = "debug"
"#,
    );
    let (code, out) = check("company", &company, &[], dir.path());
    assert_eq!(code, 1, "{out}");
    for expected in [
        "error   auth.jwt_secret: inline secret",
        "error   bootstrap.admin_password: inline password",
        "error   database.url: sslmode=require",
        "error   plane.enabled: the internal plane is off",
        "warning database.url: the URL (which may carry a password) is inline",
        "warning auth.bcrypt_cost: 10 is below 12",
        "warning auth.mfa_required_roles",
        "warning log.format",
        "warning log.level",
        "not fit for production",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        !out.contains("inline-password-123") && !out.contains("pw@db"),
        "a secret was printed:\n{out}"
    );

    // An empty hospital configuration: everything production needs is missing.
    let hospital = write("hospital.toml", "");
    let (code, out) = check("hospital", &hospital, &[], dir.path());
    assert_eq!(code, 1, "{out}");
    for expected in [
        "error   auth.jwt_secret_file: missing",
        "error   crypto.master_key_file: missing",
        "error   tenancy.tenant_id: the demo tenant",
        "error   plane.cert: certs/hospital.crt does not exist",
        "error   plane.crl: certs/ca.crl does not exist",
        "warning database.url: SQLite",
        "warning server.tls_cert: the public listener speaks plain HTTP",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }

    // What the server itself would refuse: plain HTTP off loopback, demo mode.
    let open = write("dev.toml", "demo = true\n[server]\nhost = \"0.0.0.0\"\n");
    let (code, out) = check("dev", &open, &[], dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error   demo: demo mode"), "{out}");
    assert!(
        out.contains("the server would refuse to start: demo mode is refused"),
        "{out}"
    );
    assert!(out.contains("without TLS"), "{out}");

    // A key the server does not know, and a section of another server.
    let typo = write("owner.toml", "[auth]\njwt_secret_fil = \"/x\"\n");
    let (code, out) = check("owner", &typo, &[], dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the configuration does not load"), "{out}");
    let foreign = write("owner2.toml", "[clinical]\n");
    let (code, out) = check("owner", &foreign, &[], dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unknown configuration section `clinical`"),
        "{out}"
    );

    // No such file: a usage error (2), not a verdict.
    let (code, out) = check("owner", &dir.path().join("absent.toml"), &[], dir.path());
    assert_eq!(code, 2, "{out}");
}

#[test]
fn the_systemd_units_are_valid_and_hardened() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    assert!(
        analyze.exists(),
        "systemd-analyze is missing (apt-get install systemd): the units cannot be checked"
    );
    let dir = tempfile::tempdir().unwrap();
    for server in SERVERS {
        let name = format!("bulkhead-{server}.service");
        let unit = std::fs::read_to_string(repo().join("deploy/systemd").join(&name)).unwrap();
        assert!(
            unit.contains(&format!(
                "ExecStart=/usr/local/bin/{server}-server --config"
            )),
            "{name}"
        );
        // verify checks that the binary exists: point it at one that does.
        let unit: String = unit
            .lines()
            .map(|l| {
                if l.starts_with("ExecStart=") {
                    "ExecStart=/bin/true".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let path = dir.path().join(&name);
        std::fs::write(&path, unit).unwrap();
        let out = Command::new(analyze)
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out));
        assert!(out.stderr.is_empty(), "{name}: {}", text(&out));
        // Exposure at most 2.0 of 10 ("OK"): the threshold is in tenths.
        let out = Command::new(analyze)
            .args(["security", "--offline=yes", "--threshold=20"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name} is exposed: {}", text(&out));
    }
}
