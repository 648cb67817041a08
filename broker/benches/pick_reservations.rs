//! Cost of one Pick as reservations pile up.
//!
//! A real broker in this process with 100 `MediaServer` offers (static
//! figures, room for 1000 streams each), picked from by calling
//! `Trader::pick` directly, so that only Pick is timed. Before each row,
//! picks with hour-long reservations bring the outstanding reservations up
//! to the row's count; then 2000 more picks are timed one by one and
//! released at once.
//!
//! `cargo bench -p bourse-broker --bench pick_reservations`;
//! `BOURSE_BENCH_QUICK=1` (or criterion's `--test`) runs a short pass.

use std::time::{Duration, Instant};

use bourse_broker::config::Config;
use bourse_broker::pick::PickArgs;
use bourse_broker::policy::Settings;
use bourse_broker::query::{DesiredSpec, QueryArgs};
use bourse_proto as pb;
use tonic::transport::Channel;

const SERVERS: usize = 100;
const CAPACITY: u64 = 1000;

fn pick_args(reservation_seconds: u64) -> PickArgs {
    PickArgs {
        query: QueryArgs {
            type_name: "MediaServer".into(),
            constraint: "'h264' in video_formats".into(),
            preference: String::new(),
            policies: vec![],
            desired: DesiredSpec::None,
            how_many: 1,
            offer_ids: vec![],
        },
        client: "bench".into(),
        reservation_seconds,
    }
}

fn main() {
    let quick = std::env::var_os("BOURSE_BENCH_QUICK").is_some() || std::env::args().any(|a| a == "--test");
    let (rows, timed): (&[usize], usize) =
        if quick { (&[0, 500], 50) } else { (&[0, 1000, 10_000, 50_000], 2000) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let config = Config {
            sweep_interval: Duration::from_secs(3600),
            settings: Settings { max_reservation_seconds: 3600, ..Settings::default() },
            ..Config::in_memory("127.0.0.1:0".parse().expect("addr"))
        };
        let broker = bourse_broker::start(&config).await.expect("broker");
        let channel = Channel::from_shared(format!("http://{}", broker.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let mut register = pb::register_client::RegisterClient::new(channel);
        for i in 0..SERVERS {
            let host = format!("server-{i}");
            register
                .export(pb::ExportRequest {
                    r#type: "MediaServer".into(),
                    reference: format!("rtsp://{host}/"),
                    properties: vec![
                        pb::Property::value("host", pb::Value::string(&host)),
                        pb::Property::value("video_formats", pb::Value::string_seq(["h264"])),
                        pb::Property::value("audio_formats", pb::Value::string_seq(["aac"])),
                        pb::Property::value("protocols", pb::Value::string_seq(["rtsp"])),
                        pb::Property::value("max_connections", pb::Value::uint64(CAPACITY)),
                        pb::Property::value("connections", pb::Value::uint64(0)),
                    ],
                    lease_seconds: 0,
                    owner: "bench".into(),
                })
                .await
                .expect("export");
        }
        let trader = broker.trader.clone();
        println!("Pick with reservations outstanding, {SERVERS} servers, {timed} timed picks per row");
        println!("{:>14} {:>10} {:>10}", "reservations", "p50 µs", "p99 µs");
        let mut outstanding = 0;
        for &target in rows {
            while outstanding < target {
                trader.pick(pick_args(3600)).await.expect("room");
                outstanding += 1;
            }
            let mut samples = Vec::with_capacity(timed);
            for _ in 0..timed {
                let start = Instant::now();
                let picked = trader.pick(pick_args(3600)).await.expect("room");
                samples.push(start.elapsed());
                trader.release(&picked.reservation_id).expect("release");
            }
            samples.sort_unstable();
            let at = |q: f64| {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
                samples[index].as_secs_f64() * 1e6
            };
            println!("{target:>14} {:>10.1} {:>10.1}", at(0.5), at(0.99));
        }
        broker.shutdown().await.expect("shutdown");
    });
}
