//! `bulkhead up`: start the four server binaries found next to this one as
//! child processes, print their URLs (and the demo logins), stop them all
//! on Ctrl-C, and exit non-zero if one dies.

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
}

struct Running {
    service: Service,
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
        if !created.is_empty() {
            println!(
                "bulkhead: demo certificates created in {}: {}",
                args.certs_dir.display(),
                created.join(", ")
            );
        }
    }
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
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        running.push(Running {
            service,
            addr,
            child,
        });
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

async fn wait_listening(r: &mut Running, deadline: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let probe = match r.addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], r.addr.port())),
        _ => r.addr,
    };
    loop {
        if let Some(status) = r.child.try_wait()? {
            bail!("{}-server exited during start-up ({status})", r.service);
        }
        if TcpStream::connect_timeout(&probe, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if started.elapsed() > deadline {
            bail!(
                "{}-server did not listen on {} within {:?}",
                r.service,
                r.addr,
                deadline
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn first_exit(running: &mut [Running]) -> (Service, std::process::ExitStatus) {
    loop {
        for r in running.iter_mut() {
            if let Ok(Some(status)) = r.child.try_wait() {
                return (r.service, status);
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
            "  {:<9} http://{}/  http://{}{}",
            r.service.name(),
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
            println!();
        }
        println!("  *** DEMO MODE: published passwords, synthetic data only, loopback only ***");
        for r in running {
            let logins: Vec<String> = crate::admin::spec(r.service)
                .demo_users
                .iter()
                .map(|(u, p, role)| format!("{u}/{p} ({role})"))
                .collect();
            println!("  {:<9} {}", r.service.name(), logins.join("  "));
        }
    }
    println!();
    println!("Press Ctrl-C to stop all four.");
}
