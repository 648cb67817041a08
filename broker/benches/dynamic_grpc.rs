//! Cost of dynamic properties over gRPC on loopback.
//!
//! A real broker in this process, 100 real `DynamicPropEval` servers on
//! loopback sockets (one per offer), and one client. Measured in the same
//! run:
//! - one evaluator round trip (the client calls an evaluator directly);
//! - a query whose constraint and preference need `load` from all 100
//!   evaluators, uncached (max_staleness_ms = 0: every query calls back);
//! - the same query served from the broker's cache;
//! - the same query over 100 offers whose `load` is static.
//!
//! Targets: uncached p50 within 3x of one round trip; cached within 1.5x
//! of the static query. `cargo bench -p bourse-broker --bench dynamic_grpc`;
//! `BOURSE_BENCH_QUICK=1` (or criterion's `--test`) runs a short pass.

use std::net::SocketAddr;
use std::time::Instant;

use bourse_broker::config::Config;
use bourse_proto as pb;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

const N_EVALUATORS: usize = 100;

/// An evaluator answering every item with a fixed load and no connections.
#[derive(Clone)]
struct FixedEvaluator {
    load: f64,
}

#[tonic::async_trait]
impl pb::dynamic_prop_eval_server::DynamicPropEval for FixedEvaluator {
    async fn eval(&self, request: Request<pb::EvalRequest>) -> Result<Response<pb::EvalResponse>, Status> {
        let results = request
            .into_inner()
            .items
            .into_iter()
            .map(|item| {
                let value =
                    if item.property == "load" { pb::Value::double(self.load) } else { pb::Value::uint64(0) };
                pb::EvalResult {
                    offer_id: item.offer_id,
                    property: item.property,
                    outcome: Some(pb::eval_result::Outcome::Value(value)),
                    age_ms: None,
                }
            })
            .collect();
        Ok(Response::new(pb::EvalResponse { results }))
    }
}

async fn serve_evaluator(load: f64) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(
        Server::builder()
            .add_service(pb::dynamic_prop_eval_server::DynamicPropEvalServer::new(FixedEvaluator { load }))
            .serve_with_incoming(incoming),
    );
    addr
}

fn media_props(host: &str, load: pb::property::Content) -> Vec<pb::Property> {
    vec![
        pb::Property::value("host", pb::Value::string(host)),
        pb::Property::value("video_formats", pb::Value::string_seq(["h264"])),
        pb::Property::value("audio_formats", pb::Value::string_seq(["aac"])),
        pb::Property::value("protocols", pb::Value::string_seq(["rtsp"])),
        pb::Property::value("max_connections", pb::Value::uint64(100)),
        pb::Property { name: "load".into(), content: Some(load) },
    ]
}

struct Setup {
    broker: bourse_broker::RunningBroker,
    channel: Channel,
    evaluators: Vec<SocketAddr>,
}

async fn setup() -> Setup {
    let config = Config::in_memory("127.0.0.1:0".parse().expect("addr"));
    let broker = bourse_broker::start(&config).await.expect("broker");
    let channel = Channel::from_shared(format!("http://{}", broker.addr))
        .expect("uri")
        .tcp_nodelay(true)
        .connect()
        .await
        .expect("connect");
    let mut register = pb::register_client::RegisterClient::new(channel.clone());
    // Two types of offers: "dyn-*" with load evaluated by callback,
    // "static-*" with the same load as a plain value.
    let mut evaluators = Vec::with_capacity(N_EVALUATORS);
    for i in 0..N_EVALUATORS {
        #[allow(clippy::cast_precision_loss)]
        let load = i as f64 / N_EVALUATORS as f64;
        let addr = serve_evaluator(load).await;
        evaluators.push(addr);
        let dynamic = pb::property::Content::Dynamic(pb::DynamicProp {
            evaluator: format!("http://{addr}"),
            extra_info: None,
            max_age_ms: 3_600_000,
            value_type: pb::ValueType::Double as i32,
        });
        for (host, load) in [
            (format!("dyn-{i}"), dynamic),
            (format!("static-{i}"), pb::property::Content::Value(pb::Value::double(load))),
        ] {
            register
                .export(pb::ExportRequest {
                    r#type: "MediaServer".into(),
                    reference: format!("rtsp://{host}/"),
                    properties: media_props(&host, load),
                    lease_seconds: 3600,
                    owner: "bench".into(),
                })
                .await
                .expect("export");
        }
    }
    Setup { broker, channel, evaluators }
}

fn query(prefix: &str, staleness_ms: Option<u64>) -> pb::QueryRequest {
    pb::QueryRequest {
        r#type: "MediaServer".into(),
        constraint: format!("'{prefix}' ~ host and load < 2.0"),
        preference: "min load".into(),
        policies: staleness_ms
            .map(|ms| pb::Policy::new("max_staleness_ms", pb::Value::uint64(ms)))
            .into_iter()
            .collect(),
        desired: Some(pb::DesiredProps { mode: pb::PropsMode::Named as i32, names: vec!["host".into()] }),
        how_many: 10,
    }
}

/// p50 and p99 of `n` sequential runs of `call`, in microseconds.
async fn percentiles<F, Fut>(n: usize, mut call: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        call().await;
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let at = |q: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99))
}

fn main() {
    let quick = std::env::var_os("BOURSE_BENCH_QUICK").is_some() || std::env::args().any(|a| a == "--test");
    let runs = if quick { 20 } else { 2000 };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let setup = setup().await;
        let mut evaluator_clients = Vec::with_capacity(N_EVALUATORS);
        for addr in &setup.evaluators {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .expect("uri")
                .tcp_nodelay(true)
                .connect()
                .await
                .expect("connect");
            evaluator_clients.push(pb::dynamic_prop_eval_client::DynamicPropEvalClient::new(channel));
        }
        let round_trip_request = pb::EvalRequest {
            items: vec![pb::EvalItem {
                offer_id: "x".into(),
                property: "load".into(),
                extra_info: None,
                value_type: pb::ValueType::Double as i32,
            }],
        };
        let lookup = pb::lookup_client::LookupClient::new(setup.channel.clone());
        let evaluator = evaluator_clients[0].clone();

        // Warm up connections and the cache.
        for _ in 0..(runs / 10).max(5) {
            evaluator.clone().eval(round_trip_request.clone()).await.expect("eval");
            lookup.clone().query(query("dyn-", Some(0))).await.expect("query");
            lookup.clone().query(query("static-", None)).await.expect("query");
        }
        let check = lookup.clone().query(query("dyn-", Some(0))).await.expect("query").into_inner();
        assert_eq!(check.offers.len(), 10, "all 100 dynamic offers evaluated and matched");

        let round_trip = percentiles(runs, || {
            let (mut e, r) = (evaluator.clone(), round_trip_request.clone());
            async move {
                e.eval(r).await.expect("eval");
            }
        })
        .await;
        // The floor under the uncached query: the client itself makes the
        // same 100 calls at once, the way the broker does, without a broker.
        let bare_fan_out = percentiles(runs, || {
            let (clients, r) = (evaluator_clients.clone(), round_trip_request.clone());
            async move {
                let mut calls: FuturesUnordered<_> = clients
                    .into_iter()
                    .map(|mut client| {
                        let r = r.clone();
                        async move { client.eval(r).await.map(drop) }
                    })
                    .collect();
                while let Some(reply) = calls.next().await {
                    reply.expect("eval");
                }
            }
        })
        .await;
        let uncached = percentiles(runs, || {
            let mut l = lookup.clone();
            async move {
                l.query(query("dyn-", Some(0))).await.expect("query");
            }
        })
        .await;
        let cached = percentiles(runs, || {
            let mut l = lookup.clone();
            async move {
                l.query(query("dyn-", Some(3_600_000))).await.expect("query");
            }
        })
        .await;
        let static_query = percentiles(runs, || {
            let mut l = lookup.clone();
            async move {
                l.query(query("static-", None)).await.expect("query");
            }
        })
        .await;

        println!("dynamic properties over gRPC, {N_EVALUATORS} evaluators, {runs} sequential calls per case");
        println!("{:<46} {:>10} {:>10} {:>8}", "case", "p50 µs", "p99 µs", "ratio");
        println!(
            "{:<46} {:>10.1} {:>10.1} {:>8}",
            "one evaluator round trip", round_trip.0, round_trip.1, "1.00"
        );
        println!(
            "{:<46} {:>10.1} {:>10.1} {:>8.2}",
            "100 bare calls at once, no broker (vs round trip)",
            bare_fan_out.0,
            bare_fan_out.1,
            bare_fan_out.0 / round_trip.0
        );
        println!(
            "{:<46} {:>10.1} {:>10.1} {:>8.2}",
            "query, 100 evaluators, uncached (vs round trip)",
            uncached.0,
            uncached.1,
            uncached.0 / round_trip.0
        );
        println!(
            "{:<46} {:>10.1} {:>10.1} {:>8}",
            "same query on static properties", static_query.0, static_query.1, "1.00"
        );
        println!(
            "{:<46} {:>10.1} {:>10.1} {:>8.2}",
            "same query, cached (vs static)",
            cached.0,
            cached.1,
            cached.0 / static_query.0
        );
        setup.broker.shutdown().await.expect("shutdown");
    });
}
