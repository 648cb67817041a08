//! The Bourse trader (`bourse-broker`): service types, offers, the OMG
//! trading constraint language, import policies, leases and paging,
//! served over gRPC (`bourse.v1`).
//!
//! [`start`] runs a complete broker from a [`Config`]; the binary, the
//! end-to-end tests and the selector's embedded demo all use it.

pub mod config;
pub mod dynamic;
pub mod error;
pub mod names;
pub mod offer;
pub mod pages;
pub mod persist;
pub mod pick;
pub mod policy;
pub mod query;
pub mod server;
pub mod service;
pub mod store;
pub mod tcl;
pub mod trader;
pub mod types;
pub mod value;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::Config;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
pub use trader::Trader;

/// A broker running in this process.
pub struct RunningBroker {
    /// The address it listens on (with the real port when 0 was asked).
    pub addr: SocketAddr,
    pub trader: Arc<Trader>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), server::ServeError>>,
}

impl RunningBroker {
    /// Stops accepting, drains connections and waits for the server to end.
    pub async fn shutdown(self) -> Result<(), server::ServeError> {
        self.stop.cancel();
        self.task.await.unwrap_or(Ok(()))
    }

    /// Requests a stop without waiting.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Waits until the server ends (after a stop).
    pub async fn wait(self) -> Result<(), server::ServeError> {
        self.task.await.unwrap_or(Ok(()))
    }
}

/// Opens the data directory, loads the built-in and configured service
/// types, binds the listener and starts serving.
pub async fn start(config: &Config) -> anyhow::Result<RunningBroker> {
    use anyhow::Context;
    let trader = match &config.data_dir {
        Some(dir) => Trader::open(config.settings.clone(), dir)?,
        None => Trader::in_memory(config.settings.clone())?,
    };
    let trader = Arc::new(trader);
    let mut decls = bourse_proto::typefile::parse(bourse_proto::typefile::MEDIA_SERVER_TYPES)
        .context("built-in type file")?;
    for path in &config.type_files {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading type file {}", path.display()))?;
        decls.extend(bourse_proto::typefile::parse(&text).with_context(|| format!("type file {}", path.display()))?);
    }
    let decls = decls
        .into_iter()
        .map(service::convert::service_type_from_pb)
        .collect::<Result<Vec<_>, _>>()
        .context("type files")?;
    let added = trader.add_missing_types(decls).await.context("loading service types")?;
    if !added.is_empty() {
        tracing::info!(types = ?added, "service types loaded");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let options = server::ServeOptions { sweep_interval: config.sweep_interval };
    let task = tokio::spawn(server::serve(listener, trader.clone(), options, stop.clone().cancelled_owned()));
    Ok(RunningBroker { addr, trader, stop, task })
}
