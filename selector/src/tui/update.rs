//! How `bourse select` reacts: [`update`] takes the model and one [`Msg`]
//! (a key, a tick, a reply from the broker) and returns the [`Effect`]s to
//! run. No I/O happens here, so every reaction is tested without a
//! terminal or a broker.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::model::{
    Charts, ClientForm, Failure, FailureKind, LoadingState, Model, Outcome, Overlay, Phase, Picked,
    RequestId, Series,
};
use crate::media::{
    SERVER_PROPERTIES, Server, TITLE_PROPERTIES, Title, servers_constraint, titles_constraint,
};

/// Everything that makes the session change: the one closed list of
/// triggers of the event loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Key(KeyEvent),
    /// The clock moved (Unix ms); the status line ages the figures.
    Tick {
        now_ms: i64,
    },
    /// Phase 1's query came back: titles merged across `servers` offers.
    TitlesLoaded {
        request: RequestId,
        at_ms: i64,
        titles: Vec<Title>,
        servers: usize,
    },
    /// Phase 2's query came back, in the broker's order.
    ServersLoaded {
        request: RequestId,
        at_ms: i64,
        servers: Vec<Server>,
    },
    /// An update of phase 3's Watch, in the broker's order.
    WatchUpdate {
        request: RequestId,
        at_ms: i64,
        sequence: u64,
        servers: Vec<Server>,
    },
    /// The Pick succeeded: a reservation holds room on the server.
    Picked {
        request: RequestId,
        picked: Picked,
    },
    /// A request failed (for a Watch: the stream broke or ended).
    Failed {
        request: RequestId,
        failure: Failure,
    },
}

/// A query as the runtime sends it for `MediaServer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    pub constraint: String,
    pub preference: String,
    pub desired: Vec<String>,
    /// The chosen title, whose record the runtime reads from each offer.
    pub title: Option<String>,
}

/// The runtime's task slots: a new request in a slot replaces the one
/// running there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    Titles,
    Servers,
    Watch,
    Pick,
}

/// Work for the runtime; each reply comes back as a [`Msg`] carrying the
/// request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Query (all pages) and merge titles: [`Msg::TitlesLoaded`].
    LoadTitles { request: RequestId, query: QuerySpec },
    /// Query (all pages): [`Msg::ServersLoaded`].
    LoadServers { request: RequestId, query: QuerySpec },
    /// Start a Watch: a [`Msg::WatchUpdate`] per update.
    Watch { request: RequestId, query: QuerySpec, interval_ms: u32 },
    /// Pick the offer `offer_id` (if it still matches `query` and has
    /// room): [`Msg::Picked`].
    Pick { request: RequestId, query: QuerySpec, offer_id: String, client: String, reserve_seconds: u64 },
    /// Stop whatever runs in the slot.
    Cancel(Slot),
}

impl Effect {
    pub fn slot(&self) -> Slot {
        match self {
            Effect::LoadTitles { .. } => Slot::Titles,
            Effect::LoadServers { .. } => Slot::Servers,
            Effect::Watch { .. } => Slot::Watch,
            Effect::Pick { .. } => Slot::Pick,
            Effect::Cancel(slot) => *slot,
        }
    }
}

/// The first effects of a session: phase 1's query.
pub fn start(model: &mut Model) -> Vec<Effect> {
    load_titles(model)
}

/// Applies one message.
pub fn update(model: &mut Model, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(model, key),
        Msg::Tick { now_ms } => {
            model.now_ms = now_ms;
            Vec::new()
        }
        Msg::TitlesLoaded { request, at_ms, titles, servers } if model.titles.expects(request) => {
            let highlighted = model.highlighted_title().map(|t| t.name.clone());
            model.titles.data = titles;
            model.titles.state = LoadingState::Loaded;
            model.titles.at_ms = Some(at_ms);
            model.title_servers = servers;
            model.title_cursor = highlighted
                .and_then(|name| model.visible_titles().iter().position(|t| t.name == name))
                .unwrap_or(0);
            Vec::new()
        }
        Msg::ServersLoaded { request, at_ms, servers } if model.servers.expects(request) => {
            let selected = model.selected_server().map(|s| s.offer_id.clone());
            model.servers.data = servers;
            model.servers.state = LoadingState::Loaded;
            model.servers.at_ms = Some(at_ms);
            model.server_cursor =
                selected.and_then(|id| model.servers.data.iter().position(|s| s.offer_id == id)).unwrap_or(0);
            Vec::new()
        }
        Msg::WatchUpdate { request, at_ms, sequence, servers } if model.charts.expects(request) => {
            apply_watch_update(model, sequence, servers);
            model.charts.state = LoadingState::Loaded;
            model.charts.at_ms = Some(at_ms);
            Vec::new()
        }
        Msg::Picked { request, picked } if model.pick.expects(request) => {
            model.pick.state = LoadingState::Loaded;
            model.outcome = Some(Outcome::Picked(picked));
            vec![Effect::Cancel(Slot::Watch)]
        }
        Msg::Failed { request, failure } => {
            on_failure(model, request, failure);
            Vec::new()
        }
        // A reply to a request that was replaced or abandoned.
        Msg::TitlesLoaded { .. }
        | Msg::ServersLoaded { .. }
        | Msg::WatchUpdate { .. }
        | Msg::Picked { .. } => Vec::new(),
    }
}

fn on_failure(model: &mut Model, request: RequestId, failure: Failure) {
    if model.titles.expects(request) {
        model.titles.state = LoadingState::Error(failure);
    } else if model.servers.expects(request) {
        model.servers.state = LoadingState::Error(failure);
    } else if model.charts.expects(request) {
        model.charts.state = LoadingState::Error(failure);
    } else if model.pick.expects(request) {
        let host = model.pick.data.clone();
        model.pick.state = LoadingState::Error(failure.clone());
        let title = match failure.kind {
            FailureKind::NoRoom => format!("{host} has no room for one more stream"),
            FailureKind::NotFound => format!("{host} no longer offers this title"),
            _ => format!("Cannot pick {host}"),
        };
        model.overlay = Overlay::Notice { title, failure };
    }
}

/// Merges a Watch update into the histories: present servers take their
/// new figures and rank, new ones join, missing ones are marked gone.
fn apply_watch_update(model: &mut Model, sequence: u64, servers: Vec<Server>) {
    let selected = model.selected_series().map(|s| s.server.offer_id.clone());
    let charts = &mut model.charts.data;
    charts.sequence = sequence;
    for series in &mut charts.series {
        series.rank = None;
    }
    for (rank, server) in servers.into_iter().enumerate() {
        match charts.series.iter_mut().find(|s| s.server.offer_id == server.offer_id) {
            Some(series) => {
                series.push(&server.figures);
                series.server = server;
                series.rank = Some(rank);
            }
            None => charts.series.push(Series::new(server, Some(rank))),
        }
    }
    charts.series.sort_by_key(|s| s.rank.unwrap_or(usize::MAX));
    model.chart_cursor = selected
        .and_then(|id| charts.series.iter().position(|s| s.server.offer_id == id))
        .unwrap_or(0)
        .min(charts.series.len().saturating_sub(1));
}

// ------------------------------------------------------------------ keys

fn on_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    if key.kind != KeyEventKind::Press {
        return Vec::new();
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return quit(model);
    }
    match &model.overlay {
        Overlay::None => {}
        Overlay::Client(_) => return client_form_key(model, key),
        Overlay::Help | Overlay::Notice { .. } => {
            return match key.code {
                KeyCode::Char('q') => quit(model),
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('?' | ' ') => {
                    model.overlay = Overlay::None;
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
    }
    if model.phase == Phase::Titles && model.filter.editing {
        return filter_key(model, key);
    }
    match key.code {
        KeyCode::Char('q') => quit(model),
        KeyCode::Char('?') => {
            model.overlay = Overlay::Help;
            Vec::new()
        }
        KeyCode::Char('c') => {
            model.overlay = Overlay::Client(ClientForm::new(&model.client));
            Vec::new()
        }
        KeyCode::Char('o') => {
            model.order = model.order.next();
            match model.phase {
                Phase::Titles => Vec::new(),
                Phase::Servers => load_servers(model),
                Phase::Charts => start_watch(model),
            }
        }
        KeyCode::Char('r') => match model.phase {
            Phase::Titles => load_titles(model),
            Phase::Servers => load_servers(model),
            Phase::Charts => start_watch(model),
        },
        KeyCode::Char('/') if model.phase == Phase::Titles => {
            model.filter.editing = true;
            Vec::new()
        }
        KeyCode::Esc => back(model),
        KeyCode::Enter => advance(model),
        code => {
            if let Some(step) = movement(code) {
                move_cursor(model, step);
            }
            Vec::new()
        }
    }
}

/// Keys while the client form is up: Enter applies it, Esc cancels, the
/// rest edit the focused field.
fn client_form_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            model.overlay = Overlay::None;
            Vec::new()
        }
        KeyCode::Enter => {
            let Overlay::Client(form) = std::mem::take(&mut model.overlay) else { return Vec::new() };
            model.client = form.client();
            // New formats change every phase's results: start over.
            model.phase = Phase::Titles;
            model.title = None;
            model.servers.request = None;
            model.charts.request = None;
            model.pick.request = None;
            let mut effects = vec![Effect::Cancel(Slot::Servers), Effect::Cancel(Slot::Watch)];
            effects.extend(load_titles(model));
            effects
        }
        _ => {
            if let Overlay::Client(form) = &mut model.overlay {
                edit_form(form, key);
            }
            Vec::new()
        }
    }
}

fn edit_form(form: &mut ClientForm, key: KeyEvent) {
    let n_fields = form.fields.len();
    match key.code {
        KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % n_fields,
        KeyCode::BackTab | KeyCode::Up => form.focus = (form.focus + n_fields - 1) % n_fields,
        KeyCode::Backspace => {
            form.fields[form.focus].pop();
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            form.fields[form.focus].clear()
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => form.fields[form.focus].push(c),
        _ => {}
    }
}

fn filter_key(model: &mut Model, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            model.filter.text.clear();
            model.filter.editing = false;
            model.title_cursor = 0;
        }
        KeyCode::Enter => model.filter.editing = false,
        KeyCode::Backspace => {
            model.filter.text.pop();
            model.title_cursor = 0;
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            model.filter.text.push(c);
            model.title_cursor = 0;
        }
        code => {
            if let Some(step) = movement(code) {
                model.filter.editing = false;
                move_cursor(model, step);
            }
        }
    }
    Vec::new()
}

/// A cursor movement: by a number of rows, or to an end.
#[derive(Debug, Clone, Copy)]
enum Step {
    By(isize),
    First,
    Last,
}

/// Rows that PageUp and PageDown move.
const PAGE: isize = 10;

fn movement(code: KeyCode) -> Option<Step> {
    match code {
        KeyCode::Up | KeyCode::Char('k') => Some(Step::By(-1)),
        KeyCode::Down | KeyCode::Char('j') => Some(Step::By(1)),
        KeyCode::PageUp => Some(Step::By(-PAGE)),
        KeyCode::PageDown => Some(Step::By(PAGE)),
        KeyCode::Home | KeyCode::Char('g') => Some(Step::First),
        KeyCode::End | KeyCode::Char('G') => Some(Step::Last),
        _ => None,
    }
}

fn move_cursor(model: &mut Model, step: Step) {
    let (cursor, len) = match model.phase {
        Phase::Titles => {
            let len = model.visible_titles().len();
            (&mut model.title_cursor, len)
        }
        Phase::Servers => (&mut model.server_cursor, model.servers.data.len()),
        Phase::Charts => (&mut model.chart_cursor, model.charts.data.series.len()),
    };
    let last = len.saturating_sub(1);
    *cursor = match step {
        Step::First => 0,
        Step::Last => last,
        Step::By(delta) => cursor.saturating_add_signed(delta).min(last),
    };
}

fn quit(model: &mut Model) -> Vec<Effect> {
    model.outcome = Some(Outcome::Quit);
    vec![Effect::Cancel(Slot::Watch)]
}

/// Esc: one step back.
fn back(model: &mut Model) -> Vec<Effect> {
    match model.phase {
        Phase::Titles => {
            model.filter.text.clear();
            Vec::new()
        }
        Phase::Servers => {
            model.phase = Phase::Titles;
            model.servers.request = None;
            model.servers.state = LoadingState::Idle;
            vec![Effect::Cancel(Slot::Servers)]
        }
        Phase::Charts => {
            model.phase = Phase::Servers;
            model.charts.request = None;
            model.pick.request = None;
            if let Some(id) = model.selected_series().map(|s| s.server.offer_id.clone()) {
                model.server_cursor = model.servers.data.iter().position(|s| s.offer_id == id).unwrap_or(0);
            }
            // The figures moved on while the charts were up.
            let mut effects = vec![Effect::Cancel(Slot::Watch), Effect::Cancel(Slot::Pick)];
            effects.extend(load_servers(model));
            effects
        }
    }
}

/// Enter: on to the next phase, or pick.
fn advance(model: &mut Model) -> Vec<Effect> {
    match model.phase {
        Phase::Titles => {
            let Some(title) = model.highlighted_title().map(|t| t.name.clone()) else { return Vec::new() };
            model.title = Some(title);
            model.phase = Phase::Servers;
            model.servers.data.clear();
            model.servers.at_ms = None;
            model.server_cursor = 0;
            load_servers(model)
        }
        Phase::Servers => {
            if model.servers.data.is_empty() {
                return Vec::new();
            }
            model.phase = Phase::Charts;
            model.charts.data = Charts {
                series: model
                    .servers
                    .data
                    .iter()
                    .enumerate()
                    .map(|(rank, server)| Series::new(server.clone(), Some(rank)))
                    .collect(),
                sequence: 0,
            };
            model.charts.at_ms = model.servers.at_ms;
            model.chart_cursor = model.server_cursor;
            start_watch(model)
        }
        Phase::Charts => pick(model),
    }
}

fn load_titles(model: &mut Model) -> Vec<Effect> {
    let request = model.new_request();
    model.titles.request = Some(request);
    model.titles.state = LoadingState::Loading;
    let query = QuerySpec {
        constraint: titles_constraint(&model.client),
        preference: String::new(),
        desired: TITLE_PROPERTIES.iter().map(|p| (*p).to_string()).collect(),
        title: None,
    };
    vec![Effect::LoadTitles { request, query }]
}

/// The query of phases 2 and 3 for the chosen title.
fn servers_query(model: &Model) -> Option<QuerySpec> {
    let title = model.title.clone()?;
    Some(QuerySpec {
        constraint: servers_constraint(&model.client, &title),
        preference: model.order.preference().to_string(),
        desired: SERVER_PROPERTIES.iter().map(|p| (*p).to_string()).collect(),
        title: Some(title),
    })
}

fn load_servers(model: &mut Model) -> Vec<Effect> {
    let Some(query) = servers_query(model) else { return Vec::new() };
    let request = model.new_request();
    model.servers.request = Some(request);
    model.servers.state = LoadingState::Loading;
    vec![Effect::LoadServers { request, query }]
}

fn start_watch(model: &mut Model) -> Vec<Effect> {
    let Some(query) = servers_query(model) else { return Vec::new() };
    let request = model.new_request();
    model.charts.request = Some(request);
    model.charts.state = LoadingState::Loading;
    vec![Effect::Watch { request, query, interval_ms: model.settings.interval_ms }]
}

fn pick(model: &mut Model) -> Vec<Effect> {
    if model.pick.is_loading() {
        return Vec::new();
    }
    let (Some(title), Some(series)) = (model.title.clone(), model.selected_series()) else {
        return Vec::new();
    };
    let (host, offer_id) = (series.server.host.clone(), series.server.offer_id.clone());
    let query = QuerySpec {
        constraint: servers_constraint(&model.client, &title),
        preference: model.order.preference().to_string(),
        desired: vec!["host".to_string(), "movies".to_string()],
        title: Some(title),
    };
    let request = model.new_request();
    model.pick.request = Some(request);
    model.pick.state = LoadingState::Loading;
    model.pick.data = host;
    vec![Effect::Pick {
        request,
        query,
        offer_id,
        client: model.settings.client_name.clone(),
        reserve_seconds: model.settings.reserve_seconds,
    }]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;
    use crate::media::{ClientConfig, Figures, Order, TitleOnServer};
    use crate::tui::model::Settings;

    fn key(code: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn chars(model: &mut Model, text: &str) {
        for c in text.chars() {
            update(model, key(KeyCode::Char(c)));
        }
    }

    fn model() -> Model {
        let client =
            ClientConfig { video: vec!["h264".into()], audio: vec![], protocols: vec!["rtsp".into()] };
        Model::new(Settings::new("127.0.0.1:7300", client))
    }

    fn title(name: &str, hosts: &[&str]) -> Title {
        Title {
            name: name.into(),
            servers: hosts
                .iter()
                .map(|h| TitleOnServer { offer_id: format!("id-{h}"), host: (*h).into(), movie: None })
                .collect(),
        }
    }

    fn server(host: &str, connections: u64) -> Server {
        Server {
            offer_id: format!("id-{host}"),
            reference: format!("rtsp://{host}/"),
            host: host.into(),
            figures: Figures {
                connections: Some(connections),
                max_connections: Some(10),
                ..Figures::default()
            },
            ..Server::default()
        }
    }

    fn request_of(effects: &[Effect]) -> RequestId {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::LoadTitles { request, .. }
                | Effect::LoadServers { request, .. }
                | Effect::Watch { request, .. }
                | Effect::Pick { request, .. } => Some(*request),
                Effect::Cancel(_) => None,
            })
            .unwrap()
    }

    /// A model in phase 1 with titles loaded.
    fn with_titles() -> Model {
        let mut m = model();
        let request = request_of(&start(&mut m));
        let titles =
            vec![title("Casablanca", &["a", "b"]), title("Metropolis", &["a"]), title("Nosferatu", &["b"])];
        update(&mut m, Msg::TitlesLoaded { request, at_ms: 1000, titles, servers: 2 });
        m
    }

    /// A model in phase 3 on Casablanca, with servers a (recommended) and b.
    fn in_charts() -> (Model, RequestId) {
        let mut m = with_titles();
        let request = request_of(&update(&mut m, key(KeyCode::Enter)));
        update(
            &mut m,
            Msg::ServersLoaded { request, at_ms: 2000, servers: vec![server("a", 1), server("b", 5)] },
        );
        let watch = request_of(&update(&mut m, key(KeyCode::Enter)));
        (m, watch)
    }

    #[test]
    fn the_session_starts_with_the_titles_query() {
        let mut m = model();
        let effects = start(&mut m);
        let [Effect::LoadTitles { query, .. }] = effects.as_slice() else { panic!("{effects:?}") };
        assert_eq!(
            query.constraint,
            "('h264' in video_formats) and ('rtsp' in protocols) and connections < max_connections"
        );
        assert_eq!(query.desired, ["titles", "movies", "host"]);
        assert!(m.titles.is_loading());
    }

    #[test]
    fn stale_replies_are_dropped() {
        let mut m = model();
        let first = request_of(&start(&mut m));
        let second = request_of(&update(&mut m, key(KeyCode::Char('r'))));
        assert_ne!(first, second);
        update(
            &mut m,
            Msg::TitlesLoaded { request: first, at_ms: 1, titles: vec![title("Old", &["a"])], servers: 1 },
        );
        assert!(m.titles.is_loading(), "the reply to the replaced query is ignored");
        update(&mut m, Msg::Failed { request: first, failure: Failure::new(FailureKind::Timeout, "late") });
        assert!(m.titles.is_loading());
        update(
            &mut m,
            Msg::TitlesLoaded { request: second, at_ms: 2, titles: vec![title("New", &["a"])], servers: 1 },
        );
        assert_eq!(m.titles.state, LoadingState::Loaded);
        assert_eq!(m.titles.data[0].name, "New");
    }

    #[test]
    fn typing_filters_titles() {
        let mut m = with_titles();
        chars(&mut m, "/");
        assert!(m.filter.editing);
        chars(&mut m, "qTU");
        assert_eq!(m.outcome, None, "q is text while filtering");
        assert!(m.visible_titles().is_empty());
        update(&mut m, key(KeyCode::Backspace));
        update(&mut m, key(KeyCode::Backspace));
        update(&mut m, key(KeyCode::Backspace));
        chars(&mut m, "O");
        let names: Vec<&str> = m.visible_titles().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Metropolis", "Nosferatu"]);
        update(&mut m, key(KeyCode::Down));
        assert!(!m.filter.editing, "arrows leave the filter");
        assert_eq!(m.highlighted_title().unwrap().name, "Nosferatu");
        update(&mut m, key(KeyCode::Esc));
        assert_eq!(m.filter.text, "", "Esc clears the filter");
        assert_eq!(m.visible_titles().len(), 3);
    }

    #[test]
    fn cursor_stays_within_the_list() {
        let mut m = with_titles();
        update(&mut m, key(KeyCode::Up));
        assert_eq!(m.title_cursor, 0);
        update(&mut m, key(KeyCode::PageDown));
        assert_eq!(m.title_cursor, 2);
        update(&mut m, key(KeyCode::Char('g')));
        assert_eq!(m.title_cursor, 0);
        update(&mut m, key(KeyCode::End));
        assert_eq!(m.highlighted_title().unwrap().name, "Nosferatu");
    }

    #[test]
    fn enter_goes_through_the_phases_and_esc_comes_back() {
        let mut m = with_titles();
        let effects = update(&mut m, key(KeyCode::Enter));
        assert_eq!(m.phase, Phase::Servers);
        assert_eq!(m.title.as_deref(), Some("Casablanca"));
        let [Effect::LoadServers { query, .. }] = effects.as_slice() else { panic!("{effects:?}") };
        assert_eq!(
            query.constraint,
            "'Casablanca' in titles and ('h264' in video_formats) and ('rtsp' in protocols)"
        );
        assert_eq!(query.preference, "max (max_connections - connections)");

        let request = request_of(&effects);
        update(
            &mut m,
            Msg::ServersLoaded { request, at_ms: 5, servers: vec![server("a", 1), server("b", 2)] },
        );
        update(&mut m, key(KeyCode::Down));
        let effects = update(&mut m, key(KeyCode::Enter));
        assert_eq!(m.phase, Phase::Charts);
        assert_eq!(m.selected_series().unwrap().server.host, "b", "the cursor follows into the charts");
        assert!(matches!(effects.as_slice(), [Effect::Watch { interval_ms: 1000, .. }]), "{effects:?}");

        let effects = update(&mut m, key(KeyCode::Esc));
        assert_eq!(m.phase, Phase::Servers);
        assert_eq!(m.selected_server().unwrap().host, "b");
        assert!(effects.contains(&Effect::Cancel(Slot::Watch)));
        assert!(effects.iter().any(|e| matches!(e, Effect::LoadServers { .. })), "fresh figures on return");

        let effects = update(&mut m, key(KeyCode::Esc));
        assert_eq!(
            (m.phase, effects.as_slice()),
            (Phase::Titles, [Effect::Cancel(Slot::Servers)].as_slice())
        );
    }

    #[test]
    fn order_switches_the_preference_and_reloads() {
        let mut m = with_titles();
        assert!(update(&mut m, key(KeyCode::Char('o'))).is_empty(), "nothing to rank in phase 1");
        assert_eq!(m.order, Order::Load);
        let effects = update(&mut m, key(KeyCode::Enter));
        let [Effect::LoadServers { query, .. }] = effects.as_slice() else { panic!() };
        assert_eq!(query.preference, "min load");
        let effects = update(&mut m, key(KeyCode::Char('o')));
        let [Effect::LoadServers { query, .. }] = effects.as_slice() else { panic!() };
        assert_eq!(query.preference, "max (max_connections - connections)");
    }

    #[test]
    fn watch_updates_grow_histories_and_mark_servers_gone() {
        let (mut m, watch) = in_charts();
        assert_eq!(m.charts.data.series.len(), 2);
        assert_eq!(m.charts.data.series[0].load.len(), 1, "seeded from phase 2");
        update(&mut m, key(KeyCode::Down));
        // b is now the best, a is gone, c appeared.
        let servers = vec![server("b", 2), server("c", 0)];
        update(&mut m, Msg::WatchUpdate { request: watch, at_ms: 3000, sequence: 1, servers });
        let order: Vec<(&str, Option<usize>)> =
            m.charts.data.series.iter().map(|s| (s.server.host.as_str(), s.rank)).collect();
        assert_eq!(order, [("b", Some(0)), ("c", Some(1)), ("a", None)]);
        assert_eq!(m.selected_series().unwrap().server.host, "b", "the cursor stays on its server");
        let b = &m.charts.data.series[0];
        assert_eq!(b.connections.iter().copied().collect::<Vec<_>>(), [Some(5.0), Some(2.0)]);
        assert_eq!(m.charts.at_ms, Some(3000));
        m.now_ms = 3400;
        assert_eq!(m.figures_age_ms(), Some(400));
    }

    #[test]
    fn histories_are_bounded() {
        let (mut m, watch) = in_charts();
        for sequence in 0..200 {
            update(
                &mut m,
                Msg::WatchUpdate { request: watch, at_ms: 0, sequence, servers: vec![server("a", 1)] },
            );
        }
        assert_eq!(m.charts.data.series[0].load.len(), crate::tui::model::HISTORY);
    }

    #[test]
    fn enter_picks_the_selected_server() {
        let (mut m, _) = in_charts();
        update(&mut m, key(KeyCode::Down));
        let effects = update(&mut m, key(KeyCode::Enter));
        let [Effect::Pick { query, request, offer_id, .. }] = effects.as_slice() else {
            panic!("{effects:?}")
        };
        assert_eq!(offer_id, "id-b", "the server under the cursor, by its offer");
        assert!(query.constraint.starts_with("'Casablanca' in titles"), "{}", query.constraint);
        assert!(update(&mut m, key(KeyCode::Enter)).is_empty(), "one pick at a time");
        let picked = Picked {
            title: "Casablanca".into(),
            host: "b".into(),
            offer_id: "id-b".into(),
            url: "rtsp://b/c".into(),
            reservation_id: "r1".into(),
            reservation_seconds: 10,
            expires_unix_ms: 0,
        };
        let effects = update(&mut m, Msg::Picked { request: *request, picked: picked.clone() });
        assert_eq!(effects, [Effect::Cancel(Slot::Watch)]);
        assert_eq!(m.outcome, Some(Outcome::Picked(picked)));
    }

    #[test]
    fn a_failed_pick_is_shown_and_dismissed() {
        let (mut m, _) = in_charts();
        let request = request_of(&update(&mut m, key(KeyCode::Enter)));
        let failure = Failure::new(FailureKind::NoRoom, "no offer has room");
        update(&mut m, Msg::Failed { request, failure: failure.clone() });
        assert_eq!(m.overlay, Overlay::Notice { title: "a has no room for one more stream".into(), failure });
        assert_eq!(m.outcome, None);
        update(&mut m, key(KeyCode::Esc));
        assert_eq!(m.overlay, Overlay::None);
        assert!(!update(&mut m, key(KeyCode::Enter)).is_empty(), "another pick may follow");
    }

    #[test]
    fn failures_land_in_their_pane() {
        let (mut m, watch) = in_charts();
        update(
            &mut m,
            Msg::Failed { request: watch, failure: Failure::new(FailureKind::Ended, "stream ended") },
        );
        assert_eq!(m.charts.failure().map(|f| f.kind), Some(FailureKind::Ended));
        assert_eq!(m.charts.data.series.len(), 2, "the histories stay");
        let effects = update(&mut m, key(KeyCode::Char('r')));
        assert!(matches!(effects.as_slice(), [Effect::Watch { .. }]), "r restarts the watch");
    }

    #[test]
    fn the_client_form_edits_and_reloads() {
        let (mut m, _) = in_charts();
        update(&mut m, key(KeyCode::Char('c')));
        let Overlay::Client(form) = &m.overlay else { panic!() };
        assert_eq!(form.fields, ["h264".to_string(), String::new(), "rtsp".to_string()]);
        chars(&mut m, ",vp9 q");
        update(&mut m, key(KeyCode::Tab));
        chars(&mut m, "aac");
        update(&mut m, key(KeyCode::Tab));
        update(&mut m, Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        assert_eq!(m.outcome, None, "q is text in the form");
        let effects = update(&mut m, key(KeyCode::Enter));
        assert_eq!(
            m.client,
            ClientConfig {
                video: vec!["h264".into(), "vp9 q".into()],
                audio: vec!["aac".into()],
                protocols: vec![]
            }
        );
        assert_eq!(m.phase, Phase::Titles);
        assert!(effects.contains(&Effect::Cancel(Slot::Watch)));
        let Some(Effect::LoadTitles { query, .. }) = effects.last() else { panic!("{effects:?}") };
        assert!(query.constraint.starts_with(
            "('h264' in video_formats or 'vp9 q' in video_formats) and ('aac' in audio_formats)"
        ));

        update(&mut m, key(KeyCode::Char('c')));
        chars(&mut m, "x");
        update(&mut m, key(KeyCode::Esc));
        assert_eq!(m.overlay, Overlay::None);
        assert_eq!(m.client.video.len(), 2, "Esc cancels the form");
    }

    #[test]
    fn help_q_and_ctrl_c() {
        let mut m = with_titles();
        update(&mut m, key(KeyCode::Char('?')));
        assert_eq!(m.overlay, Overlay::Help);
        update(&mut m, key(KeyCode::Char('?')));
        assert_eq!(m.overlay, Overlay::None);
        update(&mut m, key(KeyCode::Char('q')));
        assert_eq!(m.outcome, Some(Outcome::Quit));

        let mut m = with_titles();
        chars(&mut m, "/x");
        update(&mut m, Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert_eq!(m.outcome, Some(Outcome::Quit), "Ctrl-C quits even while typing");
    }

    #[test]
    fn key_releases_are_ignored() {
        let mut m = with_titles();
        let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        update(&mut m, Msg::Key(release));
        assert_eq!(m.outcome, None);
    }
}
