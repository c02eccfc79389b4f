//! `bulkhead`: the Bulkhead admin CLI. Its commands read the same
//! configuration as the servers (defaults, `--config FILE`, env with the
//! service's prefix), so `./data` and `./certs` under the current
//! directory unless told otherwise.

// A CLI's job is to print; the servers' lint against println! does not apply here.
#![allow(clippy::print_stdout)]

mod admin;
mod bench;
mod certs;
mod config_check;
mod keys;
mod register;
mod release;
mod restore;
mod sandbox;
mod up;
mod update;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::Service;

#[derive(Parser)]
#[command(
    name = "bulkhead",
    version,
    about = "Run and administer the Bulkhead servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the four servers (binaries next to this one) until Ctrl-C.
    Up(up::UpArgs),
    /// Run a server's pending database migrations.
    Migrate {
        /// hospital, company, dev or owner.
        #[arg(long)]
        service: Service,
        /// The server's TOML configuration.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// User tools.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Certificates of the internal plane: CA, service certificates, CRL.
    Certs {
        #[command(subcommand)]
        command: certs::CertsCommand,
    },
    /// Field encryption keys: rotate, rewrap, re-encrypt, re-index.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Register a hospital with owner, issue its certificate, create its
    /// database and write its configuration; prints the tenant id.
    RegisterTenant(Box<register::RegisterArgs>),
    /// Rebuild an empty hospital database from the online copy owner keeps
    /// (`--service hospital --from-owner`), then verify its audit chain
    /// against company's anchors.
    Restore(restore::RestoreArgs),
    /// Release signing: make a key pair, sign an artifact's manifest.
    Release {
        #[command(subcommand)]
        command: release::ReleaseCommand,
    },
    /// A hospital's update: ask company which release is approved, check both
    /// signatures (`--check`), and stage the artifact after checking its hash
    /// (`--stage`).
    Update(update::UpdateArgs),
    /// dev's synthetic sandbox: `seed --patients 10000` for load tests.
    Sandbox {
        #[command(subcommand)]
        command: sandbox::SandboxCommand,
    },
    /// Machine baselines for `make bench-http` (bcrypt rate).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk a server's audit chain: exit 0 if intact, 1 if tampered.
    Verify {
        /// hospital, company, dev or owner.
        #[arg(long)]
        service: Service,
        /// The server's TOML configuration.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also compare the chain with the anchors the company server holds.
        #[arg(long)]
        against_company: bool,
        /// For `--service dev`: company's configuration (its certificate reads dev's anchors).
        #[arg(long)]
        company_config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Would the server start with this configuration, and is it fit for
    /// production? Prints each error and warning; exit 1 on any error.
    Check {
        /// hospital, company, dev or owner.
        #[arg(long)]
        service: Service,
        /// The server's TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user directly in a server's database (audited as `cli`).
    Create(admin::CreateUserArgs),
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Migrate { service, config } => admin::migrate(service, config.as_deref()),
        Command::Audit {
            command:
                AuditCommand::Verify {
                    service,
                    config,
                    against_company,
                    company_config,
                },
        } => admin::audit_verify(
            service,
            config.as_deref(),
            against_company.then_some(company_config.as_deref()),
        ),
        Command::Users {
            command: UsersCommand::Create(args),
        } => admin::create_user(args),
        Command::Certs { command } => certs::run(command),
        Command::Config {
            command: ConfigCommand::Check { service, config },
        } => config_check::run(service, &config),
        Command::Bench { command } => bench::run(command),
        Command::Keys { command } => keys::run(command),
        Command::Release { command } => release::run(command),
        Command::RegisterTenant(args) => register::run(*args),
        Command::Restore(args) => restore::run(args),
        Command::Update(args) => update::run(&args),
        Command::Sandbox { command } => sandbox::run(command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bulkhead: {e:#}");
            ExitCode::from(2)
        }
    }
}
