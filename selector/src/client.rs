//! The connection to the broker: one gRPC channel with a short connect
//! timeout, and a per-call deadline put on every request.

use std::time::Duration;

use bourse_proto::admin_client::AdminClient;
use bourse_proto::lookup_client::LookupClient;
use bourse_proto::register_client::RegisterClient;
use bourse_proto::type_repository_client::TypeRepositoryClient;
use tonic::transport::{Channel, Endpoint};

use crate::cli::{DEFAULT_BROKER, GlobalArgs};
use crate::error::{CliError, status_error};

/// Connecting never waits longer than this, whatever `--timeout` says.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Replies can be large (record lists of big catalogs).
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// A connected broker.
#[derive(Debug, Clone)]
pub struct Broker {
    channel: Channel,
    /// The address as the user gave it, for messages.
    address: String,
    call_timeout: Duration,
}

/// The broker address to use: `--broker` (or `BOURSE_BROKER`) when given;
/// else the broker that answers on mDNS within a few seconds; with
/// `--no-mdns`, [`DEFAULT_BROKER`].
pub async fn resolve_broker(global: &GlobalArgs) -> Result<String, CliError> {
    use bourse_proto::discovery::{self, Discover};
    if let Some(address) = &global.broker {
        return Ok(address.clone());
    }
    if global.no_mdns {
        return Ok(DEFAULT_BROKER.to_string());
    }
    let options = Discover {
        mdns_port: global.mdns_port.unwrap_or(discovery::MDNS_PORT),
        timeout: discovery::DEFAULT_TIMEOUT,
        id: global.broker_id.clone(),
        ..Discover::default()
    };
    match discovery::discover(&options).await {
        Ok(found) => {
            tracing::info!(broker = %found.endpoint, id = %found.id, name = %found.fullname, "found the broker by mDNS");
            Ok(found.endpoint)
        }
        Err(err @ discovery::DiscoveryError::NothingAnswered(_)) => {
            let with_id =
                global.broker_id.as_ref().map(|id| format!(" (none with id '{id}')")).unwrap_or_default();
            Err(CliError::NoBroker(format!(
                "{err}{with_id}; give its address with --broker ADDR or BOURSE_BROKER \
                 (or --no-mdns for {DEFAULT_BROKER})"
            )))
        }
        Err(err) => Err(CliError::NoBroker(format!(
            "cannot look for the broker: {err}; give its address with --broker ADDR or BOURSE_BROKER"
        ))),
    }
}

/// The URI of a broker address: `host:port` becomes `http://host:port`;
/// `http://` addresses are kept. TLS (`https://`) is not supported yet.
pub fn broker_uri(address: &str) -> Result<String, CliError> {
    let address = address.trim();
    if address.starts_with("https://") {
        return Err(CliError::Usage(format!("--broker {address}: TLS is not supported yet; use http://")));
    }
    let uri = if address.starts_with("http://") { address.to_string() } else { format!("http://{address}") };
    let authority = &uri["http://".len()..];
    if authority.is_empty() || authority.starts_with('/') || authority.contains(char::is_whitespace) {
        return Err(CliError::Usage(format!("--broker {address}: expected host:port or http://host:port")));
    }
    Ok(uri)
}

impl Broker {
    /// Connects to `address`, failing as unreachable after a connect timeout
    /// of at most three seconds (less if `call_timeout` is shorter).
    pub async fn connect(address: &str, call_timeout: Duration) -> Result<Self, CliError> {
        let uri = broker_uri(address)?;
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| CliError::Usage(format!("--broker {address}: {e}")))?
            .connect_timeout(call_timeout.min(MAX_CONNECT_TIMEOUT))
            .timeout(call_timeout);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| CliError::Unreachable { address: address.to_string(), reason: error_chain(&e) })?;
        Ok(Broker { channel, address: address.to_string(), call_timeout })
    }

    /// A broker that is connected on first use and reconnected after a
    /// failure, for long sessions (the terminal UI): a broker that goes
    /// away and comes back needs no restart. Unary calls carry the call
    /// timeout (see [`Broker::request`]); streams have none.
    pub fn lazy(address: &str, call_timeout: Duration) -> Result<Self, CliError> {
        let uri = broker_uri(address)?;
        let channel = Endpoint::from_shared(uri)
            .map_err(|e| CliError::Usage(format!("--broker {address}: {e}")))?
            .connect_timeout(call_timeout.min(MAX_CONNECT_TIMEOUT))
            .connect_lazy();
        Ok(Broker { channel, address: address.to_string(), call_timeout })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn lookup(&self) -> LookupClient<Channel> {
        LookupClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn register(&self) -> RegisterClient<Channel> {
        RegisterClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn types(&self) -> TypeRepositoryClient<Channel> {
        TypeRepositoryClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// A request carrying the call deadline, sent as `grpc-timeout` so that
    /// the broker can give up too.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.call_timeout);
        request
    }

    /// The error of a failed call.
    pub fn error(&self, status: tonic::Status) -> CliError {
        status_error(&self.address, status)
    }
}

/// An error and its sources, `outer: inner: innermost`, because tonic's
/// transport error alone only says "transport error".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_http_uris() {
        assert_eq!(broker_uri("127.0.0.1:7300").ok(), Some("http://127.0.0.1:7300".to_string()));
        assert_eq!(broker_uri(" http://broker:7300 ").ok(), Some("http://broker:7300".to_string()));
        assert_eq!(broker_uri("[::1]:7300").ok(), Some("http://[::1]:7300".to_string()));
        for bad in ["", "http://", "https://broker:7300", "a b:1"] {
            assert!(matches!(broker_uri(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_reported_as_such() {
        // Bind and drop a listener to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let address = format!("127.0.0.1:{port}");
        let error = Broker::connect(&address, Duration::from_secs(2)).await.err();
        let Some(CliError::Unreachable { address: reported, reason }) = error else {
            panic!("expected unreachable, got {error:?}")
        };
        assert_eq!(reported, address);
        assert!(reason.starts_with("transport error: "), "{reason}");
    }
}
