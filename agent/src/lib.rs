//! The Bourse agent (`bourse-agent`): runs beside a media server and keeps
//! that server's offer true in a Bourse broker.
//!
//! - [`catalog`] scans the media directory into titles with details and
//!   watches it for changes;
//! - [`measure`] samples the machine in one background thread;
//! - [`eval`] serves `bourse.v1.DynamicPropEval` from the latest sample;
//! - [`health`] checks the media server;
//! - [`exporter`] exports, renews, modifies and withdraws the offer.
//!
//! [`start`] wires them together and returns a [`RunningAgent`]; [`run`]
//! does the same until a shutdown future resolves. The binary and the
//! integration tests both use them.

pub mod catalog;
pub mod config;
pub mod eval;
pub mod exporter;
pub mod health;
pub mod measure;
pub mod offer;
pub mod procfs;
pub mod template;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bourse_proto as pb;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, Scanner, UrlSettings};
pub use crate::config::{BrokerAddress, Config, ConfigError};
use crate::eval::{EvalService, OfferIds};
use crate::exporter::Exporter;
use crate::measure::{Sample, Sampler, SamplerThread};
use crate::offer::OfferSpec;

/// Something that happened, for the binary to print or a test to await.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// The callback service is serving on this address.
    Listening { addr: SocketAddr, evaluator: String },
    /// mDNS found the broker (only when no address was configured).
    BrokerFound { endpoint: String, id: String },
    /// The broker accepted an export (first, or again after it forgot).
    Exported { id: String },
    /// A catalog change reached the broker.
    CatalogUpdated { id: String, titles: usize },
    /// The offer is gone from the broker.
    Withdrawn { id: String, reason: &'static str },
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration (or the catalog file it names) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("media.catalog: {0}")]
    Catalog(String),
    #[error("media.dir: {0}")]
    MediaDir(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("broker: {0}")]
    Broker(String),
    #[error("cannot start the sampler: {0}")]
    Sampler(std::io::Error),
}

impl StartError {
    /// Whether the fault is in the configuration (exit status 64).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            StartError::Config(_) | StartError::Catalog(_) | StartError::MediaDir(_) | StartError::Broker(_)
        )
    }
}

/// How long the final Withdraw may take when the agent stops.
pub const WITHDRAW_GRACE: Duration = Duration::from_secs(3);

/// A running agent.
pub struct RunningAgent {
    /// Where the callback service listens.
    pub evaluator_addr: SocketAddr,
    /// What the offer's dynamic properties point at (`http://host:port`).
    pub evaluator_url: String,
    /// Exports, catalog pushes and withdrawals, in order.
    pub events: mpsc::UnboundedReceiver<AgentEvent>,
    /// The offer id the broker holds now, if any.
    pub offer: watch::Receiver<Option<String>>,
    /// The latest catalog.
    pub catalog: watch::Receiver<Arc<Catalog>>,
    /// The latest measurements.
    pub sample: watch::Receiver<Arc<Sample>>,
    /// Cancelled first: the exporter withdraws.
    stop_exporter: CancellationToken,
    /// Cancelled once the exporter is done: server, watcher, health.
    stop_rest: CancellationToken,
    exporter: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
    /// Kept so that the media state never "closes" without a health check.
    _media_up: Option<watch::Sender<bool>>,
    sampler: SamplerThread,
}

/// Scans the catalog, starts the sampler, binds and serves the callback
/// service, starts the health check, the directory watch and the exporter.
pub async fn start(config: Config) -> Result<RunningAgent, StartError> {
    let urls = UrlSettings {
        template: config.url_template.clone(),
        host: config.media_host.clone(),
        port: config.media_port,
    };
    let mut scanner =
        Scanner::new(config.media_dir.clone(), config.catalog_file.clone(), urls, config.use_ffprobe);
    scanner.check_catalog_file().map_err(|e| StartError::Catalog(e.to_string()))?;
    let initial = scanner.scan().await.map_err(|e| StartError::MediaDir(e.to_string()))?;
    tracing::info!(titles = initial.titles.len(), dir = %config.media_dir.display(), "catalog scanned");
    let (catalog_tx, catalog_rx) = watch::channel(Arc::new(initial));

    let sampler = Sampler::new(
        &config.media_dir,
        config.media_port,
        config.bandwidth_capacity,
        config.simulate.clone(),
    );
    let demand = sampler.demand();
    let interval = config.interval;
    let (sampler, sample_rx) = tokio::task::spawn_blocking(move || SamplerThread::spawn(sampler, interval))
        .await
        .map_err(|e| StartError::Sampler(std::io::Error::other(e.to_string())))?
        .map_err(StartError::Sampler)?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen { addr: config.listen, source })?;
    let evaluator_addr =
        listener.local_addr().map_err(|source| StartError::Listen { addr: config.listen, source })?;
    let evaluator_url = offer::evaluator_url(&config, evaluator_addr);

    let stop_exporter = CancellationToken::new();
    let stop_rest = CancellationToken::new();
    let offers = OfferIds::default();
    let mut others = Vec::new();

    let service = EvalService::new(sample_rx.clone(), offers.clone(), demand);
    others.push(tokio::spawn(serve(listener, service, stop_rest.clone())));

    let (media_up, media_up_tx) = match config.health.clone() {
        Some(health) => {
            let (rx, task) = health::start(health, stop_rest.clone()).await;
            others.push(task);
            (rx, None)
        }
        None => {
            let (tx, rx) = watch::channel(true);
            (rx, Some(tx))
        }
    };

    others.push(tokio::spawn(catalog::watch::run(
        scanner,
        config.media_dir.clone(),
        config.catalog_file.clone(),
        config.rescan_interval,
        catalog_tx,
        stop_rest.clone(),
    )));

    let (events_tx, events) = mpsc::unbounded_channel();
    let _ = events_tx.send(AgentEvent::Listening { addr: evaluator_addr, evaluator: evaluator_url.clone() });
    let (current_tx, offer) = watch::channel(None);
    let spec = OfferSpec::new(&config, &evaluator_url);
    let catalog = catalog_rx.clone();
    let make_exporter = move |client| Exporter {
        client,
        spec,
        catalog,
        media_up,
        offers,
        current: current_tx,
        events: events_tx,
        withdraw_grace: WITHDRAW_GRACE,
        rediscover: None,
    };
    let lease = config.lease;
    let exporter = match config.broker.clone() {
        BrokerAddress::Fixed(endpoint) => {
            let client =
                exporter::register_client(&endpoint, lease).map_err(|e| StartError::Broker(e.to_string()))?;
            tokio::spawn(make_exporter(client).run(stop_exporter.clone()))
        }
        BrokerAddress::Discover { mdns_port, broker_id } => {
            let stop = stop_exporter.clone();
            tokio::spawn(async move {
                let options =
                    bourse_proto::discovery::Discover { mdns_port, id: broker_id, ..Default::default() };
                let Some(found) = find_broker(options.clone(), &stop).await else { return };
                match exporter::register_client(&found.endpoint, lease) {
                    Ok(client) => {
                        let mut exporter = make_exporter(client);
                        exporter.rediscover =
                            Some(exporter::Rediscover { options, endpoint: found.endpoint.clone() });
                        let _ = exporter
                            .events
                            .send(AgentEvent::BrokerFound { endpoint: found.endpoint, id: found.id });
                        exporter.run(stop).await;
                    }
                    Err(err) => {
                        tracing::error!(endpoint = %found.endpoint, error = %err, "the broker found by mDNS is unusable")
                    }
                }
            })
        }
    };
    tracing::info!(evaluator = %evaluator_url, broker = %config.broker, "bourse-agent running");

    Ok(RunningAgent {
        evaluator_addr,
        evaluator_url,
        events,
        offer,
        catalog: catalog_rx,
        sample: sample_rx,
        stop_exporter,
        stop_rest,
        exporter,
        others,
        _media_up: media_up_tx,
        sampler,
    })
}

/// Looks for the broker by mDNS until one answers or `stop`: says so
/// clearly if none answers within the first few seconds, then keeps
/// looking (a broker may start after its agents).
async fn find_broker(
    mut options: bourse_proto::discovery::Discover,
    stop: &CancellationToken,
) -> Option<bourse_proto::discovery::Found> {
    use bourse_proto::discovery::{self, DiscoveryError};
    let mut attempts = 0u32;
    loop {
        let result = tokio::select! {
            _ = stop.cancelled() => return None,
            result = discovery::discover(&options) => result,
        };
        match result {
            Ok(found) => {
                tracing::info!(broker = %found.endpoint, id = %found.id, name = %found.fullname, "found the broker by mDNS");
                return Some(found);
            }
            Err(DiscoveryError::NothingAnswered(waited)) => {
                attempts += 1;
                if attempts == 1 {
                    tracing::warn!(
                        waited = ?waited,
                        "no broker answered on mDNS ({}); still looking. Set `broker` in the config, \
                         BOURSE_BROKER or --broker to give its address",
                        discovery::SERVICE_TYPE
                    );
                }
                // Browse longer once the quick start has failed.
                options.timeout = Duration::from_secs(15);
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot look for the broker by mDNS; retrying in 5 s");
                tokio::select! {
                    _ = stop.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    }
}

/// Serves the callback service and gRPC health until `stop`.
async fn serve(listener: tokio::net::TcpListener, service: EvalService, stop: CancellationToken) {
    use pb::dynamic_prop_eval_server::DynamicPropEvalServer;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<DynamicPropEvalServer<EvalService>>().await;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(DynamicPropEvalServer::new(service).max_decoding_message_size(16 << 20))
        .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
        .await;
    if let Err(err) = result {
        tracing::error!(error = %err, "callback service failed");
    }
}

impl RunningAgent {
    /// Stops the agent: the offer is withdrawn first (bounded by
    /// [`WITHDRAW_GRACE`]), then the callback service, the watch and the
    /// health check end; everything is awaited for at most `grace`.
    pub async fn shutdown(self, grace: Duration) {
        let RunningAgent { stop_exporter, stop_rest, exporter, others, sampler, .. } = self;
        stop_exporter.cancel();
        let drain = async {
            let _ = exporter.await;
            stop_rest.cancel();
            for task in others {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!(?grace, "agent tasks did not stop in time; leaving anyway");
            stop_rest.cancel();
        }
        // Joins the sampler thread (it wakes at once).
        drop(sampler);
    }

    /// Stops the agent abruptly, without withdrawing: what a crash looks
    /// like to the broker (tests use it).
    pub fn abort(self) {
        self.exporter.abort();
        self.stop_rest.cancel();
        for task in &self.others {
            task.abort();
        }
    }
}

/// Runs an agent until `shutdown` resolves, passing each event to
/// `on_event`, then stops it cleanly (the withdrawal is reported too).
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()>,
    mut on_event: impl FnMut(&AgentEvent),
) -> Result<(), StartError> {
    let mut agent = start(config).await?;
    let (_, closed) = mpsc::unbounded_channel();
    let mut events = std::mem::replace(&mut agent.events, closed);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            event = events.recv() => match event {
                Some(event) => on_event(&event),
                None => break,
            },
        }
    }
    agent.shutdown(Duration::from_secs(10)).await;
    while let Ok(event) = events.try_recv() {
        on_event(&event);
    }
    Ok(())
}
