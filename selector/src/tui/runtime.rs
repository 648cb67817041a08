//! Where `bourse select` meets the world. The [`Runtime`] runs each
//! [`Effect`] as a task that talks to the broker and sends a [`Msg`] back;
//! a new request in a slot aborts the one running there (latest wins).
//! [`Session`] ties the model, `update` and the runtime together, and
//! [`run`] is the event loop: keys, ticks and replies in, a frame out.
//! The terminal itself (raw mode, alternate screen, restoring it on exit
//! and on panic) is set up by [`TerminalGuard`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use bourse_proto::{DesiredProps, PickRequest, PropsMode, QueryRequest, WatchRequest};
use crossterm::event::Event;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_stream::{Stream, StreamExt};

use super::model::{Failure, FailureKind, Model, Outcome, Picked, Settings};
use super::update::{Effect, Msg, QuerySpec, Slot, start, update};
use super::view::view;
use crate::client::Broker;
use crate::commands::pick::endpoint;
use crate::commands::query::fetch_all_pages;
use crate::error::CliError;
use crate::media::{SERVICE_TYPE, merge_titles, property, server_from_offer};

/// The time in Unix milliseconds; tests pass a fixed one so that ages
/// shown in the UI do not vary.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(crate::commands::now_unix_ms)
}

/// A failure as the UI shows it, from the error of a call.
pub fn failure_of(error: CliError) -> Failure {
    use tonic::Code;
    match error {
        CliError::Unreachable { address, reason } => {
            Failure::new(FailureKind::Unreachable, format!("cannot reach the broker at {address}: {reason}"))
        }
        CliError::Broker(error) => {
            let kind = match error.code {
                Code::ResourceExhausted => FailureKind::NoRoom,
                Code::NotFound => FailureKind::NotFound,
                Code::InvalidArgument | Code::FailedPrecondition => FailureKind::Rejected,
                Code::DeadlineExceeded | Code::Cancelled => FailureKind::Timeout,
                _ => FailureKind::Broker,
            };
            Failure::new(kind, error.to_string())
        }
        other => Failure::new(FailureKind::Broker, other.to_string()),
    }
}

fn query_request(spec: &QuerySpec) -> QueryRequest {
    QueryRequest {
        r#type: SERVICE_TYPE.to_string(),
        constraint: spec.constraint.clone(),
        preference: spec.preference.clone(),
        policies: Vec::new(),
        desired: Some(DesiredProps { mode: PropsMode::Named as i32, names: spec.desired.clone() }),
        how_many: 0,
    }
}

/// Runs effects as tasks on the current tokio runtime.
pub struct Runtime {
    broker: Broker,
    /// Replies go here; the [`Session`] holds the receiving end.
    tx: mpsc::UnboundedSender<Msg>,
    /// The task running in each slot.
    tasks: HashMap<Slot, AbortHandle>,
    clock: Clock,
}

impl Runtime {
    pub fn new(broker: Broker, tx: mpsc::UnboundedSender<Msg>, clock: Clock) -> Runtime {
        Runtime { broker, tx, tasks: HashMap::new(), clock }
    }

    pub fn execute(&mut self, effect: Effect) {
        let slot = effect.slot();
        if let Some(task) = self.tasks.remove(&slot) {
            task.abort();
        }
        let (broker, tx, clock) = (self.broker.clone(), self.tx.clone(), self.clock.clone());
        let task = match effect {
            Effect::Cancel(_) => return,
            Effect::LoadTitles { request, query } => tokio::spawn(async move {
                let msg = match query_all(&broker, &query).await {
                    Ok(offers) => Msg::TitlesLoaded {
                        request,
                        at_ms: clock(),
                        titles: merge_titles(&offers),
                        servers: offers.len(),
                    },
                    Err(error) => Msg::Failed { request, failure: failure_of(error) },
                };
                let _ = tx.send(msg);
            }),
            Effect::LoadServers { request, query } => tokio::spawn(async move {
                let msg = match query_all(&broker, &query).await {
                    Ok(offers) => Msg::ServersLoaded {
                        request,
                        at_ms: clock(),
                        servers: offers
                            .iter()
                            .map(|o| server_from_offer(o, query.title.as_deref()))
                            .collect(),
                    },
                    Err(error) => Msg::Failed { request, failure: failure_of(error) },
                };
                let _ = tx.send(msg);
            }),
            Effect::Watch { request, query, interval_ms } => {
                tokio::spawn(watch(broker, tx, clock, request, query, interval_ms))
            }
            Effect::Pick { request, query, offer_id, client, reserve_seconds } => tokio::spawn(async move {
                let msg = match pick(&broker, &query, offer_id, client, reserve_seconds).await {
                    Ok(picked) => Msg::Picked { request, picked },
                    Err(error) => Msg::Failed { request, failure: failure_of(error) },
                };
                let _ = tx.send(msg);
            }),
        };
        self.tasks.insert(slot, task.abort_handle());
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.abort();
        }
    }
}

async fn query_all(broker: &Broker, spec: &QuerySpec) -> Result<Vec<bourse_proto::MatchedOffer>, CliError> {
    let first = broker
        .lookup()
        .query(broker.request(query_request(spec)))
        .await
        .map_err(|status| broker.error(status))?
        .into_inner();
    Ok(fetch_all_pages(broker, first, 0).await?.offers)
}

async fn watch(
    broker: Broker,
    tx: mpsc::UnboundedSender<Msg>,
    clock: Clock,
    request: u64,
    query: QuerySpec,
    interval_ms: u32,
) {
    let watch_request = WatchRequest { query: Some(query_request(&query)), interval_ms };
    // No deadline: the stream lasts as long as phase 3.
    let mut stream = match broker.lookup().watch(tonic::Request::new(watch_request)).await {
        Ok(reply) => reply.into_inner(),
        Err(status) => {
            let _ = tx.send(Msg::Failed { request, failure: failure_of(broker.error(status)) });
            return;
        }
    };
    while let Some(item) = stream.next().await {
        let msg = match item {
            Ok(update) => Msg::WatchUpdate {
                request,
                at_ms: clock(),
                sequence: update.sequence,
                servers: update.offers.iter().map(|o| server_from_offer(o, query.title.as_deref())).collect(),
            },
            Err(status) => Msg::Failed { request, failure: failure_of(broker.error(status)) },
        };
        let failed = matches!(msg, Msg::Failed { .. });
        if tx.send(msg).is_err() || failed {
            return;
        }
    }
    let failure = Failure::new(FailureKind::Ended, "the broker ended the stream of figures (shutting down?)");
    let _ = tx.send(Msg::Failed { request, failure });
}

async fn pick(
    broker: &Broker,
    query: &QuerySpec,
    offer_id: String,
    client: String,
    reserve_seconds: u64,
) -> Result<Picked, CliError> {
    let request = query_request(query);
    let pick_request = PickRequest {
        r#type: request.r#type,
        constraint: request.constraint,
        preference: request.preference,
        policies: request.policies,
        desired: request.desired,
        client,
        reservation_seconds: reserve_seconds,
        offer_ids: vec![offer_id],
    };
    let reply =
        broker.lookup().pick(broker.request(pick_request)).await.map_err(|s| broker.error(s))?.into_inner();
    let offer = reply
        .offer
        .ok_or_else(|| CliError::Broker(crate::error::BrokerError::protocol("the broker picked no offer")))?;
    let host = match property(&offer, "host") {
        Some(bourse_proto::value::Kind::StringValue(host)) => host.clone(),
        _ => offer.reference.clone(),
    };
    Ok(Picked {
        title: query.title.clone().unwrap_or_default(),
        host,
        offer_id: offer.id.clone(),
        url: endpoint(&offer, query.title.as_deref()),
        reservation_id: reply.reservation_id,
        reservation_seconds: reply.reservation_seconds,
        expires_unix_ms: reply.reservation_expires_unix_ms,
    })
}

/// A model with its runtime and the channel between them: what the event
/// loop drives, and what tests drive key by key.
pub struct Session {
    pub model: Model,
    runtime: Runtime,
    rx: mpsc::UnboundedReceiver<Msg>,
}

impl Session {
    /// A session against the broker at `settings.broker`. Fails only on an
    /// address that cannot be a broker's; an unreachable broker shows in
    /// the UI.
    pub fn new(settings: Settings, call_timeout: Duration, clock: Clock) -> Result<Session, CliError> {
        let broker = Broker::lazy(&settings.broker, call_timeout)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut model = Model::new(settings);
        model.now_ms = clock();
        Ok(Session { model, runtime: Runtime::new(broker, tx, clock), rx })
    }

    /// Sends phase 1's query.
    pub fn start(&mut self) {
        for effect in start(&mut self.model) {
            self.runtime.execute(effect);
        }
    }

    /// Applies one message and runs the effects it asks for.
    pub fn dispatch(&mut self, msg: Msg) {
        for effect in update(&mut self.model, msg) {
            self.runtime.execute(effect);
        }
    }

    /// The next reply of a task.
    pub async fn next_reply(&mut self) -> Option<Msg> {
        self.rx.recv().await
    }

    /// Applies replies one at a time until `done` holds for the model;
    /// false if it does not within `within`. Replies still queued then
    /// stay queued, so a test sees exactly the state it waited for.
    pub async fn settle(&mut self, within: Duration, done: impl Fn(&Model) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !done(&self.model) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(msg)) => self.dispatch(msg),
                Ok(None) | Err(_) => return false,
            }
        }
        true
    }

    pub fn now(&self) -> i64 {
        self.runtime.now()
    }
}

/// How often the status line is refreshed (figures age).
pub const TICK: Duration = Duration::from_millis(250);

/// The event loop: draws, then waits for a key, a tick or a reply, until
/// the model has an outcome.
pub async fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    session: &mut Session,
    mut events: impl Stream<Item = io::Result<Event>> + Unpin,
) -> io::Result<Outcome>
where
    B::Error: std::fmt::Display,
{
    session.start();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        terminal.draw(|frame| view(&session.model, frame)).map_err(|e| io::Error::other(e.to_string()))?;
        if let Some(outcome) = session.model.outcome.clone() {
            return Ok(outcome);
        }
        let msg = tokio::select! {
            _ = ticks.tick() => Msg::Tick { now_ms: session.now() },
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => Msg::Key(key),
                // A resize (or focus, mouse, paste): draw again.
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(error),
                None => return Ok(Outcome::Quit),
            },
            Some(msg) = session.rx.recv() => msg,
        };
        session.dispatch(msg);
    }
}

// ------------------------------------------------------------- terminal

/// Where the UI is drawn: stdout, or the terminal itself (`/dev/tty`) when
/// stdout is kept for the result (`--print`), or stderr when there is no
/// `/dev/tty`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenKind {
    Stdout,
    Tty,
    Stderr,
}

/// A writer to the screen.
pub enum Screen {
    Stdout(io::Stdout),
    Tty(File),
    Stderr(io::Stderr),
}

impl ScreenKind {
    /// The screen for the UI: with `keep_stdout`, the terminal or stderr.
    pub fn choose(keep_stdout: bool) -> ScreenKind {
        if !keep_stdout {
            ScreenKind::Stdout
        } else if File::options().write(true).open("/dev/tty").is_ok() {
            ScreenKind::Tty
        } else {
            ScreenKind::Stderr
        }
    }

    pub fn open(self) -> io::Result<Screen> {
        Ok(match self {
            ScreenKind::Stdout => Screen::Stdout(io::stdout()),
            ScreenKind::Tty => Screen::Tty(File::options().read(true).write(true).open("/dev/tty")?),
            ScreenKind::Stderr => Screen::Stderr(io::stderr()),
        })
    }

    pub fn is_terminal(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ScreenKind::Stdout => io::stdout().is_terminal(),
            ScreenKind::Tty => true,
            ScreenKind::Stderr => io::stderr().is_terminal(),
        }
    }
}

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Screen::Stdout(w) => w.write(buf),
            Screen::Tty(w) => w.write(buf),
            Screen::Stderr(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Screen::Stdout(w) => w.flush(),
            Screen::Tty(w) => w.flush(),
            Screen::Stderr(w) => w.flush(),
        }
    }
}

/// Raw mode and the alternate screen while it lives; the terminal is put
/// back when it is dropped, and by a panic hook if the UI panics, so that
/// the shell is never left garbled.
pub struct TerminalGuard {
    kind: ScreenKind,
}

impl TerminalGuard {
    pub fn enter(kind: ScreenKind) -> io::Result<TerminalGuard> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore(kind);
            previous(info);
        }));
        crossterm::terminal::enable_raw_mode()?;
        let mut screen = kind.open()?;
        crossterm::execute!(screen, crossterm::terminal::EnterAlternateScreen, crossterm::cursor::Hide)?;
        Ok(TerminalGuard { kind })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore(self.kind);
    }
}

/// Leaves raw mode and the alternate screen; best effort, as it also runs
/// from the panic hook.
fn restore(kind: ScreenKind) {
    let _ = crossterm::terminal::disable_raw_mode();
    if let Ok(mut screen) = kind.open() {
        let _ =
            crossterm::execute!(screen, crossterm::terminal::LeaveAlternateScreen, crossterm::cursor::Show);
    }
}
