//! `bourse select` as a whole, on ratatui's `TestBackend`: sessions driven
//! by keys against a real broker in process, whose media servers' live
//! figures come from real `DynamicPropEval` servers (fixed figures, so the
//! screens are stable). Each phase and each error state is a snapshot at
//! 80x24 (phases 1 and 3 also at 120x36); where highlighting matters the
//! cell styles are checked too.

mod common;

use std::time::Duration;

use bourse_proto as pb;
use bourse_selector::media::ClientConfig;
use bourse_selector::tui::model::{FailureKind, LoadingState, Model, Outcome, Overlay, Phase};
use bourse_selector::tui::runtime::Session;
use bourse_selector::tui::update::Msg;
use bourse_selector::tui::view::{HIGHLIGHT, RECOMMENDED, view};
use common::{Fleet, client, session_at};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;

const PATIENCE: Duration = Duration::from_secs(10);

fn press(session: &mut Session, code: KeyCode) {
    session.dispatch(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn type_text(session: &mut Session, text: &str) {
    for c in text.chars() {
        press(session, KeyCode::Char(c));
    }
}

async fn settle(session: &mut Session, what: &str, done: impl Fn(&Model) -> bool) {
    assert!(session.settle(PATIENCE, done).await, "{what} within {PATIENCE:?}; model: {:#?}", session.model);
}

fn draw(session: &Session, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal.draw(|frame| view(&session.model, frame)).expect("draw");
    terminal
}

/// Snapshots the screen, with the broker's port (which changes every run)
/// replaced.
fn snapshot(name: &str, terminal: &Terminal<TestBackend>) {
    insta::with_settings!({ filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT")] }, {
        insta::assert_snapshot!(name, terminal.backend());
    });
}

/// Where `text` starts on the screen (after a leading border `│`, if
/// `text` starts with one).
fn find(buffer: &Buffer, text: &str) -> (u16, u16) {
    let border = usize::from(text.starts_with('│'));
    let area = buffer.area;
    for y in 0..area.height {
        let line: String = (0..area.width).map(|x| buffer[(x, y)].symbol().to_string()).collect();
        if let Some(byte) = line.find(text) {
            let x = line[..byte].chars().count() + border;
            return (u16::try_from(x).unwrap_or(0), y);
        }
    }
    panic!("{text:?} is not on the screen:\n{buffer:?}")
}

fn is_highlighted(buffer: &Buffer, at: (u16, u16)) -> bool {
    buffer[at].style().add_modifier.contains(HIGHLIGHT.add_modifier)
}

fn is_recommended(buffer: &Buffer, at: (u16, u16)) -> bool {
    let style = buffer[at].style();
    style.fg == RECOMMENDED.fg && style.add_modifier.contains(Modifier::BOLD)
}

fn titles_loaded(m: &Model) -> bool {
    m.titles.state == LoadingState::Loaded
}

fn servers_loaded(m: &Model) -> bool {
    m.servers.state == LoadingState::Loaded
}

/// A session in phase 2 on Casablanca.
async fn at_servers(fleet: &Fleet) -> Session {
    enter_servers(fleet.session(client())).await
}

async fn enter_servers(mut session: Session) -> Session {
    session.start();
    settle(&mut session, "titles", titles_loaded).await;
    press(&mut session, KeyCode::Enter);
    settle(&mut session, "servers", servers_loaded).await;
    session
}

/// A session in phase 3 on Casablanca after `updates` Watch updates.
async fn at_charts(fleet: &Fleet, updates: u64) -> Session {
    enter_charts(at_servers(fleet).await, updates).await
}

/// A session in phase 3 on Casablanca after the first Watch update, with
/// no update after it (see [`Fleet::still_session`]).
async fn at_still_charts(fleet: &Fleet) -> Session {
    enter_charts(enter_servers(fleet.still_session(client())).await, 1).await
}

async fn enter_charts(mut session: Session, updates: u64) -> Session {
    press(&mut session, KeyCode::Enter);
    assert_eq!(session.model.phase, Phase::Charts);
    settle(&mut session, "watch updates", |m| m.charts.data.sequence >= updates).await;
    session
}

#[tokio::test]
async fn phase_1_lists_titles_merged_across_servers() {
    let fleet = Fleet::start().await;
    let mut session = fleet.session(client());
    session.start();
    assert!(session.model.titles.is_loading());
    snapshot("phase1_loading", &draw(&session, 80, 24));
    settle(&mut session, "titles", titles_loaded).await;

    // alpha, beta and gamma play h264/aac over rtsp or hls with room; delta
    // plays only av1, epsilon is full: their titles are not offered.
    let names: Vec<&str> = session.model.titles.data.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Casablanca", "Metropolis", "Nosferatu", "Singin' in the Rain"]);
    assert_eq!(session.model.title_servers, 3);
    let terminal = draw(&session, 80, 24);
    snapshot("phase1_titles", &terminal);
    let buffer = terminal.backend().buffer();
    assert!(is_highlighted(buffer, find(buffer, "│Casablanca")), "the cursor row is highlighted");
    assert!(!is_highlighted(buffer, find(buffer, "│Metropolis")));
    snapshot("phase1_titles_120x36", &draw(&session, 120, 36));

    press(&mut session, KeyCode::Char('j'));
    let terminal = draw(&session, 80, 24);
    let buffer = terminal.backend().buffer();
    assert!(is_highlighted(buffer, find(buffer, "│Metropolis")), "j moves the highlight");
    assert!(!is_highlighted(buffer, find(buffer, "│Casablanca")));

    // Filtering as the user types.
    type_text(&mut session, "/sin");
    snapshot("phase1_filter", &draw(&session, 80, 24));
    assert_eq!(session.model.highlighted_title().map(|t| t.name.as_str()), Some("Singin' in the Rain"));

    // A title with a quote goes through the broker's constraint language.
    press(&mut session, KeyCode::Enter);
    press(&mut session, KeyCode::Enter);
    settle(&mut session, "servers", servers_loaded).await;
    let hosts: Vec<&str> = session.model.servers.data.iter().map(|s| s.host.as_str()).collect();
    assert_eq!(hosts, ["alpha"]);
    assert_eq!(session.model.servers.data[0].play_url(), "rtsp://alpha:8554/singinintherain");
    fleet.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn phase_2_ranks_the_servers_of_the_title() {
    let fleet = Fleet::start().await;
    let mut session = at_servers(&fleet).await;
    let hosts: Vec<&str> = session.model.servers.data.iter().map(|s| s.host.as_str()).collect();
    assert_eq!(hosts, ["alpha", "beta", "gamma"], "most free connections first: 8, 5, 4");
    let terminal = draw(&session, 80, 24);
    snapshot("phase2_servers", &terminal);
    let buffer = terminal.backend().buffer();
    let alpha = find(buffer, "alpha");
    assert!(is_recommended(buffer, alpha) && is_highlighted(buffer, alpha));

    press(&mut session, KeyCode::Down);
    let terminal = draw(&session, 80, 24);
    let buffer = terminal.backend().buffer();
    let (alpha, beta) = (find(buffer, "alpha "), find(buffer, "beta"));
    assert!(is_recommended(buffer, alpha) && !is_highlighted(buffer, alpha), "alpha stays recommended");
    assert!(is_highlighted(buffer, beta) && !is_recommended(buffer, beta), "the cursor is on beta");

    // Rank by load instead.
    press(&mut session, KeyCode::Char('o'));
    settle(&mut session, "servers by load", servers_loaded).await;
    let hosts: Vec<&str> = session.model.servers.data.iter().map(|s| s.host.as_str()).collect();
    assert_eq!(hosts, ["gamma", "alpha", "beta"]);
    assert_eq!(
        session.model.selected_server().map(|s| s.host.as_str()),
        Some("beta"),
        "the cursor follows beta"
    );
    snapshot("phase2_by_load", &draw(&session, 80, 24));
    fleet.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn phase_3_charts_then_enter_picks_and_reserves() {
    let fleet = Fleet::start().await;
    let mut session = at_charts(&fleet, 3).await;
    let series = &session.model.charts.data.series;
    assert_eq!(series.len(), 3);
    assert_eq!(series[0].load.len(), 4, "one sample from phase 2, three from the Watch");
    let terminal = draw(&session, 80, 24);
    snapshot("phase3_charts", &terminal);
    let buffer = terminal.backend().buffer();
    let (star, beta) = (find(buffer, "alpha"), find(buffer, "beta"));
    assert!(is_recommended(buffer, star) && is_highlighted(buffer, star));
    assert!(!is_recommended(buffer, beta));
    snapshot("phase3_charts_120x36", &draw(&session, 120, 36));
    // Any size draws, however small, with or without an overlay.
    for overlay in [Overlay::None, Overlay::Help] {
        session.model.overlay = overlay;
        for (width, height) in [(1, 1), (20, 5), (40, 12), (79, 23), (200, 60)] {
            draw(&session, width, height);
        }
    }
    session.model.overlay = Overlay::None;

    press(&mut session, KeyCode::Down);
    press(&mut session, KeyCode::Enter);
    assert!(session.model.pick.is_loading());
    settle(&mut session, "the pick", |m| m.outcome.is_some()).await;
    let Some(Outcome::Picked(picked)) = &session.model.outcome else { panic!("{:?}", session.model.outcome) };
    assert_eq!((picked.host.as_str(), picked.title.as_str()), ("beta", "Casablanca"));
    assert_eq!(picked.url, "rtsp://beta:8554/casablanca");
    assert_eq!(picked.offer_id, fleet.server("beta").offer_id);
    assert_eq!(picked.reservation_seconds, 10, "the broker's default");
    assert_eq!(fleet.counter("pick.picks").await, 1);
    assert_eq!(fleet.counter("pick.reservations_outstanding").await, 1);
    fleet.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_unreachable_broker_is_shown_not_fatal() {
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").to_string()
    };
    let mut session = session_at(&address, client(), 100);
    session.start();
    settle(&mut session, "the failure", |m| m.titles.failure().is_some()).await;
    assert_eq!(session.model.titles.failure().map(|f| f.kind), Some(FailureKind::Unreachable));
    snapshot("error_unreachable", &draw(&session, 80, 24));
    // r tries again (and fails again): no crash, still in phase 1.
    press(&mut session, KeyCode::Char('r'));
    settle(&mut session, "the second failure", |m| m.titles.failure().is_some()).await;
    assert_eq!(session.model.phase, Phase::Titles);
}

#[tokio::test]
async fn no_server_matches_the_client() {
    let fleet = Fleet::start().await;
    let nobody = ClientConfig { video: vec!["theora".into()], audio: vec![], protocols: vec![] };
    let mut session = fleet.session(nobody);
    session.start();
    settle(&mut session, "titles", titles_loaded).await;
    assert!(session.model.titles.data.is_empty());
    snapshot("error_no_match", &draw(&session, 80, 24));

    // The client form fixes it.
    press(&mut session, KeyCode::Char('c'));
    press(&mut session, KeyCode::Backspace);
    press(&mut session, KeyCode::Backspace);
    press(&mut session, KeyCode::Backspace);
    press(&mut session, KeyCode::Backspace);
    press(&mut session, KeyCode::Backspace);
    press(&mut session, KeyCode::Backspace);
    type_text(&mut session, "av1");
    press(&mut session, KeyCode::Tab);
    type_text(&mut session, "opus");
    snapshot("overlay_client", &draw(&session, 80, 24));
    press(&mut session, KeyCode::Enter);
    settle(&mut session, "titles", titles_loaded).await;
    let names: Vec<&str> = session.model.titles.data.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["The General"]);
    fleet.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn evaluation_failures_leave_figures_unknown() {
    let fleet = Fleet::start().await;
    fleet.server("beta").evaluator.fail(true);
    let mut session = fleet.session(client());
    session.start();
    settle(&mut session, "titles", titles_loaded).await;
    // Whether beta has room is unknown: its own title is not offered.
    let names: Vec<&str> = session.model.titles.data.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Casablanca", "Metropolis", "Singin' in the Rain"]);
    press(&mut session, KeyCode::Enter);
    settle(&mut session, "servers", servers_loaded).await;
    // beta still holds Casablanca; without figures it ranks last.
    let hosts: Vec<&str> = session.model.servers.data.iter().map(|s| s.host.as_str()).collect();
    assert_eq!(hosts, ["alpha", "gamma", "beta"]);
    assert!(session.model.servers.data[2].figures.incomplete());
    snapshot("error_evaluation", &draw(&session, 80, 24));
    fleet.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_server_gone_mid_choice() {
    let fleet = Fleet::start().await;
    let mut session = at_still_charts(&fleet).await;
    fleet.withdraw("alpha").await;
    // A fresh update: r restarts the Watch, whose first update is immediate.
    press(&mut session, KeyCode::Char('r'));
    settle(&mut session, "alpha gone", |m| m.charts.data.series.iter().any(|s| s.rank.is_none())).await;
    let series = &session.model.charts.data.series;
    let order: Vec<(&str, Option<usize>)> = series.iter().map(|s| (s.server.host.as_str(), s.rank)).collect();
    assert_eq!(order, [("beta", Some(0)), ("gamma", Some(1)), ("alpha", None)]);
    assert_eq!(session.model.selected_series().map(|s| s.server.host.as_str()), Some("alpha"));
    let terminal = draw(&session, 80, 24);
    snapshot("error_server_gone", &terminal);
    let buffer = terminal.backend().buffer();
    assert!(is_recommended(buffer, find(buffer, "beta")), "beta is now recommended");
    assert!(buffer[find(buffer, "alpha")].style().add_modifier.contains(Modifier::CROSSED_OUT));

    // Picking alpha anyway: the broker no longer has it.
    press(&mut session, KeyCode::Enter);
    settle(&mut session, "the failed pick", |m| matches!(m.overlay, Overlay::Notice { .. })).await;
    assert_eq!(session.model.pick.failure().map(|f| f.kind), Some(FailureKind::NotFound));
    assert_eq!(session.model.outcome, None);
    snapshot("error_pick_gone", &draw(&session, 80, 24));
    press(&mut session, KeyCode::Esc);
    assert_eq!(session.model.overlay, Overlay::None);
    fleet.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_full_server_cannot_be_picked() {
    let fleet = Fleet::start().await;
    let mut session = at_still_charts(&fleet).await;
    press(&mut session, KeyCode::Down);
    // beta fills up after the figures on screen were taken.
    fleet.server("beta").evaluator.set("connections", pb::Value::uint64(20));
    press(&mut session, KeyCode::Enter);
    settle(&mut session, "the failed pick", |m| matches!(m.overlay, Overlay::Notice { .. })).await;
    assert_eq!(session.model.pick.failure().map(|f| f.kind), Some(FailureKind::NoRoom));
    assert_eq!(fleet.counter("pick.exhausted").await, 1);
    assert_eq!(fleet.counter("pick.reservations_outstanding").await, 0);
    snapshot("error_pick_no_room", &draw(&session, 80, 24));
    fleet.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_live_figures_stop_with_the_broker() {
    let fleet = Fleet::start().await;
    let mut session = at_charts(&fleet, 1).await;
    fleet.broker.shutdown().await.expect("shutdown");
    settle(&mut session, "the watch failure", |m| m.charts.failure().is_some()).await;
    let kind = session.model.charts.failure().map(|f| f.kind);
    assert!(matches!(kind, Some(FailureKind::Ended | FailureKind::Unreachable)), "{kind:?}");
    assert_eq!(session.model.charts.data.series.len(), 3, "the histories stay on screen");
    let terminal = draw(&session, 80, 24);
    let buffer = terminal.backend().buffer();
    find(buffer, "r: restart the live figures");
}

#[tokio::test]
async fn help_is_one_key_away() {
    let fleet = Fleet::start().await;
    let mut session = fleet.session(client());
    session.start();
    settle(&mut session, "titles", titles_loaded).await;
    press(&mut session, KeyCode::Char('?'));
    snapshot("overlay_help", &draw(&session, 80, 24));
    press(&mut session, KeyCode::Esc);
    assert_eq!(session.model.overlay, Overlay::None);
    press(&mut session, KeyCode::Char('q'));
    assert_eq!(session.model.outcome, Some(Outcome::Quit));
    fleet.broker.shutdown().await.expect("shutdown");
}
