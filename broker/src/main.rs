//! `bourse-broker`: the Bourse trader as a program.
//!
//! Reads flags, environment and config file, starts the broker, prints
//! `listening on ADDR`, and stops cleanly on SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bourse_broker::config::{self, Config, Overrides, RawConfig};
use clap::Parser;

/// The Bourse trader: service types, offers, constraint queries, leases.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:7300].
    #[arg(long, env = "BOURSE_LISTEN")]
    listen: Option<String>,
    /// Directory for permanent offers and service types
    /// [default: $XDG_DATA_HOME/bourse or ~/.local/share/bourse].
    #[arg(long, env = "BOURSE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keep everything in memory; nothing survives a restart.
    #[arg(long, conflicts_with = "data_dir")]
    in_memory: bool,
    /// Config file (TOML); see deploy/broker.toml.
    #[arg(long, short, env = "BOURSE_CONFIG")]
    config: Option<PathBuf>,
    /// Extra service-type file to load at start (repeatable).
    #[arg(long = "types", value_name = "FILE")]
    type_files: Vec<PathBuf>,
    /// Do not announce the broker over mDNS (_bourse._tcp.local.).
    #[arg(long, env = "BOURSE_NO_MDNS")]
    no_mdns: bool,
    /// UDP port for mDNS; all sides must agree (for tests) [default: 5353].
    #[arg(long, env = "BOURSE_MDNS_PORT", hide = true)]
    mdns_port: Option<u16>,
    /// Serve Prometheus metrics over HTTP at ADDR/metrics [default: not served].
    #[arg(long, env = "BOURSE_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<String>,
}

/// Exit status for a bad configuration (EX_CONFIG would be 78; sysexits'
/// EX_USAGE, 64, is what operators' scripts expect for bad invocations).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("bourse-broker: {err:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("bourse-broker: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bourse-broker: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::{EnvFilter, fmt, prelude::*};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,h2=warn,hyper=warn,tower=warn"));
    tracing_subscriber::registry().with(filter).with(fmt::layer().with_writer(std::io::stderr)).init();
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let raw = match &cli.config {
        Some(path) => config::read_file(path)?,
        None => RawConfig::default(),
    };
    let overrides = Overrides {
        listen: cli.listen.clone(),
        data_dir: cli.data_dir.clone(),
        in_memory: cli.in_memory,
        type_files: cli.type_files.clone(),
        no_mdns: cli.no_mdns,
        mdns_port: cli.mdns_port,
        metrics_listen: cli.metrics_listen.clone(),
    };
    Ok(Config::build(raw, overrides)?)
}

async fn run(config: Config) -> anyhow::Result<()> {
    let broker = bourse_broker::start(&config).await?;
    // Scripts and tests read this line to learn the port.
    println!("listening on {}", broker.addr);
    if let Some(addr) = broker.metrics_addr {
        println!("metrics on http://{addr}{}", bourse_broker::metrics::PATH);
    }
    tracing::info!(addr = %broker.addr, id = %broker.id, data_dir = ?config.data_dir, "bourse-broker serving");

    wait_for_signal().await;
    tracing::info!("shutting down");
    match tokio::time::timeout(Duration::from_secs(10), broker.shutdown()).await {
        Ok(result) => result?,
        Err(_) => tracing::warn!("connections did not drain within 10 s; exiting anyway"),
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch SIGTERM; only SIGINT stops the broker");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
