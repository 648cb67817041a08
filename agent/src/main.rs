//! `bourse-agent`: not implemented yet.
use clap::Parser;

/// Runs beside a media server and keeps its offer in a Bourse broker.
#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    anyhow::bail!("bourse-agent is not implemented yet")
}
