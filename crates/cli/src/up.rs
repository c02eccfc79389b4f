//! `bulkhead up`: start the four server binaries found next to this one as
//! child processes (with `--demo`, a second on-site hospital too), print
//! their URLs (and the demo logins), stop them all on Ctrl-C, and exit
//! non-zero if one dies.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use common::config::Config;
use common::Service;
use tokio::process::{Child, Command};

#[derive(clap::Args)]
pub struct UpArgs {
    /// Seed demo users and the demo tenant (loopback only).
    #[arg(long)]
    demo: bool,
    /// Folder holding `<service>.toml` files to pass to each server.
    #[arg(long)]
    config_dir: Option<PathBuf>,
    /// Where `--demo` creates missing certificates (the servers' default is `certs`).
    #[arg(long, default_value = "certs")]
    certs_dir: PathBuf,
    /// Seconds to wait for each server to accept connections.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
    /// `--demo`: the public port of the second demo hospital ("Demo Ramzan
    /// Hospital", tenant `DEMO_TENANT2_ID`).
    #[arg(long, default_value_t = 3011)]
    second_hospital_port: u16,
    /// `--demo`: the second hospital's database URL; default: beside the
    /// first (`sqlite://data/hospital-2.db`), or on the first's PostgreSQL
    /// server as `<its database>_2`, created if missing.
    #[arg(long)]
    second_hospital_db: Option<String>,
}

/// The certificate file stem of the second demo hospital.
const SECOND_HOSPITAL_CERT: &str = "hospital-2";

struct Running {
    service: Service,
    /// The name it is shown by (`hospital`, `hospital-2`, …).
    label: String,
    addr: SocketAddr,
    child: Child,
}

pub fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(up(args))
}

async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating bulkhead")?;
    let bin_dir = exe
        .parent()
        .context("bulkhead has no parent folder")?
        .to_path_buf();
    if args.demo {
        // The demo needs a CA and the four service certificates for the
        // internal plane; create whatever is missing (never in production).
        let created = pki::ensure_demo(&args.certs_dir, common::config::DEMO_TENANT_ID)
            .context("creating the demo certificates")?;
        let mut created = created;
        if pki::ensure_demo_hospital(
            &args.certs_dir,
            SECOND_HOSPITAL_CERT,
            common::config::DEMO_TENANT2_ID,
        )
        .context("creating the second demo hospital's certificate")?
        {
            created.push(SECOND_HOSPITAL_CERT.to_string());
        }
        if !created.is_empty() {
            println!(
                "bulkhead: demo certificates created in {}: {}",
                args.certs_dir.display(),
                created.join(", ")
            );
        }
    }
    // The demo's release-approval key: company signs approvals with it, the
    // demo hospitals pin its public half (unless the environment says otherwise).
    let approval = if args.demo {
        Some(demo_approval_key(&args.certs_dir)?)
    } else {
        None
    };
    let mut running: Vec<Running> = Vec::new();
    for service in Service::ALL {
        let config_file = args
            .config_dir
            .as_ref()
            .map(|d| d.join(format!("{}.toml", service.name())))
            .filter(|p| p.exists());
        let cfg = Config::load(service, config_file.as_deref())
            .with_context(|| format!("{service} configuration"))?;
        let addr = SocketAddr::new(cfg.server.host, cfg.server.port);
        let binary = bin_dir.join(format!("{}-server", service.name()));
        if !binary.exists() {
            stop_all(&mut running).await;
            bail!(
                "{} not found (build it with `cargo build --bins`)",
                binary.display()
            );
        }
        let mut cmd = Command::new(&binary);
        if let Some(f) = &config_file {
            cmd.arg("--config").arg(f);
        }
        if args.demo {
            cmd.arg("--demo");
        }
        if let Some(a) = &approval {
            a.apply(service, &mut cmd);
        }
        if args.demo && service == Service::Hospital {
            demo_backup_key(&args.certs_dir, service.name(), &mut cmd)?;
        }
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        running.push(Running {
            service,
            label: service.name().to_string(),
            addr,
            child,
        });
        if args.demo && service == Service::Hospital {
            let second = match second_hospital(
                &args,
                &cfg,
                &binary,
                config_file.as_deref(),
                approval.as_ref(),
            ) {
                Ok(r) => r,
                Err(e) => {
                    stop_all(&mut running).await;
                    return Err(e);
                }
            };
            running.push(second);
        }
    }
    let deadline = Duration::from_secs(args.wait_secs);
    for r in &mut running {
        if let Err(e) = wait_listening(r, deadline).await {
            stop_all(&mut running).await;
            return Err(e);
        }
    }
    print_banner(&running, args.demo);

    let mut exited = None;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        which = first_exit(&mut running) => exited = Some(which),
    }
    stop_all(&mut running).await;
    match exited {
        None => {
            println!("bulkhead: all servers stopped");
            Ok(ExitCode::SUCCESS)
        }
        Some((service, status)) => {
            eprintln!("bulkhead: {service}-server exited ({status}); stopped the others");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The demo's second on-site hospital: the same binary and configuration
/// as the first, with its own tenant, port, database and certificate.
fn second_hospital(
    args: &UpArgs,
    first: &Config,
    binary: &std::path::Path,
    config_file: Option<&std::path::Path>,
    approval: Option<&DemoApproval>,
) -> anyhow::Result<Running> {
    let url = match &args.second_hospital_db {
        Some(u) => u.clone(),
        None => second_db_url(first.database_url())?,
    };
    let addr = SocketAddr::new(first.server.host, args.second_hospital_port);
    let cert = args.certs_dir.join(format!("{SECOND_HOSPITAL_CERT}.crt"));
    let key = args.certs_dir.join(format!("{SECOND_HOSPITAL_CERT}.key"));
    let mut cmd = Command::new(binary);
    if let Some(f) = config_file {
        cmd.arg("--config").arg(f);
    }
    cmd.arg("--demo")
        .env(
            "HOSPITAL__SERVER__PORT",
            args.second_hospital_port.to_string(),
        )
        .env("HOSPITAL__DATABASE__URL", &url)
        .env("HOSPITAL__TENANCY__MODE", "onsite")
        .env(
            "HOSPITAL__TENANCY__TENANT_ID",
            common::config::DEMO_TENANT2_ID,
        )
        .env("HOSPITAL__PLANE__CERT", &cert)
        .env("HOSPITAL__PLANE__KEY", &key);
    if let Some(a) = approval {
        a.apply(Service::Hospital, &mut cmd);
    }
    demo_backup_key(&args.certs_dir, SECOND_HOSPITAL_CERT, &mut cmd)?;
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting the second hospital ({})", binary.display()))?;
    Ok(Running {
        service: Service::Hospital,
        label: SECOND_HOSPITAL_CERT.to_string(),
        addr,
        child,
    })
}

/// The second demo hospital's database beside the first one's: a SQLite
/// file `<stem>-2.db`, or `<database>_2` on the same PostgreSQL server
/// (created if missing).
fn second_db_url(first: &str) -> anyhow::Result<String> {
    if let Some(path) = first.strip_prefix("sqlite://") {
        let path = std::path::Path::new(path);
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("the hospital's SQLite URL names no file")?;
        let file = path.with_file_name(format!("{stem}-2.db"));
        return Ok(format!("sqlite://{}", file.display()));
    }
    let name = crate::register::database_of(first)
        .context("the hospital's database URL names no database")?;
    let second = format!("{name}_2");
    crate::register::check_db_name(&second)?;
    crate::register::create_pg_database(first, &second)?;
    crate::register::with_database(first, &second)
}

async fn wait_listening(r: &mut Running, deadline: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let probe = match r.addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], r.addr.port())),
        _ => r.addr,
    };
    loop {
        if let Some(status) = r.child.try_wait()? {
            bail!("{}-server exited during start-up ({status})", r.label);
        }
        if TcpStream::connect_timeout(&probe, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if started.elapsed() > deadline {
            bail!(
                "{}-server did not listen on {} within {:?}",
                r.label,
                r.addr,
                deadline
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn first_exit(running: &mut [Running]) -> (String, std::process::ExitStatus) {
    loop {
        for r in running.iter_mut() {
            if let Ok(Some(status)) = r.child.try_wait() {
                return (r.label.clone(), status);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Ask each child to stop (SIGTERM via the shell's `kill`, so actix shuts
/// down gracefully), then kill whatever is left after ten seconds.
async fn stop_all(running: &mut [Running]) {
    for r in running.iter_mut() {
        if let Some(pid) = r.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for r in running.iter_mut() {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, r.child.wait()).await.is_err() {
            let _ = r.child.kill().await;
        }
    }
}

fn print_banner(running: &[Running], demo: bool) {
    println!();
    println!("Bulkhead is up (web pages at each root, the API under its prefix):");
    for r in running {
        println!(
            "  {:<10} http://{}/  http://{}{}",
            r.label,
            r.addr,
            r.addr,
            r.service.api_prefix()
        );
    }
    if demo {
        println!();
        if let Some(h) = running.iter().find(|r| r.service == Service::Hospital) {
            println!(
                "  First: open http://localhost:{} and log in as doctor / doctor123.",
                h.addr.port()
            );
        }
        if let Some(h) = running.iter().find(|r| r.label == SECOND_HOSPITAL_CERT) {
            println!(
                "  A second on-site hospital (Demo Ramzan Hospital) is on http://localhost:{}, same demo logins;",
                h.addr.port()
            );
            println!("  owner (owner / owner123) lists both with their live health.");
        }
        println!();
        println!("  *** DEMO MODE: published passwords, synthetic data only, loopback only ***");
        for r in running {
            let logins: Vec<String> = crate::admin::spec(r.service)
                .demo_users
                .iter()
                .map(|(u, p, role)| format!("{u}/{p} ({role})"))
                .collect();
            println!("  {:<10} {}", r.label, logins.join("  "));
        }
    }
    println!();
    println!("Press Ctrl-C to stop them all.");
}

/// The demo's release-approval key pair: company's private key file and
/// its public half, which the demo hospitals pin.
struct DemoApproval {
    key_file: PathBuf,
    public_key: String,
}

impl DemoApproval {
    /// Hand it to `service`, unless the environment already names one.
    fn apply(&self, service: Service, cmd: &mut Command) {
        let (var, value) = match service {
            Service::Company => (
                "COMPANY__RELEASES__APPROVAL_KEY_FILE",
                self.key_file.display().to_string(),
            ),
            Service::Hospital => (
                "HOSPITAL__UPDATES__APPROVAL_PUBLIC_KEY",
                self.public_key.clone(),
            ),
            Service::Dev | Service::Owner => return,
        };
        if std::env::var_os(var).is_none() {
            cmd.env(var, value);
        }
    }
}

/// A demo hospital's backup key, `<certs>/<label>.backup.key`, made once
/// (0600), handed over unless the environment names one: the demo's
/// online copy is shipped to owner like a real one.
fn demo_backup_key(
    certs_dir: &std::path::Path,
    label: &str,
    cmd: &mut Command,
) -> anyhow::Result<()> {
    let file = certs_dir.join(format!("{label}.backup.key"));
    if !file.exists() {
        hospital::backup::write_key(&file, &contracts::backup::BackupKey::generate()?)?;
    }
    if std::env::var_os("HOSPITAL__BACKUP__KEY_FILE").is_none() {
        cmd.env("HOSPITAL__BACKUP__KEY_FILE", &file);
    }
    Ok(())
}

/// `<certs>/company-approval.key`, made once (mode 0600, never replaced).
fn demo_approval_key(certs_dir: &std::path::Path) -> anyhow::Result<DemoApproval> {
    use common::fsutil::{write_atomic, Access, Existing};
    let key_file = certs_dir.join("company-approval.key");
    if !key_file.exists() {
        let (key, _) = contracts::release::generate()?;
        write_atomic(&key_file, &key, Access::Private, Existing::Keep)
            .context("writing the demo release-approval key")?;
    }
    let key =
        std::fs::read(&key_file).with_context(|| format!("reading {}", key_file.display()))?;
    Ok(DemoApproval {
        public_key: contracts::release::public_key_of(&key)
            .with_context(|| format!("{}", key_file.display()))?,
        key_file,
    })
}
