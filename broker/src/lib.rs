//! The Bourse trader (`bourse-broker`): service types, offers, the OMG
//! trading constraint language, import policies, leases and paging,
//! served over gRPC (`bourse.v1`).
//!
//! [`start`] runs a complete broker from a [`Config`]; the binary, the
//! end-to-end tests and the selector's embedded demo all use it.

pub mod config;
pub mod dynamic;
pub mod error;
pub mod metrics;
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
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bourse_proto::discovery::{Advertise, Advertisement};
pub use config::Config;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
pub use trader::Trader;

/// A broker running in this process.
pub struct RunningBroker {
    /// The address it listens on (with the real port when 0 was asked).
    pub addr: SocketAddr,
    pub trader: Arc<Trader>,
    /// The broker's id (the TXT `id` of its mDNS announcement).
    pub id: String,
    /// Where `/metrics` is served, when the config asks for it.
    pub metrics_addr: Option<SocketAddr>,
    /// The mDNS announcement, when the config asks for one.
    advertisement: Option<Advertisement>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), server::ServeError>>,
    metrics_task: Option<JoinHandle<()>>,
}

impl RunningBroker {
    /// Withdraws the mDNS announcement, stops accepting, drains
    /// connections and waits for the server to end.
    pub async fn shutdown(mut self) -> Result<(), server::ServeError> {
        self.withdraw_advertisement().await;
        self.stop.cancel();
        if let Some(metrics) = self.metrics_task.take() {
            let _ = metrics.await;
        }
        self.task.await.unwrap_or(Ok(()))
    }

    /// Sends the mDNS goodbye (browsers forget the broker at once) and
    /// stops answering; the gRPC server keeps serving.
    async fn withdraw_advertisement(&mut self) {
        if let Some(ad) = self.advertisement.take() {
            ad.withdraw(Duration::from_secs(1)).await;
            tracing::info!("mDNS announcement withdrawn");
        }
    }

    /// Requests a stop without waiting.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
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
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading type file {}", path.display()))?;
        decls.extend(
            bourse_proto::typefile::parse(&text).with_context(|| format!("type file {}", path.display()))?,
        );
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
    let metrics_listener = match config.metrics_listen {
        Some(listen) => Some(
            tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("metrics.listen: cannot listen on {listen}"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().map(tokio::net::TcpListener::local_addr).transpose()?;
    let stop = CancellationToken::new();
    let options = server::ServeOptions { sweep_interval: config.sweep_interval };
    let task = tokio::spawn(server::serve(listener, trader.clone(), options, stop.clone().cancelled_owned()));
    if let Some(addr) = metrics_addr {
        tracing::info!(%addr, "serving Prometheus metrics at {}", metrics::PATH);
    }
    let metrics_task =
        metrics_listener.map(|listener| tokio::spawn(metrics::serve(listener, trader.clone(), stop.clone())));
    let id = match config.mdns.as_ref().and_then(|m| m.id.clone()) {
        Some(id) => id,
        None => broker_id(config.data_dir.as_deref())?,
    };
    let advertisement = match &config.mdns {
        Some(mdns) => {
            let ad = Advertise {
                listen: addr,
                id: id.clone(),
                instance: mdns.instance.clone().unwrap_or_else(|| format!("bourse-{id}")),
                tls: false,
                mdns_port: mdns.port,
            };
            match Advertisement::start(&ad) {
                Ok(ad) => {
                    tracing::info!(name = ad.fullname(), %addr, "announced over mDNS");
                    Some(ad)
                }
                // The broker serves without it: clients can still be given
                // the address.
                Err(err) => {
                    tracing::warn!(error = %err, "cannot announce over mDNS; clients need the address");
                    None
                }
            }
        }
        None => None,
    };
    Ok(RunningBroker { addr, trader, id, metrics_addr, advertisement, stop, task, metrics_task })
}

/// The file in the data directory that keeps the broker's id.
const ID_FILE: &str = "broker-id";

/// The broker's id: kept in the data directory once made, so that clients
/// see the same broker after a restart; in memory, new for each run.
fn broker_id(data_dir: Option<&Path>) -> anyhow::Result<String> {
    use anyhow::Context;
    let fresh = || format!("{:016x}", rand::random::<u64>());
    let Some(dir) = data_dir else { return Ok(fresh()) };
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => write_id(&path, fresh()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => write_id(&path, fresh()),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_id(path: &Path, id: String) -> anyhow::Result<String> {
    use anyhow::Context;
    std::fs::write(path, format!("{id}\n")).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}
