//! The state of `bourse select`: the phase, what each pane holds with its
//! own [`LoadingState`], the overlays and, at the end, the outcome. Plain
//! data: `update` changes it, `view` only reads it.

use std::collections::VecDeque;

use crate::media::{ClientConfig, Figures, Order, Server, Title, parse_list};

/// Identifies one request to the broker, so that a reply to a request that
/// was replaced (latest wins) is recognised and dropped.
pub type RequestId = u64;

/// Where a pane's data stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LoadingState {
    /// Nothing asked yet.
    #[default]
    Idle,
    /// A request is out; the pane may still show older data.
    Loading,
    Loaded,
    /// The last request failed; the pane may still show older data.
    Error(Failure),
}

/// A pane's data and the request that will replace it.
#[derive(Debug, Clone, Default)]
pub struct Pane<T> {
    pub state: LoadingState,
    pub data: T,
    /// The request whose reply the pane waits for or last took; replies to
    /// any other request are stale.
    pub request: Option<RequestId>,
    /// When the data arrived (Unix ms, stamped by the runtime).
    pub at_ms: Option<i64>,
}

impl<T> Pane<T> {
    pub fn is_loading(&self) -> bool {
        self.state == LoadingState::Loading
    }

    pub fn failure(&self) -> Option<&Failure> {
        match &self.state {
            LoadingState::Error(failure) => Some(failure),
            _ => None,
        }
    }

    /// Whether a reply to `request` is the one this pane waits for.
    pub fn expects(&self, request: RequestId) -> bool {
        self.request == Some(request)
    }
}

/// Why a request failed, sorted by what the user can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The broker cannot be reached, or the connection broke.
    Unreachable,
    /// Pick found matching servers but none with room (RESOURCE_EXHAUSTED).
    NoRoom,
    /// Nothing matches (for Pick: the chosen server is gone or changed).
    NotFound,
    /// The broker rejected the request (a constraint it cannot evaluate).
    Rejected,
    /// The broker did not answer in time.
    Timeout,
    /// The broker ended a Watch stream.
    Ended,
    /// Any other broker error.
    Broker,
}

/// A failed request, as the UI reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure { kind, message: message.into() }
    }

    /// A few words that head the message.
    pub fn headline(&self) -> &'static str {
        match self.kind {
            FailureKind::Unreachable => "broker unreachable",
            FailureKind::NoRoom => "no room",
            FailureKind::NotFound => "no match",
            FailureKind::Rejected => "rejected by the broker",
            FailureKind::Timeout => "no answer in time",
            FailureKind::Ended => "live figures stopped",
            FailureKind::Broker => "broker error",
        }
    }
}

/// The three phases of the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Titles playable with the client's formats on servers with room.
    Titles,
    /// Servers holding the chosen title, with their figures, ranked.
    Servers,
    /// Live charts of those servers; Enter picks.
    Charts,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Titles, Phase::Servers, Phase::Charts];

    pub fn label(self) -> &'static str {
        match self {
            Phase::Titles => "1 Titles",
            Phase::Servers => "2 Servers",
            Phase::Charts => "3 Charts & pick",
        }
    }
}

/// What covers the phase's screen, if anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Overlay {
    #[default]
    None,
    Help,
    /// The client configuration form.
    Client(ClientForm),
    /// A failure that needs acknowledging (a failed pick).
    Notice {
        title: String,
        failure: Failure,
    },
}

/// The client configuration being edited: one comma-separated text field
/// per list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientForm {
    /// Video, audio, protocols.
    pub fields: [String; 3],
    /// Index of the field being edited.
    pub focus: usize,
}

impl ClientForm {
    pub const LABELS: [&'static str; 3] = ["Video formats", "Audio formats", "Protocols"];

    pub fn new(client: &ClientConfig) -> ClientForm {
        ClientForm {
            fields: [client.video.join(","), client.audio.join(","), client.protocols.join(",")],
            focus: 0,
        }
    }

    pub fn client(&self) -> ClientConfig {
        ClientConfig {
            video: parse_list(&self.fields[0]),
            audio: parse_list(&self.fields[1]),
            protocols: parse_list(&self.fields[2]),
        }
    }
}

/// The text that narrows the title list, and whether keys go to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub text: String,
    pub editing: bool,
}

impl Filter {
    pub fn matches(&self, name: &str) -> bool {
        self.text.is_empty() || name.to_lowercase().contains(&self.text.to_lowercase())
    }
}

/// Samples kept per chart.
pub const HISTORY: usize = 60;

/// One server's history in phase 3.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The server as of the latest update.
    pub server: Server,
    /// Its place in the broker's order in the latest update; `None` once it
    /// no longer matches (withdrawn, or the title is gone from it).
    pub rank: Option<usize>,
    /// Load per core; oldest first. `None` where the figure was missing.
    pub load: VecDeque<Option<f64>>,
    /// Outbound bits per second.
    pub bandwidth_out: VecDeque<Option<f64>>,
    pub connections: VecDeque<Option<f64>>,
}

impl Series {
    pub fn new(server: Server, rank: Option<usize>) -> Series {
        let mut series = Series {
            server,
            rank,
            load: VecDeque::new(),
            bandwidth_out: VecDeque::new(),
            connections: VecDeque::new(),
        };
        let figures = series.server.figures.clone();
        series.push(&figures);
        series
    }

    #[allow(clippy::cast_precision_loss, reason = "figures for a chart")]
    pub fn push(&mut self, figures: &Figures) {
        let samples = [
            (&mut self.load, figures.load),
            (&mut self.bandwidth_out, figures.bandwidth_out.map(|b| b as f64)),
            (&mut self.connections, figures.connections.map(|c| c as f64)),
        ];
        for (history, value) in samples {
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(value);
        }
    }
}

/// Phase 3's data: every server's history, present ones in the broker's
/// order, then those gone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Charts {
    pub series: Vec<Series>,
    /// Sequence number of the latest Watch update.
    pub sequence: u64,
}

/// What the session was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The broker's address as given, for the status line.
    pub broker: String,
    pub client: ClientConfig,
    pub order: Order,
    /// Time between Watch updates.
    pub interval_ms: u32,
    /// The client's name in Pick requests.
    pub client_name: String,
    /// Reservation length asked for (0: the broker's default).
    pub reserve_seconds: u64,
}

impl Settings {
    pub fn new(broker: impl Into<String>, client: ClientConfig) -> Settings {
        Settings {
            broker: broker.into(),
            client,
            order: Order::default(),
            interval_ms: 1000,
            client_name: "bourse select".to_string(),
            reserve_seconds: 0,
        }
    }
}

/// A successful pick: where to play and the reservation holding room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    pub title: String,
    pub host: String,
    pub offer_id: String,
    /// The title's play URL on the server (its reference when it has none).
    pub url: String,
    pub reservation_id: String,
    pub reservation_seconds: u64,
    pub expires_unix_ms: i64,
}

/// How the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Quit,
    Picked(Picked),
}

/// Everything the UI shows.
#[derive(Debug, Clone)]
pub struct Model {
    pub settings: Settings,
    /// The client configuration in force (editable in the UI).
    pub client: ClientConfig,
    pub order: Order,
    pub phase: Phase,
    pub overlay: Overlay,
    pub titles: Pane<Vec<Title>>,
    /// Servers that phase 1's query matched.
    pub title_servers: usize,
    pub filter: Filter,
    /// Index into [`Model::visible_titles`].
    pub title_cursor: usize,
    /// The title chosen in phase 1.
    pub title: Option<String>,
    pub servers: Pane<Vec<Server>>,
    pub server_cursor: usize,
    pub charts: Pane<Charts>,
    pub chart_cursor: usize,
    /// The Pick in flight or last failed; its data is the host asked for.
    pub pick: Pane<String>,
    /// The time as of the last tick (Unix ms).
    pub now_ms: i64,
    /// Set when the session is over.
    pub outcome: Option<Outcome>,
    pub next_request: RequestId,
}

impl Model {
    pub fn new(settings: Settings) -> Model {
        Model {
            client: settings.client.clone(),
            order: settings.order,
            settings,
            phase: Phase::Titles,
            overlay: Overlay::None,
            titles: Pane::default(),
            title_servers: 0,
            filter: Filter::default(),
            title_cursor: 0,
            title: None,
            servers: Pane::default(),
            server_cursor: 0,
            charts: Pane::default(),
            chart_cursor: 0,
            pick: Pane::default(),
            now_ms: 0,
            outcome: None,
            next_request: 1,
        }
    }

    /// The titles that pass the filter, in order.
    pub fn visible_titles(&self) -> Vec<&Title> {
        self.titles.data.iter().filter(|t| self.filter.matches(&t.name)).collect()
    }

    pub fn highlighted_title(&self) -> Option<&Title> {
        self.visible_titles().get(self.title_cursor).copied()
    }

    pub fn selected_server(&self) -> Option<&Server> {
        self.servers.data.get(self.server_cursor)
    }

    pub fn selected_series(&self) -> Option<&Series> {
        self.charts.data.series.get(self.chart_cursor)
    }

    /// How old the figures of the current phase are, in ms.
    pub fn figures_age_ms(&self) -> Option<i64> {
        let at = match self.phase {
            Phase::Titles => self.titles.at_ms,
            Phase::Servers => self.servers.at_ms,
            Phase::Charts => self.charts.at_ms,
        }?;
        Some(self.now_ms.saturating_sub(at).max(0))
    }

    pub fn new_request(&mut self) -> RequestId {
        let id = self.next_request;
        self.next_request += 1;
        id
    }
}
