//! `bulkhead bench bcrypt`: how many bcrypt verifications per second this
//! machine's cores manage at a cost, with the servers' own implementation.
//! `make bench-http` prints login throughput against this figure.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Verifications per second on every core (prints one number).
    Bcrypt {
        /// The bcrypt cost to measure.
        #[arg(long, default_value_t = 10)]
        cost: u32,
        /// How long to measure.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
}

pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Bcrypt { cost, seconds } => {
            let rate = bcrypt_rate(cost, Duration::from_secs(seconds.clamp(1, 60)))?;
            println!("{rate:.2}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn bcrypt_rate(cost: u32, span: Duration) -> anyhow::Result<f64> {
    let hash = common::auth::password::hash("benchmark-password-1", cost)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let mut n = 0_u64;
                while start.elapsed() < span {
                    common::auth::password::verify("wrong-password-1", &hash);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.join().ok().context("a bench thread panicked")?;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}
