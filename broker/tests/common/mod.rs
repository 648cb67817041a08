//! Shared by the broker's integration tests: a real broker in process on a
//! loopback socket, and test `DynamicPropEval` servers on loopback sockets
//! whose answers, delay and failures a test sets and which count the calls
//! they receive.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bourse_broker::config::Config;
use bourse_proto as pb;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

/// A DynamicPropEval server with settable figures.
#[derive(Clone, Default)]
pub struct TestEvaluator {
    pub state: Arc<EvalState>,
}

#[derive(Default)]
pub struct EvalState {
    pub calls: AtomicU64,
    /// (offer id or "*", property) -> value.
    pub values: Mutex<Vec<(String, String, pb::Value)>>,
    pub delay: Mutex<Duration>,
    pub fail: Mutex<bool>,
    /// Sample age to report with every value (`age_ms`); `None`: not said.
    pub age_ms: Mutex<Option<u64>>,
}

impl TestEvaluator {
    pub fn set(&self, offer: &str, property: &str, value: pb::Value) {
        let mut values = self.state.values.lock().expect("lock");
        values.retain(|(o, p, _)| !(o == offer && p == property));
        values.push((offer.to_string(), property.to_string(), value));
    }

    pub fn calls(&self) -> u64 {
        self.state.calls.load(Ordering::SeqCst)
    }

    pub async fn serve(self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(
            Server::builder()
                .add_service(pb::dynamic_prop_eval_server::DynamicPropEvalServer::new(self))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        addr
    }
}

#[tonic::async_trait]
impl pb::dynamic_prop_eval_server::DynamicPropEval for TestEvaluator {
    async fn eval(&self, request: Request<pb::EvalRequest>) -> Result<Response<pb::EvalResponse>, Status> {
        self.state.calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.state.delay.lock().expect("lock");
        tokio::time::sleep(delay).await;
        if *self.state.fail.lock().expect("lock") {
            return Err(Status::unavailable("evaluator is broken"));
        }
        let values = self.state.values.lock().expect("lock").clone();
        let age_ms = *self.state.age_ms.lock().expect("lock");
        let results = request
            .into_inner()
            .items
            .into_iter()
            .map(|item| {
                let found = values
                    .iter()
                    .find(|(o, p, _)| (o == &item.offer_id || o == "*") && p == &item.property)
                    .map(|(_, _, v)| v.clone());
                pb::EvalResult {
                    offer_id: item.offer_id,
                    property: item.property.clone(),
                    outcome: Some(match found {
                        Some(v) => pb::eval_result::Outcome::Value(v),
                        None => pb::eval_result::Outcome::Error(format!("no value for {}", item.property)),
                    }),
                    age_ms,
                }
            })
            .collect();
        Ok(Response::new(pb::EvalResponse { results }))
    }
}

pub struct Harness {
    pub broker: bourse_broker::RunningBroker,
    pub channel: Channel,
}

impl Harness {
    pub async fn start() -> Harness {
        let config = Config {
            sweep_interval: Duration::from_millis(50),
            ..Config::in_memory("127.0.0.1:0".parse().expect("addr"))
        };
        let broker = bourse_broker::start(&config).await.expect("broker");
        let channel = Channel::from_shared(format!("http://{}", broker.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        Harness { broker, channel }
    }

    /// Exports a MediaServer whose connections and load are dynamic.
    pub async fn export(
        &self,
        host: &str,
        max_connections: u64,
        evaluator: SocketAddr,
        max_age_ms: u64,
    ) -> String {
        let dynamic = |value_type: pb::ValueType| pb::DynamicProp {
            evaluator: format!("http://{evaluator}"),
            extra_info: None,
            max_age_ms,
            value_type: value_type as i32,
        };
        let props = vec![
            pb::Property::value("host", pb::Value::string(host)),
            pb::Property::value("video_formats", pb::Value::string_seq(["h264"])),
            pb::Property::value("audio_formats", pb::Value::string_seq(["aac"])),
            pb::Property::value("protocols", pb::Value::string_seq(["rtsp"])),
            pb::Property::value("max_connections", pb::Value::uint64(max_connections)),
            pb::Property::dynamic("connections", dynamic(pb::ValueType::Uint64)),
            pb::Property::dynamic("load", dynamic(pb::ValueType::Double)),
        ];
        let mut register = pb::register_client::RegisterClient::new(self.channel.clone());
        register
            .export(pb::ExportRequest {
                r#type: "MediaServer".into(),
                reference: format!("rtsp://{host}/"),
                properties: props,
                lease_seconds: 0,
                owner: "test".into(),
            })
            .await
            .expect("export")
            .into_inner()
            .id
    }

    pub async fn query(
        &self,
        constraint: &str,
        preference: &str,
        policies: Vec<pb::Policy>,
    ) -> pb::QueryResponse {
        let mut lookup = pb::lookup_client::LookupClient::new(self.channel.clone());
        lookup
            .query(pb::QueryRequest {
                r#type: "MediaServer".into(),
                constraint: constraint.into(),
                preference: preference.into(),
                policies,
                desired: Some(pb::DesiredProps {
                    mode: pb::PropsMode::Named as i32,
                    names: vec!["host".into(), "load".into(), "connections".into()],
                }),
                how_many: 0,
            })
            .await
            .expect("query")
            .into_inner()
    }

    pub async fn counter(&self, name: &str) -> u64 {
        let mut admin = pb::admin_client::AdminClient::new(self.channel.clone());
        let stats = admin.stats(pb::StatsRequest {}).await.expect("stats").into_inner();
        stats.counters.get(name).copied().unwrap_or(0)
    }
}

pub fn hosts(reply: &pb::QueryResponse) -> Vec<String> {
    reply
        .offers
        .iter()
        .filter_map(|o| o.properties.iter().find(|p| p.name == "host"))
        .filter_map(|p| match p.value.as_ref()?.kind.as_ref()? {
            pb::value::Kind::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

pub fn prop<'a>(offer: &'a pb::MatchedOffer, name: &str) -> Option<&'a pb::value::Kind> {
    offer.properties.iter().find(|p| p.name == name)?.value.as_ref()?.kind.as_ref()
}
