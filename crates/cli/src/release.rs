//! `release`: make an Ed25519 key pair for signing releases, and sign an
//! artifact's manifest. The private key never leaves this machine; the
//! dev server gets only `signing.pub` (`POST /api/v1/dev/signing-keys`).
//!
//! The signature covers the manifest's canonical JSON (see
//! `dev::releases::manifest`): product, version, the artifact's sha256 and
//! size, notes and minimum schema version.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use common::fsutil::{write_atomic, write_private_atomic, Access, Existing};
use dev::releases::manifest::{self, Manifest};

#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Make a key pair: DIR/signing.key (PKCS#8 DER, mode 0600) and
    /// DIR/signing.pub (base64 of the raw 32-byte public key, to register).
    Keygen(KeygenArgs),
    /// Print the base64 signature of an artifact's manifest (its sha256
    /// and size are computed from the file).
    Sign(SignArgs),
}

#[derive(Args)]
pub struct KeygenArgs {
    /// Directory for signing.key and signing.pub (created if missing;
    /// existing keys are never replaced).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct SignArgs {
    /// The private key (`signing.key` from `release keygen`).
    #[arg(long)]
    key: PathBuf,
    /// The artifact to sign.
    #[arg(long)]
    artifact: PathBuf,
    /// Manifest: product.
    #[arg(long)]
    product: String,
    /// Manifest: version.
    #[arg(long = "release-version")]
    version: String,
    /// Manifest: release notes.
    #[arg(long, default_value = "")]
    notes: String,
    /// Manifest: lowest schema version the release runs against.
    #[arg(long, default_value_t = 0)]
    min_schema_version: i64,
    /// Also write the manifest (JSON, canonical form) to this file.
    #[arg(long)]
    manifest_out: Option<PathBuf>,
}

/// Run a `release` command.
pub fn run(command: ReleaseCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReleaseCommand::Keygen(a) => keygen(&a),
        ReleaseCommand::Sign(a) => sign(&a),
    }
}

fn keygen(a: &KeygenArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let (key, public) = manifest::generate()?;
    let (key_path, pub_path) = (a.out.join("signing.key"), a.out.join("signing.pub"));
    if key_path.exists() || pub_path.exists() {
        bail!(
            "{} already holds a signing key; refusing to replace it",
            a.out.display()
        );
    }
    write_private_atomic(&key_path, &key, Existing::Keep)?;
    let public = manifest::b64(&public);
    write_atomic(
        &pub_path,
        format!("{public}\n").as_bytes(),
        Access::Public,
        Existing::Keep,
    )?;
    println!("{public}");
    eprintln!(
        "wrote {} (private, keep it off the server) and {} (register it with the dev server)",
        key_path.display(),
        pub_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn sign(a: &SignArgs) -> anyhow::Result<ExitCode> {
    let key = std::fs::read(&a.key).with_context(|| format!("reading {}", a.key.display()))?;
    let (sha256, size) = manifest::sha256_file(&a.artifact)
        .with_context(|| format!("reading {}", a.artifact.display()))?;
    let m = Manifest {
        min_schema_version: a.min_schema_version,
        notes: a.notes.clone(),
        product: a.product.clone(),
        sha256,
        size: i64::try_from(size).context("the artifact is too large")?,
        version: a.version.clone(),
    };
    if let Err((field, problem)) = m.check() {
        bail!("manifest {field}: {problem}");
    }
    let signature = manifest::sign(&key, &m)?;
    if let Some(path) = &a.manifest_out {
        write_atomic(path, &m.canonical(), Access::Public, Existing::Replace)?;
    }
    println!("{signature}");
    Ok(ExitCode::SUCCESS)
}
