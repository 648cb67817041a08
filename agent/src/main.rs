//! `bourse-agent`: runs beside a media server and keeps its offer in a
//! Bourse broker.
//!
//! Reads flags, environment and config file (bad config: exit 64), starts
//! the agent, prints `evaluator listening on ADDR` once the callback
//! service serves and `exported offer ID` at each export, and withdraws
//! the offer on SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use bourse_agent::AgentEvent;
use bourse_agent::config::{self, Config, Overrides};
use clap::Parser;

/// Keeps a media server's offer in a Bourse broker and answers its
/// callbacks for live load figures.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Config file (TOML); see deploy/agent.toml.
    #[arg(long, short, env = "BOURSE_AGENT_CONFIG")]
    config: PathBuf,
    /// Broker address, host:port or http://host:port [default: found by
    /// mDNS; with --no-mdns, 127.0.0.1:7300].
    #[arg(long, env = "BOURSE_BROKER")]
    broker: Option<String>,
    /// Do not look for the broker by mDNS when no address is given.
    #[arg(long, env = "BOURSE_NO_MDNS")]
    no_mdns: bool,
    /// UDP port for mDNS; all sides must agree (for tests) [default: 5353].
    #[arg(long, env = "BOURSE_MDNS_PORT", hide = true)]
    mdns_port: Option<u16>,
    /// Address of the callback service; port 0 picks a free port [default: 127.0.0.1:0].
    #[arg(long, env = "BOURSE_AGENT_LISTEN")]
    listen: Option<String>,
    /// host:port the broker should call back [default: from --listen].
    #[arg(long, env = "BOURSE_AGENT_ADVERTISE")]
    advertise: Option<String>,
    /// Directory holding the titles.
    #[arg(long, env = "BOURSE_MEDIA_DIR")]
    media_dir: Option<PathBuf>,
    /// Catalog file adding or overriding per-title details.
    #[arg(long, env = "BOURSE_CATALOG")]
    catalog: Option<PathBuf>,
    /// Host name exported in the offer.
    #[arg(long, env = "BOURSE_HOST")]
    host: Option<String>,
    /// Zone label exported in the offer.
    #[arg(long, env = "BOURSE_ZONE")]
    zone: Option<String>,
    /// Lease asked for the offer, in seconds [default: 10].
    #[arg(long, env = "BOURSE_LEASE_SECONDS")]
    lease_seconds: Option<u64>,
    /// Measurement interval in milliseconds [default: 2000].
    #[arg(long, env = "BOURSE_INTERVAL_MS")]
    interval_ms: Option<u64>,
}

/// Exit status for a bad configuration (sysexits' EX_USAGE, as the broker).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("bourse-agent: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bourse-agent: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bourse_agent::run(config, wait_for_signal(), print_event)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bourse-agent: {err}");
            if err.is_config() { ExitCode::from(EXIT_CONFIG) } else { ExitCode::FAILURE }
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::{EnvFilter, fmt, prelude::*};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,h2=warn,hyper=warn,tower=warn"));
    tracing_subscriber::registry().with(filter).with(fmt::layer().with_writer(std::io::stderr)).init();
}

fn load_config(cli: &Cli) -> Result<Config, config::ConfigError> {
    let raw = config::read_file(&cli.config)?;
    let overrides = Overrides {
        broker: cli.broker.clone(),
        no_mdns: cli.no_mdns,
        mdns_port: cli.mdns_port,
        listen: cli.listen.clone(),
        advertise: cli.advertise.clone(),
        media_dir: cli.media_dir.clone(),
        catalog: cli.catalog.clone(),
        host: cli.host.clone(),
        zone: cli.zone.clone(),
        lease_seconds: cli.lease_seconds,
        interval_ms: cli.interval_ms,
    };
    Config::build(raw, overrides)
}

/// Scripts and tests read these lines on stdout.
fn print_event(event: &AgentEvent) {
    match event {
        AgentEvent::Listening { addr, .. } => println!("evaluator listening on {addr}"),
        AgentEvent::Exported { id } => println!("exported offer {id}"),
        AgentEvent::BrokerFound { endpoint, id } => println!("found broker {id} at {endpoint}"),
        AgentEvent::CatalogUpdated { .. } | AgentEvent::Withdrawn { .. } => {}
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!(error = %err, "cannot watch SIGTERM; only SIGINT stops the agent");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping: withdrawing the offer");
}
