//! Query over gRPC on loopback, against an empty gRPC call measured in the
//! same run: a real in-process broker (in memory) populated with realistic
//! `MediaServer` offers over `Register.Export`, then queried through one
//! reused tonic channel.
//!
//! Two passes per offer count, on the same broker:
//! - criterion, one benchmark per case (means and confidence intervals);
//! - a latency pass that times single calls and prints p50 and p99, since
//!   the target (selective query within 2x of the empty call) is about p50.
//!   The cheap cases are called in rounds, in a shuffled order, over gRPC
//!   and by calling `Trader::query` in process, so that noise from other
//!   work on the machine hits them alike; the full scan runs alone
//!   afterwards, as it evicts the caches the others rely on.
//!
//! Full run: `cargo bench -p bourse-broker --bench query_grpc`.
//! Quick run (every case once, a few hundred offers): add `-- --test`, or
//! set `BOURSE_BENCH_QUICK=1`; `cargo test --benches` is quick too.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bourse_broker::Config;
use bourse_broker::policy::Settings;
use bourse_broker::query::QueryArgs;
use bourse_broker::service::convert;
use bourse_broker::trader::Trader;
use bourse_proto as pb;
use criterion::{BenchmarkId, Criterion, SamplingMode};
use pb::admin_client::AdminClient;
use pb::lookup_client::LookupClient;
use pb::register_client::RegisterClient;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const TYPE: &str = "MediaServer";
const ZONES: usize = 10;
const CATALOGUE: u64 = 2000;
const TITLES_PER_SERVER: usize = 20;
/// Exports in flight while populating.
const EXPORTS_IN_FLIGHT: usize = 64;
/// Long enough to outlive the run; leased offers are never written to disk.
const LEASE_SECONDS: u64 = 3600;

/// SplitMix64: a tiny deterministic generator, so every run (and every
/// reader of BENCHMARKS.md) sees the same offers.
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64) -> Self {
        SplitMix(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn title(k: u64) -> String {
    format!("Title {k:04}")
}

/// The offer of server `i`. Drawn from a generator seeded by `i`, so the
/// bench can name a title that a given server holds.
struct Server {
    host: String,
    zone: String,
    video_formats: Vec<&'static str>,
    audio_formats: Vec<&'static str>,
    protocols: Vec<&'static str>,
    titles: Vec<String>,
    max_connections: u64,
    bandwidth_capacity: u64,
}

/// Picks each option with its chance; the first option if none was picked.
fn some_of(rng: &mut SplitMix, options: &[(&'static str, u64)]) -> Vec<&'static str> {
    let mut picked: Vec<&'static str> =
        options.iter().filter(|(_, percent)| rng.chance(*percent)).map(|(name, _)| *name).collect();
    if picked.is_empty() {
        picked.push(options[0].0);
    }
    picked
}

fn server(i: u64) -> Server {
    let mut rng = SplitMix::new(i);
    let zone = format!("zone-{}", rng.below(ZONES as u64));
    // h264 on nine servers in ten: the unselective case.
    let video_formats =
        some_of(&mut rng, &[("h264", 90), ("hevc", 50), ("vp9", 30), ("av1", 20), ("mpeg1", 10)]);
    let audio_formats = some_of(&mut rng, &[("aac", 80), ("opus", 50), ("mp3", 40), ("ulaw", 10)]);
    let protocols = some_of(&mut rng, &[("rtsp", 70), ("hls", 60), ("rtp", 40), ("dash", 30)]);
    let mut picked: Vec<u64> = Vec::with_capacity(TITLES_PER_SERVER);
    while picked.len() < TITLES_PER_SERVER {
        let k = rng.below(CATALOGUE);
        if !picked.contains(&k) {
            picked.push(k);
        }
    }
    Server {
        host: format!("srv-{i}"),
        zone,
        video_formats,
        audio_formats,
        protocols,
        titles: picked.into_iter().map(title).collect(),
        max_connections: 10 + rng.below(991),
        bandwidth_capacity: [100_000_000, 1_000_000_000, 10_000_000_000, 25_000_000_000]
            [rng.below(4) as usize],
    }
}

fn export_request(i: u64) -> pb::ExportRequest {
    let s = server(i);
    pb::ExportRequest {
        r#type: TYPE.into(),
        reference: format!("rtsp://{}:8554/", s.host),
        properties: vec![
            pb::Property::value("host", pb::Value::string(s.host)),
            pb::Property::value("zone", pb::Value::string(s.zone)),
            pb::Property::value("video_formats", pb::Value::string_seq(s.video_formats)),
            pb::Property::value("audio_formats", pb::Value::string_seq(s.audio_formats)),
            pb::Property::value("protocols", pb::Value::string_seq(s.protocols)),
            pb::Property::value("titles", pb::Value::string_seq(s.titles)),
            pb::Property::value("max_connections", pb::Value::uint64(s.max_connections)),
            pb::Property::value("bandwidth_capacity", pb::Value::uint64(s.bandwidth_capacity)),
        ],
        lease_seconds: LEASE_SECONDS,
        owner: "bench".into(),
    }
}

/// One kind of call measured.
#[derive(Clone)]
enum Call {
    /// `grpc.health.v1.Health/Check`: the cost of a gRPC round trip alone.
    Empty,
    Query(pb::QueryRequest),
}

struct Case {
    name: &'static str,
    call: Call,
    /// Run alone in the latency pass, with a smaller sample.
    heavy: bool,
}

fn query(constraint: String, preference: &str, desired: &[&str], how_many: u32) -> Call {
    Call::Query(pb::QueryRequest {
        r#type: TYPE.into(),
        constraint,
        preference: preference.into(),
        policies: vec![],
        desired: Some(pb::DesiredProps {
            mode: if desired.is_empty() { pb::PropsMode::None } else { pb::PropsMode::Named } as i32,
            names: desired.iter().map(|name| name.to_string()).collect(),
        }),
        how_many,
    })
}

fn cases(n_offers: u64) -> Vec<Case> {
    // A server that exists at every size, and a title it holds.
    let probe = 4711 % n_offers;
    let probe_title = &server(probe).titles[7];
    vec![
        Case { name: "empty_call", call: Call::Empty, heavy: false },
        // One offer: the host posting list has one entry.
        Case {
            name: "selective_host",
            call: query(
                format!("host == 'srv-{probe}' and '{probe_title}' in titles and max_connections > 0"),
                "",
                &["host", "zone"],
                0,
            ),
            heavy: false,
        },
        // About one offer in a thousand: the title's posting list (one
        // offer in a hundred) is shorter than the zone's (one in ten).
        Case {
            name: "selective_title_zone",
            call: query("'Title 0123' in titles and zone == 'zone-3'".into(), "", &["host", "zone"], 0),
            heavy: false,
        },
        // About one offer in a hundred from the B-tree, most of them match.
        Case {
            name: "range",
            call: query("max_connections >= 990 and 'rtsp' in protocols".into(), "", &[], 0),
            heavy: false,
        },
        // Nine offers in ten match; ordered, ten returned, the rest of the
        // ranking (up to return_card) kept behind a page token.
        Case {
            name: "full_scan",
            call: query(
                "'h264' in video_formats".into(),
                "min max_connections",
                &["host", "max_connections"],
                10,
            ),
            heavy: true,
        },
    ]
}

#[derive(Clone)]
struct Clients {
    health: HealthClient<Channel>,
    lookup: LookupClient<Channel>,
    /// The broker's trader itself, to tell the time spent in `Trader::query`
    /// from the time spent in gRPC.
    trader: Arc<Trader>,
}

/// How a call reaches the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Grpc,
    /// `Trader::query` called directly, as the Lookup service does after
    /// decoding; the empty call is then nothing at all.
    InProcess,
}

/// The domain arguments of a request, as the Lookup service builds them.
fn query_args(request: &pb::QueryRequest) -> QueryArgs {
    QueryArgs {
        type_name: request.r#type.clone(),
        constraint: request.constraint.clone(),
        preference: request.preference.clone(),
        policies: convert::policies_from_pb(request.policies.clone()).expect("policies"),
        desired: convert::desired_from_pb(request.desired.clone()).expect("desired"),
        how_many: request.how_many,
        offer_ids: Vec::new(),
    }
}

/// What one reply said, for the table.
#[derive(Debug, Clone, Copy, Default)]
struct Reply {
    searched: u64,
    matched: u64,
    returned: usize,
}

async fn call(clients: &mut Clients, call: &Call, path: Path) -> Reply {
    match (call, path) {
        (Call::Empty, Path::InProcess) => Reply::default(),
        (Call::Query(request), Path::InProcess) => {
            let result = clients.trader.query(query_args(request)).await.expect("query");
            let result = black_box(result);
            Reply { searched: result.searched, matched: result.matched, returned: result.offers.len() }
        }
        (Call::Empty, Path::Grpc) => {
            let reply = clients.health.check(HealthCheckRequest { service: String::new() }).await;
            black_box(reply.expect("health check"));
            Reply::default()
        }
        (Call::Query(request), Path::Grpc) => {
            let reply = clients.lookup.query(request.clone()).await.expect("query").into_inner();
            let reply = black_box(reply);
            Reply { searched: reply.searched, matched: reply.matched, returned: reply.offers.len() }
        }
    }
}

async fn connect(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the broker")
}

/// Exports `n_offers` offers, `EXPORTS_IN_FLIGHT` at a time.
async fn populate(channel: Channel, n_offers: u64) {
    let register = RegisterClient::new(channel.clone());
    let mut in_flight: JoinSet<Result<tonic::Response<pb::ExportResponse>, tonic::Status>> = JoinSet::new();
    for i in 0..n_offers {
        if in_flight.len() >= EXPORTS_IN_FLIGHT {
            in_flight.join_next().await.expect("a task").expect("export task").expect("export");
        }
        let mut register = register.clone();
        in_flight.spawn(async move { register.export(export_request(i)).await });
    }
    while let Some(done) = in_flight.join_next().await {
        done.expect("export task").expect("export");
    }
    let stats = AdminClient::new(channel).stats(pb::StatsRequest {}).await.expect("stats").into_inner();
    assert_eq!(stats.offers, n_offers, "every export is in the broker");
}

/// Latencies of one case, sorted.
struct Latencies {
    sorted: Vec<Duration>,
    reply: Reply,
}

impl Latencies {
    /// Nearest-rank percentile.
    fn percentile(&self, p: f64) -> Duration {
        let rank = (p / 100.0 * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    fn mean(&self) -> Duration {
        self.sorted.iter().sum::<Duration>() / self.sorted.len() as u32
    }
}

/// The benchmark filter given on the command line (criterion takes it as a
/// regular expression; here substrings of `case/offers` separated by `|`
/// are enough to skip sizes and cases in the latency pass, which always
/// keeps the empty call for the ratio).
struct Filter(Option<String>);

impl Filter {
    fn from_args(args: &[String]) -> Filter {
        // The first argument that is not a flag; criterion's flags that take
        // a value are not used here.
        Filter(args.iter().skip(1).find(|a| !a.starts_with('-')).cloned())
    }

    fn matches(&self, case: &str, n_offers: u64) -> bool {
        let id = format!("query_grpc/{case}/{n_offers}");
        self.0.as_ref().is_none_or(|text| text.split('|').any(|part| id.contains(part)))
    }

    fn matches_size(&self, n_offers: u64) -> bool {
        ["selective_host", "selective_title_zone", "range", "full_scan"]
            .iter()
            .any(|case| self.matches(case, n_offers))
    }
}

/// How many single calls the latency pass times per case.
struct Budget {
    calls: usize,
    /// A heavy case stops early once it has spent this long.
    heavy_time: Duration,
    heavy_min_calls: usize,
}

/// Latencies of every case by one path.
type ByCase = Vec<Latencies>;

/// Times single calls over gRPC and in process. Each round calls every
/// light case by both paths in a shuffled order, so that paths and cases
/// see the same load on the machine and the same cache state; each heavy
/// case then runs alone, alternating the paths.
async fn latency_pass(clients: &Clients, cases: &[Case], budget: &Budget) -> (ByCase, ByCase) {
    const PATHS: [Path; 2] = [Path::Grpc, Path::InProcess];
    let mut clients = clients.clone();
    let mut out: [ByCase; 2] = [Vec::new(), Vec::new()];
    for (path, by_case) in PATHS.iter().zip(out.iter_mut()) {
        for case in cases {
            let reply = call(&mut clients, &case.call, *path).await;
            by_case.push(Latencies { sorted: Vec::with_capacity(budget.calls), reply });
        }
    }
    let light: Vec<usize> = (0..cases.len()).filter(|i| !cases[*i].heavy).collect();
    let heavy: Vec<usize> = (0..cases.len()).filter(|i| cases[*i].heavy).collect();
    // Every light case by both paths, once per round, in a new order each
    // round: what ran just before a call (and what it left in the caches)
    // is then the same for every case on average.
    let mut calls: Vec<(usize, usize)> =
        (0..PATHS.len()).flat_map(|p| light.iter().map(move |&i| (p, i))).collect();
    let mut rng = SplitMix::new(u64::MAX);
    for round in 0..budget.calls + budget.calls / 20 {
        // The first rounds warm up.
        let timed = round >= budget.calls / 20;
        for k in (1..calls.len()).rev() {
            calls.swap(k, rng.below(k as u64 + 1) as usize);
        }
        for &(p, i) in &calls {
            let start = Instant::now();
            call(&mut clients, &cases[i].call, PATHS[p]).await;
            if timed {
                out[p][i].sorted.push(start.elapsed());
            }
        }
    }
    for &i in &heavy {
        let began = Instant::now();
        while out[0][i].sorted.len() < budget.calls
            && (out[0][i].sorted.len() < budget.heavy_min_calls || began.elapsed() < budget.heavy_time)
        {
            for (path, by_case) in PATHS.iter().zip(out.iter_mut()) {
                let start = Instant::now();
                call(&mut clients, &cases[i].call, *path).await;
                by_case[i].sorted.push(start.elapsed());
            }
        }
    }
    for latencies in out.iter_mut().flatten() {
        latencies.sorted.sort_unstable();
    }
    let [grpc, in_process] = out;
    (grpc, in_process)
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// The gRPC figures, and the p50 of `Trader::query` alone.
fn print_table(n_offers: u64, cases: &[Case], grpc: &[Latencies], in_process: &[Latencies]) {
    let empty_p50 = grpc[0].percentile(50.0).as_secs_f64();
    println!();
    println!("latency pass, {n_offers} offers (single sequential calls, one channel)");
    println!(
        "{:<22} {:>7} {:>6} {:>12} {:>12} {:>12} {:>10} {:>12} {:>9} {:>8} {:>8}",
        "case",
        "offers",
        "calls",
        "p50",
        "p99",
        "mean",
        "p50/empty",
        "in-proc p50",
        "searched",
        "matched",
        "returned"
    );
    for ((case, latencies), local) in cases.iter().zip(grpc).zip(in_process) {
        let p50 = latencies.percentile(50.0);
        let local_p50 = match case.call {
            Call::Empty => "-".to_string(),
            Call::Query(_) => micros(local.percentile(50.0)),
        };
        println!(
            "{:<22} {:>7} {:>6} {:>12} {:>12} {:>12} {:>10.2} {:>12} {:>9} {:>8} {:>8}",
            case.name,
            n_offers,
            latencies.sorted.len(),
            micros(p50),
            micros(latencies.percentile(99.0)),
            micros(latencies.mean()),
            p50.as_secs_f64() / empty_p50,
            local_p50,
            latencies.reply.searched,
            latencies.reply.matched,
            latencies.reply.returned,
        );
    }
    println!();
}

fn bench_size(
    criterion_group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &Runtime,
    n_offers: u64,
    budget: &Budget,
    filter: &Filter,
) {
    let settings = Settings {
        // The full scan leaves up to return_card ids behind a page token on
        // every call; nobody reads them, so let them go soon.
        page_ttl_seconds: 1,
        ..Settings::default()
    };
    let config = Config { settings, ..Config::in_memory("127.0.0.1:0".parse().expect("address")) };
    let broker = runtime.block_on(bourse_broker::start(&config)).expect("broker starts");
    let channel = runtime.block_on(connect(broker.addr));
    let began = Instant::now();
    runtime.block_on(populate(channel.clone(), n_offers));
    eprintln!("populated {n_offers} offers in {:.1} s", began.elapsed().as_secs_f64());

    let clients = Clients {
        health: HealthClient::new(channel.clone()),
        lookup: LookupClient::new(channel),
        trader: broker.trader.clone(),
    };
    let cases: Vec<Case> = cases(n_offers)
        .into_iter()
        .filter(|c| c.name == "empty_call" || filter.matches(c.name, n_offers))
        .collect();
    for case in &cases {
        criterion_group.sampling_mode(if case.heavy { SamplingMode::Flat } else { SamplingMode::Auto });
        criterion_group.bench_function(BenchmarkId::new(case.name, n_offers), |b| {
            b.iter_custom(|iters| {
                let mut clients = clients.clone();
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(call(&mut clients, &case.call, Path::Grpc).await);
                    }
                    start.elapsed()
                })
            });
        });
    }

    let (grpc, in_process) = runtime.block_on(latency_pass(&clients, &cases, budget));
    print_table(n_offers, &cases, &grpc, &in_process);
    drop(clients);
    runtime.block_on(broker.shutdown()).expect("broker stops");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let filter = Filter::from_args(&args);
    // Criterion's test mode (`-- --test`, or no `--bench` as under
    // `cargo test --benches`) runs each benchmark once: populate little.
    let quick = has("--test")
        || has("--list")
        || !has("--bench")
        || std::env::var("BOURSE_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (sizes, budget): (&[u64], Budget) = if quick {
        (&[300], Budget { calls: 20, heavy_time: Duration::from_millis(100), heavy_min_calls: 5 })
    } else {
        (
            &[10_000, 100_000],
            Budget { calls: 2000, heavy_time: Duration::from_secs(10), heavy_min_calls: 100 },
        )
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut criterion = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut group = criterion.benchmark_group("query_grpc");
        for &n_offers in sizes.iter().filter(|n| filter.matches_size(**n)) {
            bench_size(&mut group, &runtime, n_offers, &budget, &filter);
        }
        group.finish();
    }
    criterion.final_summary();
}
