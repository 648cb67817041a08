//! Serving the broker: the four trader services plus gRPC health and
//! reflection on one listener, and the lease sweeper beside them, all
//! stopped by one shutdown future.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bourse_proto as pb;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::service::TraderService;
use crate::trader::Trader;

/// Largest request the broker decodes (a big catalog export fits easily).
const MAX_MESSAGE_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Options of a running server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How often expired leases and page tokens are swept.
    pub sweep_interval: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { sweep_interval: Duration::from_millis(250) }
    }
}

/// Serves `trader` on `listener` until `shutdown` resolves, then stops
/// accepting, ends the sweeper and returns once connections are drained.
pub async fn serve(
    listener: TcpListener,
    trader: Arc<Trader>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let token = CancellationToken::new();
    let sweeper =
        tokio::spawn(trader.clone().run_sweeper(options.sweep_interval, token.clone().cancelled_owned()));

    let service = TraderService::new(trader, token.clone());
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<pb::lookup_server::LookupServer<TraderService>>().await;
    health.set_serving::<pb::register_server::RegisterServer<TraderService>>().await;
    health.set_serving::<pb::type_repository_server::TypeRepositoryServer<TraderService>>().await;
    health.set_serving::<pb::admin_server::AdminServer<TraderService>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let stop = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });

    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            pb::lookup_server::LookupServer::new(service.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            pb::register_server::RegisterServer::new(service.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            pb::type_repository_server::TypeRepositoryServer::new(service.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(pb::admin_server::AdminServer::new(service))
        .serve_with_incoming_shutdown(incoming, token.clone().cancelled_owned())
        .await;
    token.cancel();
    let _ = sweeper.await;
    result.map_err(ServeError::from)
}
