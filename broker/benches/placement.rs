//! Placement simulator: does `Lookup.Pick` spread clients where choosing on
//! cached figures herds them?
//!
//! Runs the real broker in process on a loopback socket and 20 simulated
//! media-server agents, each a `DynamicPropEval` server on its own loopback
//! socket. An agent exports a MediaServer offer with a static
//! `max_connections` (its capacity) and dynamic `connections` and `load`
//! that it answers from a sample of its live session count taken every
//! refresh interval, with `max_age_ms` equal to that interval, as the real
//! agent does; it says how old the sample is (`age_ms`). Clients choose a
//! server by one of the strategies below, over gRPC, connect after a short
//! delay (the agent's live count goes up; a session beyond capacity is an
//! overload, still placed) and hold the session. Each strategy gets a fresh
//! broker and fresh agents, and the same clients: arrival times, connect
//! delays and session lengths are drawn from a seeded generator, once per
//! scenario and seed.
//!
//! Scenarios: (a) a burst of clients within one second on an idle fleet,
//! measured once every session has connected; (b) Poisson arrivals at 90%
//! of total capacity with exponential session lengths, starting from a
//! fleet filled to 90% in proportion to capacity, measured after a warm-up.
//!
//! `cargo bench -p bourse-broker --bench placement` runs the full
//! simulation for seeds 1, 2 and 3 (about five minutes;
//! `BOURSE_PLACEMENT_SEEDS=4,5` for others); with `-- --test` (or
//! `BOURSE_BENCH_QUICK=1`, or without cargo's `--bench` flag, as criterion
//! does) a small one for seed 1 that ends in a few seconds. With
//! `BOURSE_PLACEMENT_DEMAND_ONLY=1` it runs no strategy and prints, per
//! seed, the steady demand: the offered load while measured and what a
//! broker knowing every server's count would refuse.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use bourse_broker::config::Config;
use bourse_broker::policy::Settings;
use bourse_proto as pb;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

/// Capacities of the simulated servers, in streams: 20 servers, unequal,
/// 600 streams in all.
const CAPACITIES: [u64; 20] =
    [10, 10, 15, 15, 20, 20, 20, 25, 25, 30, 30, 30, 35, 35, 40, 40, 45, 45, 50, 60];

/// What a client-side strategy asks the broker: the offers whose cached
/// figures show room, with those figures, in discovery order.
const ROOM_CONSTRAINT: &str = "connections < max_connections";

/// How one run is sized.
#[derive(Debug, Clone)]
struct Params {
    quick: bool,
    capacities: Vec<u64>,
    /// How often an agent samples its live session count; also the
    /// `max_age_ms` of its dynamic properties.
    refresh: Duration,
    /// A client connects this long after choosing (uniform between the two).
    connect_delay: (Duration, Duration),
    burst_clients: usize,
    burst_spread: Duration,
    /// Offered load in the steady scenario, as a fraction of total capacity.
    steady_load: f64,
    mean_session: Duration,
    warmup: Duration,
    measure: Duration,
    /// How often the steady scenario samples utilisation.
    sample_every: Duration,
    /// Seed of the demand (arrival times, connect delays, session lengths),
    /// which is the same for every strategy.
    seed: u64,
}

impl Params {
    fn full() -> Params {
        Params {
            quick: false,
            capacities: CAPACITIES.to_vec(),
            refresh: Duration::from_secs(1),
            connect_delay: (Duration::from_millis(20), Duration::from_millis(100)),
            burst_clients: 500,
            burst_spread: Duration::from_secs(1),
            steady_load: 0.9,
            mean_session: Duration::from_secs(20),
            warmup: Duration::from_secs(20),
            measure: Duration::from_secs(40),
            sample_every: Duration::from_millis(100),
            seed: 1,
        }
    }

    /// A small run for CI: a fifth of the capacity, short sessions.
    fn quick() -> Params {
        Params {
            quick: true,
            capacities: CAPACITIES.iter().map(|c| (c / 5).max(1)).collect(),
            burst_clients: 100,
            burst_spread: Duration::from_millis(300),
            mean_session: Duration::from_secs(2),
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(2),
            ..Params::full()
        }
    }

    fn total_capacity(&self) -> u64 {
        self.capacities.iter().sum()
    }

    /// Poisson arrival rate giving `steady_load` of total capacity busy.
    fn arrival_rate(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let capacity = self.total_capacity() as f64;
        self.steady_load * capacity / self.mean_session.as_secs_f64()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Least `connections / max_connections` on the broker's cached
    /// figures; ties go to the first offer, as a stable sort by
    /// `min load` would.
    LeastLoaded,
    Random,
    /// One counter shared by all clients, over the offer list.
    RoundRobin,
    /// Two distinct offers at random, the one with the lower cached
    /// utilisation.
    PowerOfTwo,
    Pick(PickVariant),
}

/// How Pick's clients and the agents behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PickVariant {
    /// The client asks for a reservation as long as its session (a player
    /// knows the title's duration), leaves it to be absorbed by the
    /// server's figures and releases it when the session ends; agents say
    /// how old their samples are.
    Session,
    /// The client releases its reservation as soon as it has connected.
    ReleaseOnConnect,
    /// The client takes the broker's default reservation (10 s), which
    /// mostly lapses before the session ends and its release.
    DefaultReservation,
    /// Agents do not say how old their samples are: the broker takes each
    /// figure to be anywhere up to its max age old.
    AgentsWithoutAge,
}

impl Strategy {
    const ALL: [Strategy; 8] = [
        Strategy::LeastLoaded,
        Strategy::Random,
        Strategy::RoundRobin,
        Strategy::PowerOfTwo,
        Strategy::Pick(PickVariant::Session),
        Strategy::Pick(PickVariant::ReleaseOnConnect),
        Strategy::Pick(PickVariant::DefaultReservation),
        Strategy::Pick(PickVariant::AgentsWithoutAge),
    ];

    fn name(self) -> &'static str {
        match self {
            Strategy::LeastLoaded => "least-loaded (cached)",
            Strategy::Random => "random",
            Strategy::RoundRobin => "round robin",
            Strategy::PowerOfTwo => "power of two (cached)",
            Strategy::Pick(PickVariant::Session) => "Pick",
            Strategy::Pick(PickVariant::ReleaseOnConnect) => "Pick, release on connect",
            Strategy::Pick(PickVariant::DefaultReservation) => "Pick, default 10 s reservation",
            Strategy::Pick(PickVariant::AgentsWithoutAge) => "Pick, agents without sample age",
        }
    }
}

// ------------------------------------------------------------------ agents

/// One simulated media server and its agent.
struct Agent {
    capacity: u64,
    /// Sessions connected right now: the ground truth. Clients move it.
    live: AtomicU64,
    /// Clients that chose this server and have yet to connect: they hold a
    /// slot that the live count does not show yet.
    connecting: AtomicU64,
    /// What the agent reports: `live` as of its last sample, and when that
    /// was taken. Its sampler task writes it; the Eval handler reads it.
    sample: Mutex<(u64, Instant)>,
    /// Whether its answers say how old the sample is (`age_ms`).
    reports_age: bool,
}

impl Agent {
    /// Whether it could take one more session: live and connecting
    /// sessions below capacity.
    fn has_room(&self) -> bool {
        self.live.load(Ordering::Relaxed) + self.connecting.load(Ordering::Relaxed) < self.capacity
    }

    fn utilisation(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let (live, capacity) = (self.live.load(Ordering::Relaxed) as f64, self.capacity as f64);
        live / capacity
    }
}

/// The agent's `DynamicPropEval` service: answers from the last sample.
#[derive(Clone)]
struct AgentEval(Arc<Agent>);

#[tonic::async_trait]
impl pb::dynamic_prop_eval_server::DynamicPropEval for AgentEval {
    async fn eval(&self, request: Request<pb::EvalRequest>) -> Result<Response<pb::EvalResponse>, Status> {
        let (connections, sampled) = *self.0.sample.lock().unwrap_or_else(PoisonError::into_inner);
        let age_ms =
            self.0.reports_age.then(|| u64::try_from(sampled.elapsed().as_millis()).unwrap_or(u64::MAX));
        #[allow(clippy::cast_precision_loss)]
        let load = connections as f64 / self.0.capacity as f64;
        let results = request
            .into_inner()
            .items
            .into_iter()
            .map(|item| {
                let outcome = match item.property.as_str() {
                    "connections" => pb::eval_result::Outcome::Value(pb::Value::uint64(connections)),
                    "load" => pb::eval_result::Outcome::Value(pb::Value::double(load)),
                    other => pb::eval_result::Outcome::Error(format!("no figure for {other}")),
                };
                pb::EvalResult {
                    offer_id: item.offer_id,
                    property: item.property,
                    outcome: Some(outcome),
                    age_ms,
                }
            })
            .collect();
        Ok(Response::new(pb::EvalResponse { results }))
    }
}

/// A fresh broker with one offer per agent.
struct Fleet {
    broker: bourse_broker::RunningBroker,
    channel: Channel,
    agents: Vec<Arc<Agent>>,
    /// Offer id to index in `agents`.
    offers: Arc<HashMap<String, usize>>,
    /// Stops the agents' servers and samplers.
    stop: CancellationToken,
}

impl Fleet {
    /// Starts the broker, the agents with `initial[i]` sessions live on
    /// agent i, and exports their offers.
    async fn start(params: &Params, strategy: Strategy, initial: &[u64]) -> anyhow::Result<Fleet> {
        let reports_age = strategy != Strategy::Pick(PickVariant::AgentsWithoutAge);
        let config = Config::in_memory("127.0.0.1:0".parse()?);
        let broker = bourse_broker::start(&config).await.context("starting the broker")?;
        let channel = Channel::from_shared(format!("http://{}", broker.addr))?.connect().await?;
        let stop = CancellationToken::new();
        let mut register = pb::register_client::RegisterClient::new(channel.clone());
        let mut agents = Vec::new();
        let mut offers = HashMap::new();
        for (index, &capacity) in params.capacities.iter().enumerate() {
            let live = initial.get(index).copied().unwrap_or(0);
            let agent = Arc::new(Agent {
                capacity,
                live: AtomicU64::new(live),
                connecting: AtomicU64::new(0),
                sample: Mutex::new((live, Instant::now())),
                reports_age,
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(
                Server::builder()
                    .add_service(pb::dynamic_prop_eval_server::DynamicPropEvalServer::new(AgentEval(
                        agent.clone(),
                    )))
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::TcpListenerStream::new(listener),
                        stop.clone().cancelled_owned(),
                    ),
            );
            tokio::spawn(sample_live(agent.clone(), params.refresh, stop.clone()));
            let max_age_ms = u64::try_from(params.refresh.as_millis())?;
            let dynamic = |value_type: pb::ValueType| pb::DynamicProp {
                evaluator: format!("http://{addr}"),
                extra_info: None,
                max_age_ms,
                value_type: value_type as i32,
            };
            let host = format!("media{index:02}");
            let properties = vec![
                pb::Property::value("host", pb::Value::string(&host)),
                pb::Property::value("video_formats", pb::Value::string_seq(["h264"])),
                pb::Property::value("audio_formats", pb::Value::string_seq(["aac"])),
                pb::Property::value("protocols", pb::Value::string_seq(["rtsp"])),
                pb::Property::value("max_connections", pb::Value::uint64(capacity)),
                pb::Property::dynamic("connections", dynamic(pb::ValueType::Uint64)),
                pb::Property::dynamic("load", dynamic(pb::ValueType::Double)),
            ];
            let id = register
                .export(pb::ExportRequest {
                    r#type: "MediaServer".into(),
                    reference: format!("rtsp://{host}/"),
                    properties,
                    lease_seconds: 0,
                    owner: "placement-sim".into(),
                })
                .await
                .context("export")?
                .into_inner()
                .id;
            offers.insert(id, index);
            agents.push(agent);
        }
        Ok(Fleet { broker, channel, agents, offers: Arc::new(offers), stop })
    }

    async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.broker.shutdown().await?;
        Ok(())
    }

    fn utilisations(&self) -> Vec<f64> {
        self.agents.iter().map(|a| a.utilisation()).collect()
    }

    fn fleet_utilisation(&self) -> f64 {
        let live: u64 = self.agents.iter().map(|a| a.live.load(Ordering::Relaxed)).sum();
        let capacity: u64 = self.agents.iter().map(|a| a.capacity).sum();
        #[allow(clippy::cast_precision_loss)]
        let ratio = live as f64 / capacity as f64;
        ratio
    }
}

/// The agent's sampler: copies the live count into the reported figure
/// every `refresh`, at a random phase so that agents do not sample in step.
async fn sample_live(agent: Arc<Agent>, refresh: Duration, stop: CancellationToken) {
    let phase = refresh.mul_f64(rand::rng().random::<f64>());
    let mut ticks = tokio::time::interval_at(Instant::now() + phase, refresh);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {
                let live = agent.live.load(Ordering::Relaxed);
                *agent.sample.lock().unwrap_or_else(PoisonError::into_inner) = (live, Instant::now());
            }
        }
    }
}

// ----------------------------------------------------------------- clients

/// Where a client goes.
enum Choice {
    Server { agent: usize, reservation: Option<String> },
    Rejected,
}

/// Chooses servers for clients by one strategy, over gRPC.
#[derive(Clone)]
struct Chooser {
    strategy: Strategy,
    lookup: pb::lookup_client::LookupClient<Channel>,
    offers: Arc<HashMap<String, usize>>,
    round_robin: Arc<AtomicUsize>,
}

fn uint_prop(offer: &pb::MatchedOffer, name: &str) -> Option<u64> {
    match offer.properties.iter().find(|p| p.name == name)?.value.as_ref()?.kind.as_ref()? {
        pb::value::Kind::Uint64Value(v) => Some(*v),
        _ => None,
    }
}

impl Chooser {
    fn new(strategy: Strategy, fleet: &Fleet) -> Chooser {
        Chooser {
            strategy,
            lookup: pb::lookup_client::LookupClient::new(fleet.channel.clone()),
            offers: fleet.offers.clone(),
            round_robin: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Chooses a server for a client whose session lasts `hold` (`None`:
    /// past the end of the run).
    async fn choose(&self, client: usize, hold: Option<Duration>) -> anyhow::Result<Choice> {
        if let Strategy::Pick(variant) = self.strategy {
            let reservation_seconds = match (variant, hold) {
                (PickVariant::DefaultReservation, _) | (_, None) => 0,
                (_, Some(hold)) => hold.as_secs() + 1,
            };
            return self.pick(client, reservation_seconds).await;
        }
        // (agent, cached utilisation) of the offers showing room.
        let offers = self.cached_figures().await?;
        if offers.is_empty() {
            return Ok(Choice::Rejected);
        }
        let chosen = match self.strategy {
            Strategy::LeastLoaded => offers.iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|o| o.0),
            Strategy::Random => offers.choose(&mut rand::rng()).map(|o| o.0),
            Strategy::RoundRobin => {
                let turn = self.round_robin.fetch_add(1, Ordering::Relaxed);
                offers.get(turn % offers.len()).map(|o| o.0)
            }
            Strategy::PowerOfTwo => {
                let drawn: Vec<&(usize, f64)> = offers.choose_multiple(&mut rand::rng(), 2).collect();
                drawn.into_iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|o| o.0)
            }
            Strategy::Pick(_) => unreachable!("handled above"),
        };
        Ok(chosen.map_or(Choice::Rejected, |agent| Choice::Server { agent, reservation: None }))
    }

    /// `Lookup.Query` for the offers whose cached figures show room, with
    /// the broker's default staleness.
    async fn cached_figures(&self) -> anyhow::Result<Vec<(usize, f64)>> {
        let reply = self
            .lookup
            .clone()
            .query(pb::QueryRequest {
                r#type: "MediaServer".into(),
                constraint: ROOM_CONSTRAINT.into(),
                preference: String::new(),
                policies: vec![],
                desired: Some(pb::DesiredProps {
                    mode: pb::PropsMode::Named as i32,
                    names: vec!["connections".into(), "max_connections".into()],
                }),
                how_many: 0,
            })
            .await?
            .into_inner();
        let mut offers = Vec::with_capacity(reply.offers.len());
        for offer in &reply.offers {
            let (Some(&agent), Some(connections), Some(capacity)) = (
                self.offers.get(&offer.id),
                uint_prop(offer, "connections"),
                uint_prop(offer, "max_connections"),
            ) else {
                bail!("offer {} came back without its figures", offer.id);
            };
            #[allow(clippy::cast_precision_loss)]
            offers.push((agent, connections as f64 / capacity.max(1) as f64));
        }
        Ok(offers)
    }

    async fn pick(&self, client: usize, reservation_seconds: u64) -> anyhow::Result<Choice> {
        let reply = self
            .lookup
            .clone()
            .pick(pb::PickRequest {
                r#type: "MediaServer".into(),
                client: format!("sim-{client}"),
                desired: Some(pb::DesiredProps { mode: pb::PropsMode::None as i32, names: vec![] }),
                reservation_seconds,
                ..Default::default()
            })
            .await;
        match reply {
            Ok(reply) => {
                let reply = reply.into_inner();
                let id = reply.offer.map(|o| o.id).unwrap_or_default();
                let agent =
                    *self.offers.get(&id).with_context(|| format!("picked an unknown offer '{id}'"))?;
                Ok(Choice::Server { agent, reservation: Some(reply.reservation_id) })
            }
            Err(status) if status.code() == tonic::Code::ResourceExhausted => Ok(Choice::Rejected),
            Err(status) => Err(status.into()),
        }
    }

    /// Gives a reservation back; a lapsed one is not an error here.
    async fn release(&self, reservation: &str) {
        let request = pb::ReleaseRequest { reservation_id: reservation.into() };
        let _ = self.lookup.clone().release(request).await;
    }
}

/// What happened to clients, counted while measuring.
#[derive(Default)]
struct Counters {
    arrivals: AtomicU64,
    rejections: AtomicU64,
    /// Rejections while some server had room: live and connecting sessions
    /// below its capacity both when the client arrived and when it was
    /// turned away.
    rejected_with_room: AtomicU64,
    /// Fewest sessions live or connecting in the fleet at a rejection.
    occupied_at_rejection: Mutex<Option<u64>>,
    /// When the rejected clients arrived, from the start of the scenario.
    rejected_arrivals: Mutex<Vec<Duration>>,
    /// How long each client took to choose (a call to the broker), in ms.
    choice_ms: Mutex<Vec<u64>>,
    overloads: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    /// A client that arrived at `arrival` was turned away;
    /// `room_on_arrival`: some server had room when it arrived.
    fn rejected(&self, agents: &[Arc<Agent>], arrival: Duration, room_on_arrival: bool) {
        self.rejections.fetch_add(1, Ordering::Relaxed);
        self.rejected_arrivals.lock().unwrap_or_else(PoisonError::into_inner).push(arrival);
        if room_on_arrival && agents.iter().any(|a| a.has_room()) {
            self.rejected_with_room.fetch_add(1, Ordering::Relaxed);
        }
        let occupied = agents
            .iter()
            .map(|a| a.live.load(Ordering::Relaxed) + a.connecting.load(Ordering::Relaxed))
            .sum();
        let mut lowest = self.occupied_at_rejection.lock().unwrap_or_else(PoisonError::into_inner);
        *lowest = Some(lowest.map_or(occupied, |l: u64| l.min(occupied)));
    }

    fn chose(&self, took: Duration) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.choice_ms.lock().unwrap_or_else(PoisonError::into_inner).push(ms);
    }

    fn lowest_at_rejection(&self) -> Option<u64> {
        *self.occupied_at_rejection.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn uniform(rng: &mut StdRng, range: (Duration, Duration)) -> Duration {
    range.0 + (range.1.saturating_sub(range.0)).mul_f64(rng.random::<f64>())
}

fn exponential(rng: &mut StdRng, mean: Duration) -> Duration {
    mean.mul_f64(-(1.0 - rng.random::<f64>()).ln())
}

/// One client of a scenario.
#[derive(Debug, Clone, Copy)]
struct Client {
    /// When it chooses, from the start of the scenario.
    at: Duration,
    /// How long after choosing it connects.
    connect_delay: Duration,
    /// How long its session lasts; `None`: past the end of the run.
    hold: Option<Duration>,
}

/// What a scenario asks of the fleet, drawn once from the seed so that
/// every strategy faces the same clients.
struct Demand {
    /// Remaining lengths of the sessions live at the start, per server.
    initial: Vec<Vec<Duration>>,
    clients: Vec<Client>,
}

impl Demand {
    fn burst(params: &Params) -> Demand {
        let mut rng = StdRng::seed_from_u64(params.seed);
        let n = params.burst_clients;
        #[allow(clippy::cast_precision_loss)]
        let clients = (0..n)
            .map(|i| Client {
                at: params.burst_spread.mul_f64(i as f64 / n as f64),
                connect_delay: uniform(&mut rng, params.connect_delay),
                hold: None,
            })
            .collect();
        Demand { initial: vec![], clients }
    }

    /// Poisson arrivals until the end of the measurement, on a fleet
    /// filled to the offered load in proportion to capacity.
    fn steady(params: &Params) -> Demand {
        let mut rng = StdRng::seed_from_u64(params.seed.wrapping_add(1));
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let initial = params
            .capacities
            .iter()
            .map(|&c| {
                let n = (params.steady_load * c as f64).round() as usize;
                (0..n).map(|_| exponential(&mut rng, params.mean_session)).collect()
            })
            .collect();
        let gap = Duration::from_secs_f64(1.0 / params.arrival_rate());
        let end = params.warmup + params.measure;
        let mut clients = Vec::new();
        let mut at = Duration::ZERO;
        loop {
            at += exponential(&mut rng, gap);
            if at >= end {
                break;
            }
            let connect_delay = uniform(&mut rng, params.connect_delay);
            clients.push(Client {
                at,
                connect_delay,
                hold: Some(exponential(&mut rng, params.mean_session)),
            });
        }
        Demand { initial, clients }
    }

    /// Clients arriving in `window` that a broker knowing every server's
    /// live and connecting sessions at every instant, and never overloading
    /// one, would have to turn away: those that arrive with the fleet full
    /// and find no slot freed within `wait` (first come, first served). A
    /// client takes its slot from when it is placed to the end of its
    /// session.
    fn refused_by_a_perfect_broker(
        &self,
        capacity: u64,
        window: &std::ops::Range<Duration>,
        wait: Duration,
    ) -> usize {
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, VecDeque};
        let slot = |client: &Client, from: Duration| {
            Reverse(from + client.connect_delay + client.hold.unwrap_or(Duration::MAX / 4))
        };
        let mut ends: BinaryHeap<Reverse<Duration>> =
            self.initial.iter().flatten().map(|&hold| Reverse(hold)).collect();
        // Clients waiting for a slot, in order of arrival.
        let mut waiting: VecDeque<&Client> = VecDeque::new();
        let mut refused = 0;
        let mut give_up = |client: &Client| {
            if window.contains(&client.at) {
                refused += 1;
            }
        };
        for client in &self.clients {
            while let Some(&Reverse(end)) = ends.peek().filter(|Reverse(end)| *end <= client.at) {
                ends.pop();
                while let Some(first) = waiting.front().copied() {
                    waiting.pop_front();
                    if first.at + wait >= end {
                        ends.push(slot(first, end));
                        break;
                    }
                    give_up(first);
                }
            }
            while let Some(first) = waiting.front().copied().filter(|first| first.at + wait < client.at) {
                waiting.pop_front();
                give_up(first);
            }
            if waiting.is_empty() && (ends.len() as u64) < capacity {
                ends.push(slot(client, client.at));
            } else if wait > Duration::ZERO {
                waiting.push_back(client);
            } else {
                give_up(client);
            }
        }
        // After the last arrival, the slots that free up still go to those
        // waiting, in time.
        while !waiting.is_empty() {
            let Some(Reverse(end)) = ends.pop() else { break };
            while let Some(first) = waiting.pop_front() {
                if first.at + wait >= end {
                    ends.push(slot(first, end));
                    break;
                }
                give_up(first);
            }
        }
        waiting.into_iter().for_each(give_up);
        refused
    }

    /// Slots that would be taken at `t` if every client were placed: the
    /// sessions live and the clients connecting.
    fn demanded_at(&self, t: Duration) -> usize {
        let initial = self.initial.iter().flatten().filter(|&&hold| hold > t).count();
        let clients = self
            .clients
            .iter()
            .filter(|c| c.at <= t && c.hold.is_none_or(|hold| c.at + c.connect_delay + hold > t))
            .count();
        initial + clients
    }

    /// Sessions that would be live at `t` if every client were placed.
    fn offered_at(&self, t: Duration) -> usize {
        let initial = self.initial.iter().flatten().filter(|&&hold| hold > t).count();
        let clients = self
            .clients
            .iter()
            .filter(|c| {
                let start = c.at + c.connect_delay;
                start <= t && c.hold.is_none_or(|hold| start + hold > t)
            })
            .count();
        initial + clients
    }
}

/// A client chose a server: it holds a slot there until it connects.
fn chosen(agent: &Agent) {
    agent.connecting.fetch_add(1, Ordering::Relaxed);
}

/// A session starts on an agent; true if it went beyond capacity.
fn connect(agent: &Agent) -> bool {
    let overload = agent.live.fetch_add(1, Ordering::Relaxed) + 1 > agent.capacity;
    agent.connecting.fetch_sub(1, Ordering::Relaxed);
    overload
}

// ------------------------------------------------------------------- burst

struct BurstResult {
    strategy: Strategy,
    utilisation: Vec<f64>,
    fleet: f64,
    overloads: u64,
    rejections: u64,
    errors: u64,
}

/// The lowest fleet occupancy (sessions live or connecting over capacity)
/// at which a client was rejected, if any was.
fn utilisation_at_rejection(lowest_occupied: Option<u64>, params: &Params) -> String {
    #[allow(clippy::cast_precision_loss)]
    lowest_occupied.map_or_else(
        || "-".into(),
        |occupied| format!("{:.3}", occupied as f64 / params.total_capacity() as f64),
    )
}

impl BurstResult {
    fn max(&self) -> f64 {
        self.utilisation.iter().copied().fold(0.0, f64::max)
    }
}

async fn burst(strategy: Strategy, params: &Params, demand: &Demand) -> anyhow::Result<BurstResult> {
    // Idle: every agent's last sample says 0.
    let fleet = Fleet::start(params, strategy, &[]).await?;
    let chooser = Chooser::new(strategy, &fleet);
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let mut clients = JoinSet::new();
    for (id, client) in demand.clients.iter().copied().enumerate() {
        let (chooser, counters, agents) = (chooser.clone(), counters.clone(), fleet.agents.clone());
        clients.spawn(async move {
            tokio::time::sleep_until(start + client.at).await;
            counters.arrivals.fetch_add(1, Ordering::Relaxed);
            let room_on_arrival = agents.iter().any(|a| a.has_room());
            match chooser.choose(id, client.hold).await {
                Ok(Choice::Server { agent, reservation }) => {
                    chosen(&agents[agent]);
                    tokio::time::sleep(client.connect_delay).await;
                    if connect(&agents[agent]) {
                        counters.overloads.fetch_add(1, Ordering::Relaxed);
                    }
                    if let (Strategy::Pick(PickVariant::ReleaseOnConnect), Some(reservation)) =
                        (chooser.strategy, reservation)
                    {
                        chooser.release(&reservation).await;
                    }
                }
                Ok(Choice::Rejected) => counters.rejected(&agents, client.at, room_on_arrival),
                Err(error) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("{}: client {id}: {error:#}", strategy.name());
                }
            }
        });
    }
    while clients.join_next().await.is_some() {}
    let result = BurstResult {
        strategy,
        utilisation: fleet.utilisations(),
        fleet: fleet.fleet_utilisation(),
        overloads: counters.overloads.load(Ordering::Relaxed),
        rejections: counters.rejections.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
    };
    fleet.shutdown().await?;
    Ok(result)
}

// ------------------------------------------------------------ steady state

struct SteadyResult {
    strategy: Strategy,
    arrivals: u64,
    /// Fewest sessions live or connecting in the fleet at a rejection.
    lowest_at_rejection: Option<u64>,
    /// Per sample: (max utilisation, fleet utilisation).
    samples: Vec<(f64, f64)>,
    overloads: u64,
    rejections: u64,
    /// Rejections while some server had room.
    rejected_with_room: u64,
    /// Rejections of clients that arrived when the offered load, they
    /// included, exceeded capacity.
    rejected_over_capacity: u64,
    /// Time clients took to choose: (99th percentile, most), in ms.
    choice_ms: (u64, u64),
    errors: u64,
}

impl SteadyResult {
    fn mean_fleet(&self) -> f64 {
        mean(self.samples.iter().map(|s| s.1))
    }

    fn mean_max_over_mean(&self) -> f64 {
        mean(self.samples.iter().map(|s| s.0 / s.1))
    }

    fn peak(&self) -> f64 {
        self.samples.iter().map(|s| s.0).fold(0.0, f64::max)
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0u32), |(sum, n), v| (sum + v, n + 1));
    if n == 0 { 0.0 } else { sum / f64::from(n) }
}

async fn steady(strategy: Strategy, params: &Params, demand: Arc<Demand>) -> anyhow::Result<SteadyResult> {
    let initial: Vec<u64> = demand.initial.iter().map(|holds| holds.len() as u64).collect();
    let fleet = Fleet::start(params, strategy, &initial).await?;
    let chooser = Chooser::new(strategy, &fleet);
    let counters = Arc::new(Counters::default());
    let measuring = Arc::new(AtomicBool::new(false));
    let done = CancellationToken::new();
    let mut sessions = JoinSet::new();
    let start = Instant::now();

    for (index, holds) in demand.initial.iter().enumerate() {
        for &hold in holds {
            let (agent, done) = (fleet.agents[index].clone(), done.clone());
            sessions.spawn(async move {
                tokio::select! {
                    () = done.cancelled() => {}
                    () = tokio::time::sleep_until(start + hold) => { agent.live.fetch_sub(1, Ordering::Relaxed); }
                }
            });
        }
    }

    let measure_from = start + params.warmup;
    let end = measure_from + params.measure;
    let sampler = {
        let (agents, measuring, every) = (fleet.agents.clone(), measuring.clone(), params.sample_every);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut ticks = tokio::time::interval_at(measure_from, every);
            while Instant::now() < end {
                ticks.tick().await;
                measuring.store(true, Ordering::Relaxed);
                let live: u64 = agents.iter().map(|a| a.live.load(Ordering::Relaxed)).sum();
                let capacity: u64 = agents.iter().map(|a| a.capacity).sum();
                #[allow(clippy::cast_precision_loss)]
                let fleet = live as f64 / capacity as f64;
                let max = agents.iter().map(|a| a.utilisation()).fold(0.0, f64::max);
                samples.push((max, fleet));
            }
            measuring.store(false, Ordering::Relaxed);
            samples
        })
    };

    for (id, client) in demand.clients.iter().copied().enumerate() {
        tokio::time::sleep_until(start + client.at).await;
        while sessions.try_join_next().is_some() {}
        let (chooser, counters, measuring, done) =
            (chooser.clone(), counters.clone(), measuring.clone(), done.clone());
        let agents = fleet.agents.clone();
        sessions.spawn(async move {
            // What happens to a client that arrives while measuring counts,
            // whenever it happens.
            let measured = measuring.load(Ordering::Relaxed);
            let counts = |counter: &AtomicU64| {
                if measured {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            };
            counts(&counters.arrivals);
            let room_on_arrival = agents.iter().any(|a| a.has_room());
            let asked = Instant::now();
            let choice = chooser.choose(id, client.hold).await;
            if measured {
                counters.chose(asked.elapsed());
            }
            let (agent, mut reservation) = match choice {
                Ok(Choice::Server { agent, reservation }) => {
                    chosen(&agents[agent]);
                    (agent, reservation)
                }
                Ok(Choice::Rejected) => {
                    if measured {
                        counters.rejected(&agents, client.at, room_on_arrival);
                    }
                    return;
                }
                Err(error) => {
                    counts(&counters.errors);
                    eprintln!("{}: client {id}: {error:#}", chooser.strategy.name());
                    return;
                }
            };
            tokio::select! {
                () = done.cancelled() => return,
                () = tokio::time::sleep(client.connect_delay) => {}
            }
            let agent = &agents[agent];
            if connect(agent) {
                counts(&counters.overloads);
            }
            if chooser.strategy == Strategy::Pick(PickVariant::ReleaseOnConnect)
                && let Some(id) = reservation.take()
            {
                chooser.release(&id).await;
            }
            let hold = client.hold.unwrap_or(Duration::MAX);
            tokio::select! {
                () = done.cancelled() => return,
                () = tokio::time::sleep(hold) => {}
            }
            agent.live.fetch_sub(1, Ordering::Relaxed);
            // The session ended: give the reservation back, as a player does.
            if let Some(id) = reservation {
                chooser.release(&id).await;
            }
        });
    }
    let samples = sampler.await?;
    // Let the clients that arrived last, and may wait for a slot, be
    // placed or refused as they would be, sessions still ending.
    tokio::time::sleep(Duration::from_millis(Settings::default().pick_wait_ms + 200)).await;
    done.cancel();
    while sessions.join_next().await.is_some() {}
    let result = SteadyResult {
        strategy,
        arrivals: counters.arrivals.load(Ordering::Relaxed),
        lowest_at_rejection: counters.lowest_at_rejection(),
        samples,
        overloads: counters.overloads.load(Ordering::Relaxed),
        rejections: counters.rejections.load(Ordering::Relaxed),
        rejected_with_room: counters.rejected_with_room.load(Ordering::Relaxed),
        rejected_over_capacity: {
            let arrivals = counters.rejected_arrivals.lock().unwrap_or_else(PoisonError::into_inner);
            let capacity = usize::try_from(params.total_capacity())?;
            arrivals.iter().filter(|&&at| demand.demanded_at(at) > capacity).count() as u64
        },
        choice_ms: {
            let mut took = counters.choice_ms.lock().unwrap_or_else(PoisonError::into_inner).clone();
            took.sort_unstable();
            let p99 = took.get(took.len() * 99 / 100).or(took.last()).copied().unwrap_or(0);
            (p99, took.last().copied().unwrap_or(0))
        },
        errors: counters.errors.load(Ordering::Relaxed),
    };
    fleet.shutdown().await?;
    Ok(result)
}

// ----------------------------------------------------------------- reports

fn burst_table(results: &[BurstResult]) -> String {
    let mut out = String::from(
        "| strategy | max/mean utilisation | max utilisation | mean utilisation | overloads | rejections |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.2} | {} | {}{} |",
            r.strategy.name(),
            r.max() / r.fleet,
            r.max(),
            r.fleet,
            r.overloads,
            r.rejections,
            errors_note(r.errors)
        );
    }
    out
}

fn steady_table(results: &[SteadyResult], params: &Params) -> String {
    let mut out = String::from(
        "| strategy | max/mean utilisation (time average) | peak max utilisation | mean utilisation | arrivals \
         | overloads | rejections | of which offered load above capacity | of which a server had room \
         | fleet occupancy at a rejection (lowest) | choice time p99 / max (ms) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.2} | {} | {} | {}{} | {} | {} | {} | {} / {} |",
            r.strategy.name(),
            r.mean_max_over_mean(),
            r.peak(),
            r.mean_fleet(),
            r.arrivals,
            r.overloads,
            r.rejections,
            errors_note(r.errors),
            r.rejected_over_capacity,
            r.rejected_with_room,
            utilisation_at_rejection(r.lowest_at_rejection, params),
            r.choice_ms.0,
            r.choice_ms.1
        );
    }
    out
}

fn errors_note(errors: u64) -> String {
    if errors == 0 { String::new() } else { format!(" ({errors} failed calls)") }
}

/// Checks the targets of the full run; returns the misses.
fn check_targets(bursts: &[BurstResult], steadies: &[SteadyResult]) -> Vec<String> {
    let mut misses = Vec::new();
    let find_burst = |s| bursts.iter().find(|r| r.strategy == s);
    if let (Some(pick), Some(naive)) =
        (find_burst(Strategy::Pick(PickVariant::Session)), find_burst(Strategy::LeastLoaded))
    {
        let ratio = pick.max() / pick.fleet;
        if ratio > 1.2 + 1e-9 {
            misses.push(format!("burst: Pick max/mean {ratio:.2} > 1.20"));
        }
        if pick.overloads > 0 {
            misses.push(format!("burst: Pick overloaded {} sessions", pick.overloads));
        }
        if naive.overloads == 0 || naive.max() / naive.fleet <= 2.0 * ratio {
            misses.push("burst: the naive strategy did not herd visibly".into());
        }
    }
    let find_steady = |s| steadies.iter().find(|r| r.strategy == s);
    if let (Some(pick), Some(p2c)) =
        (find_steady(Strategy::Pick(PickVariant::Session)), find_steady(Strategy::PowerOfTwo))
    {
        if pick.mean_max_over_mean() > p2c.mean_max_over_mean() {
            misses.push(format!(
                "steady: Pick max/mean {:.3} > power of two {:.3}",
                pick.mean_max_over_mean(),
                p2c.mean_max_over_mean()
            ));
        }
        if pick.overloads > p2c.overloads {
            misses
                .push(format!("steady: Pick overloads {} > power of two {}", pick.overloads, p2c.overloads));
        }
        if pick.rejections > p2c.rejections {
            misses.push(format!(
                "steady: Pick rejections {} > power of two {} ({} arrived with the offered load above \
                 capacity, {} while a server had room)",
                pick.rejections, p2c.rejections, pick.rejected_over_capacity, pick.rejected_with_room
            ));
        }
    }
    misses
}

async fn run(params: Params, seeds: &[u64]) -> anyhow::Result<()> {
    println!(
        "placement simulation ({} run, seeds {seeds:?}): {} servers, capacities {:?} (total {}), \
         agents sample every {} ms (max_age_ms {}), clients connect {}-{} ms after choosing",
        if params.quick { "quick" } else { "full" },
        params.capacities.len(),
        params.capacities,
        params.total_capacity(),
        params.refresh.as_millis(),
        params.refresh.as_millis(),
        params.connect_delay.0.as_millis(),
        params.connect_delay.1.as_millis(),
    );
    println!(
        "(a) burst: {} clients within {} ms on an idle fleet, sessions held past the end; \
         (b) steady state: Poisson arrivals at {:.0}% of capacity ({:.1}/s), exponential sessions of mean {} s, \
         warm-up {} s, measured over {} s (utilisation sampled every {} ms)",
        params.burst_clients,
        params.burst_spread.as_millis(),
        params.steady_load * 100.0,
        params.arrival_rate(),
        params.mean_session.as_secs_f64(),
        params.warmup.as_secs_f64(),
        params.measure.as_secs_f64(),
        params.sample_every.as_millis()
    );

    let mut verdicts = Vec::new();
    for (n, &seed) in seeds.iter().enumerate() {
        let params = Params { seed, ..params.clone() };
        println!("\n### Seed {seed}");

        let mut bursts = Vec::new();
        let demand = Demand::burst(&params);
        for strategy in Strategy::ALL {
            bursts.push(burst(strategy, &params, &demand).await?);
        }
        println!("\n(a) burst\n");
        print!("{}", burst_table(&bursts));
        if n == 0 {
            println!("\nper-server utilisation after the burst, servers in order of capacity:\n");
            for r in &bursts {
                let cells: Vec<String> = r.utilisation.iter().map(|u| format!("{u:.2}")).collect();
                println!("    {:<32} {}", r.strategy.name(), cells.join(" "));
            }
        }

        let demand = Arc::new(Demand::steady(&params));
        let steadies = steady_all(&params, &demand).await?;
        println!("\n(b) steady state; {}\n", offered_line(&params, &demand));
        print!("{}", steady_table(&steadies, &params));
        verdicts.push((seed, check_targets(&bursts, &steadies)));
    }

    if params.quick {
        println!(
            "\nquick run: too small and too short (sessions of {} s against a {} s refresh) for these \
             figures to mean anything; the full run is the measurement",
            params.mean_session.as_secs_f64(),
            params.refresh.as_secs_f64()
        );
    } else {
        println!("\n### Targets\n");
        for (seed, misses) in &verdicts {
            if misses.is_empty() {
                println!("seed {seed}: all met");
            } else {
                println!("seed {seed}: missed: {}", misses.join("; "));
            }
        }
    }
    Ok(())
}

/// What the steady scenario of one seed offers while measured.
fn offered_line(params: &Params, demand: &Demand) -> String {
    let window = params.warmup..params.warmup + params.measure;
    let offered: Vec<usize> = std::iter::successors(Some(window.start), |t| Some(*t + params.sample_every))
        .take_while(|t| window.contains(t))
        .map(|t| demand.offered_at(t))
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let (offered_mean, offered_peak, capacity) = (
        mean(offered.iter().map(|&n| n as f64)),
        offered.iter().copied().max().unwrap_or(0) as f64,
        params.total_capacity() as f64,
    );
    let arrivals = demand.clients.iter().filter(|c| window.contains(&c.at)).count();
    let refused = demand.refused_by_a_perfect_broker(params.total_capacity(), &window, Duration::ZERO);
    let wait = Duration::from_millis(Settings::default().pick_wait_ms);
    let refused_waiting = demand.refused_by_a_perfect_broker(params.total_capacity(), &window, wait);
    format!(
        "sessions offered while measured (as if every client were placed): mean {offered_mean:.0} \
         ({:.1}% of capacity), peak {offered_peak:.0} ({:.1}%); {arrivals} arrivals, of which a broker \
         that knew every server's count at every instant would refuse {refused} at once (the fleet \
         full when they arrive), or {refused_waiting} if it let them wait up to {} ms for a slot, as \
         Pick does",
        100.0 * offered_mean / capacity,
        100.0 * offered_peak / capacity,
        wait.as_millis()
    )
}

/// Runs the steady scenario for every strategy. The runs are independent
/// (each its own broker and agents) and mostly asleep: they run side by
/// side to save time.
async fn steady_all(params: &Params, demand: &Arc<Demand>) -> anyhow::Result<Vec<SteadyResult>> {
    let mut runs = JoinSet::new();
    for (order, strategy) in Strategy::ALL.into_iter().enumerate() {
        let (params, demand) = (params.clone(), demand.clone());
        runs.spawn(async move { (order, steady(strategy, &params, demand).await) });
    }
    let mut results = Vec::new();
    while let Some(joined) = runs.join_next().await {
        let (order, result) = joined?;
        results.push((order, result?));
    }
    results.sort_by_key(|(order, _)| *order);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--test")
        || !args.iter().any(|a| a == "--bench")
        || std::env::var("BOURSE_BENCH_QUICK").is_ok_and(|v| v == "1");
    let params = if quick { Params::quick() } else { Params::full() };
    let seeds: Vec<u64> = match std::env::var("BOURSE_PLACEMENT_SEEDS") {
        Ok(list) => list
            .split(',')
            .map(|seed| seed.trim().parse())
            .collect::<Result<_, _>>()
            .context("BOURSE_PLACEMENT_SEEDS must be a comma-separated list of numbers")?,
        Err(_) if quick => vec![1],
        Err(_) => vec![1, 2, 3],
    };
    if std::env::var("BOURSE_PLACEMENT_DEMAND_ONLY").is_ok_and(|v| v == "1") {
        // The steady demand of each seed, without running any strategy.
        for seed in seeds {
            let params = Params { seed, ..params.clone() };
            println!("seed {seed}: {}", offered_line(&params, &Demand::steady(&params)));
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(params, &seeds))
}
