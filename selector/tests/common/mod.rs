//! A fleet for the selector's tests: a real broker in process on a
//! loopback socket, and media servers exported to it whose live figures
//! come from real `DynamicPropEval` servers on loopback sockets, one per
//! media server. The figures are fixed by the test, so screens do not vary.
#![allow(dead_code, clippy::unwrap_used, reason = "test harness")]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bourse_broker::config::Config;
use bourse_proto as pb;
use bourse_proto::value::Kind;
use bourse_selector::media::ClientConfig;
use bourse_selector::tui::model::Settings;
use bourse_selector::tui::runtime::Session;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

/// The time every test session believes it is, so that ages read 0.0 s.
pub const NOW_MS: i64 = 1_790_000_000_000;

/// A DynamicPropEval server answering with settable figures.
#[derive(Clone, Default)]
pub struct Evaluator {
    values: Arc<Mutex<HashMap<String, pb::Value>>>,
    fail: Arc<AtomicBool>,
}

impl Evaluator {
    pub fn set(&self, property: &str, value: pb::Value) {
        self.values.lock().unwrap().insert(property.to_string(), value);
    }

    /// From now on every call fails (the agent is broken).
    pub fn fail(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    async fn serve(self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            Server::builder()
                .add_service(pb::dynamic_prop_eval_server::DynamicPropEvalServer::new(self))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        addr
    }
}

#[tonic::async_trait]
impl pb::dynamic_prop_eval_server::DynamicPropEval for Evaluator {
    async fn eval(&self, request: Request<pb::EvalRequest>) -> Result<Response<pb::EvalResponse>, Status> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Status::unavailable("agent is broken"));
        }
        let values = self.values.lock().unwrap().clone();
        let results = request
            .into_inner()
            .items
            .into_iter()
            .map(|item| pb::EvalResult {
                outcome: Some(match values.get(&item.property) {
                    Some(v) => pb::eval_result::Outcome::Value(v.clone()),
                    None => pb::eval_result::Outcome::Error(format!("no {}", item.property)),
                }),
                offer_id: item.offer_id,
                property: item.property,
                age_ms: None,
            })
            .collect();
        Ok(Response::new(pb::EvalResponse { results }))
    }
}

/// One title on a server: name, duration (s), frame rate, width, height.
pub type TitleSpec = (&'static str, f64, f64, u64, u64);

/// A media server to export.
pub struct ServerSpec {
    pub host: &'static str,
    pub video: &'static [&'static str],
    pub audio: &'static [&'static str],
    pub protocols: &'static [&'static str],
    pub max_connections: u64,
    pub titles: &'static [TitleSpec],
    /// connections, load, cpu, bandwidth out and free (b/s), disk free (B).
    pub figures: (u64, f64, f64, u64, u64, u64),
}

const CASABLANCA: TitleSpec = ("Casablanca", 6120.0, 24.0, 1920, 1080);
/// The same title as another server holds it: another transfer.
const CASABLANCA_SD: TitleSpec = ("Casablanca", 6118.0, 25.0, 720, 576);
const METROPOLIS: TitleSpec = ("Metropolis", 9180.0, 25.0, 1440, 1080);
const NOSFERATU: TitleSpec = ("Nosferatu", 5640.0, 18.0, 1280, 720);
const SINGIN: TitleSpec = ("Singin' in the Rain", 6180.0, 23.976, 1920, 1080);

/// The standard fleet: three servers a client of h264|vp9 + aac over
/// rtsp|hls can use, one it cannot play from, one that is full.
pub fn standard_servers() -> Vec<ServerSpec> {
    vec![
        ServerSpec {
            host: "alpha",
            video: &["h264", "vp9"],
            audio: &["aac"],
            protocols: &["rtsp", "hls"],
            max_connections: 10,
            titles: &[CASABLANCA, METROPOLIS, SINGIN],
            figures: (2, 0.20, 0.15, 40_000_000, 60_000_000, 1_200_000_000_000),
        },
        ServerSpec {
            host: "beta",
            video: &["h264"],
            audio: &["aac", "opus"],
            protocols: &["rtsp"],
            max_connections: 20,
            titles: &[CASABLANCA_SD, NOSFERATU],
            figures: (15, 0.70, 0.55, 150_000_000, 50_000_000, 800_000_000_000),
        },
        ServerSpec {
            host: "gamma",
            video: &["h264"],
            audio: &["aac"],
            protocols: &["hls"],
            max_connections: 5,
            titles: &[CASABLANCA, METROPOLIS],
            figures: (1, 0.05, 0.02, 5_000_000, 95_000_000, 300_000_000_000),
        },
        ServerSpec {
            host: "delta",
            video: &["av1"],
            audio: &["opus"],
            protocols: &["webrtc"],
            max_connections: 50,
            titles: &[("The General", 4620.0, 24.0, 1280, 720)],
            figures: (0, 0.10, 0.10, 0, 100_000_000, 100_000_000_000),
        },
        ServerSpec {
            host: "epsilon",
            video: &["h264"],
            audio: &["aac"],
            protocols: &["rtsp"],
            max_connections: 4,
            titles: &[("Sunrise", 5640.0, 24.0, 1280, 720)],
            figures: (4, 0.90, 0.80, 90_000_000, 10_000_000, 50_000_000_000),
        },
    ]
}

/// The client of most tests.
pub fn client() -> ClientConfig {
    ClientConfig {
        video: vec!["h264".into(), "vp9".into()],
        audio: vec!["aac".into()],
        protocols: vec!["rtsp".into(), "hls".into()],
    }
}

/// A record of `movies` for a title on a host.
fn movie(
    host: &str,
    (name, duration, rate, width, height): TitleSpec,
    video: &str,
    audio: &str,
) -> pb::Record {
    let field = |name: &str, value: pb::Value| pb::Field { name: name.into(), value: Some(value) };
    let slug: String = name.to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
    pb::Record {
        fields: vec![
            field("name", pb::Value::string(name)),
            field("file", pb::Value::string(format!("{slug}.mp4"))),
            field("frame_rate", pb::Value::double(rate)),
            field("duration", pb::Value::double(duration)),
            field("width", pb::Value::uint64(width)),
            field("height", pb::Value::uint64(height)),
            field("video_codec", pb::Value::string(video)),
            field("audio_codec", pb::Value::string(audio)),
            field("play_url", pb::Value::string(format!("rtsp://{host}:8554/{slug}"))),
            field("info_url", pb::Value::string(format!("https://films.example/{slug}"))),
        ],
    }
}

/// A server of the fleet.
pub struct FleetServer {
    pub host: &'static str,
    pub offer_id: String,
    pub evaluator: Evaluator,
}

/// A broker with media servers.
pub struct Fleet {
    pub broker: bourse_broker::RunningBroker,
    pub channel: Channel,
    pub servers: Vec<FleetServer>,
}

impl Fleet {
    pub async fn start() -> Fleet {
        Fleet::with_servers(standard_servers()).await
    }

    pub async fn with_servers(specs: Vec<ServerSpec>) -> Fleet {
        let config = Config {
            sweep_interval: Duration::from_millis(50),
            ..Config::in_memory("127.0.0.1:0".parse().unwrap())
        };
        let broker = bourse_broker::start(&config).await.unwrap();
        let channel =
            Channel::from_shared(format!("http://{}", broker.addr)).unwrap().connect().await.unwrap();
        let mut fleet = Fleet { broker, channel, servers: Vec::new() };
        for spec in specs {
            fleet.export(spec).await;
        }
        fleet
    }

    async fn export(&mut self, spec: ServerSpec) {
        let evaluator = Evaluator::default();
        let (connections, load, cpu, out, free, disk) = spec.figures;
        evaluator.set("connections", pb::Value::uint64(connections));
        evaluator.set("load", pb::Value::double(load));
        evaluator.set("cpu", pb::Value::double(cpu));
        evaluator.set("bandwidth_out", pb::Value::uint64(out));
        evaluator.set("bandwidth_free", pb::Value::uint64(free));
        evaluator.set("disk_free", pb::Value::uint64(disk));
        let addr = evaluator.clone().serve().await;
        let dynamic = |value_type: pb::ValueType| pb::DynamicProp {
            evaluator: format!("http://{addr}"),
            extra_info: None,
            max_age_ms: 0,
            value_type: value_type as i32,
        };
        let video = spec.video[0];
        let audio = spec.audio[0];
        let records = spec.titles.iter().map(|t| movie(spec.host, *t, video, audio)).collect();
        let mut properties = vec![
            pb::Property::value("host", pb::Value::string(spec.host)),
            pb::Property::value("zone", pb::Value::string("lab")),
            pb::Property::value("video_formats", pb::Value::string_seq(spec.video.iter().copied())),
            pb::Property::value("audio_formats", pb::Value::string_seq(spec.audio.iter().copied())),
            pb::Property::value("protocols", pb::Value::string_seq(spec.protocols.iter().copied())),
            pb::Property::value("max_connections", pb::Value::uint64(spec.max_connections)),
            pb::Property::value("titles", pb::Value::string_seq(spec.titles.iter().map(|t| t.0))),
            pb::Property::value(
                "movies",
                pb::Value { kind: Some(Kind::RecordList(pb::RecordList { records })) },
            ),
        ];
        for (name, value_type) in [
            ("connections", pb::ValueType::Uint64),
            ("load", pb::ValueType::Double),
            ("cpu", pb::ValueType::Double),
            ("bandwidth_out", pb::ValueType::Uint64),
            ("bandwidth_free", pb::ValueType::Uint64),
            ("disk_free", pb::ValueType::Uint64),
        ] {
            properties.push(pb::Property::dynamic(name, dynamic(value_type)));
        }
        let mut register = pb::register_client::RegisterClient::new(self.channel.clone());
        let offer_id = register
            .export(pb::ExportRequest {
                r#type: "MediaServer".into(),
                reference: format!("rtsp://{}:8554/", spec.host),
                properties,
                lease_seconds: 0,
                owner: "test".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        self.servers.push(FleetServer { host: spec.host, offer_id, evaluator });
    }

    pub fn address(&self) -> String {
        self.broker.addr.to_string()
    }

    pub fn server(&self, host: &str) -> &FleetServer {
        self.servers.iter().find(|s| s.host == host).unwrap()
    }

    pub async fn withdraw(&self, host: &str) {
        let mut register = pb::register_client::RegisterClient::new(self.channel.clone());
        register.withdraw(pb::WithdrawRequest { id: self.server(host).offer_id.clone() }).await.unwrap();
    }

    pub async fn counter(&self, name: &str) -> u64 {
        let mut admin = pb::admin_client::AdminClient::new(self.channel.clone());
        let stats = admin.stats(pb::StatsRequest {}).await.unwrap().into_inner();
        stats.counters.get(name).copied().unwrap_or(0)
    }

    /// A UI session against this broker, with a fixed clock and Watch
    /// updates every 100 ms.
    pub fn session(&self, client: ClientConfig) -> Session {
        session_at(&self.address(), client, 100)
    }

    /// A session whose Watch sends its first update at once and the next
    /// only after a minute: phase 3 holds still while a test acts on it
    /// (`r` restarts the Watch for a fresh first update).
    pub fn still_session(&self, client: ClientConfig) -> Session {
        session_at(&self.address(), client, 60_000)
    }
}

/// A UI session against any address, with a fixed clock.
pub fn session_at(address: &str, client: ClientConfig, interval_ms: u32) -> Session {
    let mut settings = Settings::new(address, client);
    settings.interval_ms = interval_ms;
    settings.client_name = "test".into();
    Session::new(settings, Duration::from_secs(5), Arc::new(|| NOW_MS)).unwrap()
}
