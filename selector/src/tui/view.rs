//! What `bourse select` draws: a header with the phases and the client
//! configuration, the phase's panes, a status line (broker, freshness of
//! the figures, errors) and a footer with the keys; overlays on top.
//! [`view`] only reads the model.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Axis, Block, Chart, Clear, Dataset, GraphType, List, ListItem, ListState, Paragraph, Row, Table,
    TableState, Wrap,
};

use super::model::{ClientForm, Failure, HISTORY, LoadingState, Model, Overlay, Pane, Phase};
use crate::media::{Figures, Server, format_bytes, format_length, format_rate};

/// The highlighted row (the cursor).
pub const HIGHLIGHT: Style = Style::new().add_modifier(Modifier::REVERSED);
/// The server the broker recommends (first in its order).
pub const RECOMMENDED: Style = Style::new().fg(Color::Green).add_modifier(Modifier::BOLD);
/// A server that no longer matches.
const GONE: Style = Style::new().fg(Color::DarkGray).add_modifier(Modifier::CROSSED_OUT);
const ERROR: Style = Style::new().fg(Color::Red);
const DIM: Style = Style::new().fg(Color::DarkGray);
const KEY: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
/// Marks the recommended server.
const STAR: &str = "★ ";

pub fn view(model: &Model, frame: &mut Frame) {
    let [header, client, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(model, frame, header);
    frame.render_widget(
        Paragraph::new(Line::from(vec![Span::styled(" client ", DIM), Span::raw(model.client.summary())])),
        client,
    );
    match model.phase {
        Phase::Titles => draw_titles(model, frame, body),
        Phase::Servers => draw_servers(model, frame, body),
        Phase::Charts => draw_charts(model, frame, body),
    }
    draw_status(model, frame, status);
    draw_footer(model, frame, footer);
    match &model.overlay {
        Overlay::None => {}
        Overlay::Help => draw_help(frame),
        Overlay::Client(form) => draw_client_form(form, frame),
        Overlay::Notice { title, failure } => draw_notice(title, failure, frame),
    }
}

fn draw_header(model: &Model, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(" bourse select ", Style::new().bold())];
    for (i, phase) in Phase::ALL.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", DIM));
        }
        let style = if phase == model.phase { Style::new().fg(Color::Yellow).bold() } else { DIM };
        spans.push(Span::styled(phase.label(), style));
    }
    if let (Some(title), Phase::Servers | Phase::Charts) = (&model.title, model.phase) {
        spans.push(Span::styled("  · ", DIM));
        spans.push(Span::raw(title.clone()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A pane's message in place of its content: loading, or its failure.
fn pane_message<T>(pane: &Pane<T>, what: &str, hint: &str) -> Option<Text<'static>> {
    match &pane.state {
        LoadingState::Idle | LoadingState::Loaded => None,
        LoadingState::Loading => Some(Text::styled(format!("Loading {what}…"), DIM)),
        LoadingState::Error(failure) => Some(failure_text(failure, hint)),
    }
}

fn failure_text(failure: &Failure, hint: &str) -> Text<'static> {
    let mut lines = vec![
        Line::styled(failure.headline().to_string(), ERROR.bold()),
        Line::styled(failure.message.clone(), ERROR),
    ];
    if !hint.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(hint.to_string(), DIM));
    }
    Text::from(lines)
}

// ------------------------------------------------------------- phase 1

fn draw_titles(model: &Model, frame: &mut Frame, area: Rect) {
    // Without titles to show, the message takes the whole body.
    let hint = "r: try again · c: change the client";
    let message = match &model.titles.state {
        LoadingState::Error(_) => pane_message(&model.titles, "titles", hint),
        LoadingState::Loading | LoadingState::Idle if model.titles.data.is_empty() => {
            pane_message(&model.titles, "titles", hint)
        }
        LoadingState::Loaded if model.titles.data.is_empty() => Some(Text::from(vec![
            Line::raw("No titles."),
            Line::styled(
                "No server that plays the client's formats over its protocols has a free connection.",
                DIM,
            ),
            Line::raw(""),
            Line::styled("c: change the client · r: reload", DIM),
        ])),
        _ => None,
    };
    if let Some(text) = message {
        let block = Block::bordered().title(" Titles ");
        frame.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: false }), area);
        return;
    }
    let [list_area, details_area] =
        Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)]).areas(area);
    let visible = model.visible_titles();
    let counted = if model.filter.text.is_empty() {
        format!(" Titles ({}) ", visible.len())
    } else {
        format!(" Titles ({} of {}) ", visible.len(), model.titles.data.len())
    };
    let block = Block::bordered().title(counted);
    let inner = block.inner(list_area);
    frame.render_widget(block, list_area);
    let [filter_area, items_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    let filter = if model.filter.editing {
        Line::from(vec![
            Span::styled("/ ", KEY),
            Span::raw(model.filter.text.clone()),
            Span::styled("▏", KEY),
        ])
    } else if model.filter.text.is_empty() {
        Line::styled("/ to filter", DIM)
    } else {
        Line::from(vec![Span::styled("/ ", DIM), Span::raw(model.filter.text.clone())])
    };
    frame.render_widget(Paragraph::new(filter), filter_area);
    if visible.is_empty() {
        frame.render_widget(Paragraph::new(Line::styled("No title matches the filter.", DIM)), items_area);
    } else {
        let items: Vec<ListItem> = visible.iter().map(|t| ListItem::new(t.name.clone())).collect();
        let mut state = ListState::default().with_selected(Some(model.title_cursor));
        frame.render_stateful_widget(List::new(items).highlight_style(HIGHLIGHT), items_area, &mut state);
    }
    draw_title_details(model, frame, details_area);
}

fn draw_title_details(model: &Model, frame: &mut Frame, area: Rect) {
    let Some(title) = model.highlighted_title() else {
        frame.render_widget(Block::bordered().title(" Details "), area);
        return;
    };
    let block = Block::bordered().title(format!(" {} ", title.name));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let n = title.servers.len();
    let [count_area, table_area, info_area] =
        Layout::vertical([Constraint::Length(2), Constraint::Fill(1), Constraint::Length(2)]).areas(inner);
    let count = format!(
        "On {n} of {} server{} with room",
        model.title_servers,
        if model.title_servers == 1 { "" } else { "s" }
    );
    frame.render_widget(Paragraph::new(count), count_area);
    let rows = title.servers.iter().map(|s| {
        let m = s.movie.as_ref();
        let size = match m.map(|m| (m.width, m.height)) {
            Some((Some(w), Some(h))) => format!("{w}x{h}"),
            _ => "?".to_string(),
        };
        let codecs = match m.map(|m| (&m.video_codec, &m.audio_codec)) {
            Some((Some(v), Some(a))) => format!("{v}/{a}"),
            Some((Some(v), None)) => v.clone(),
            _ => "?".to_string(),
        };
        Row::new(vec![
            s.host.clone(),
            m.and_then(|m| m.duration).map_or("?".to_string(), format_length),
            m.and_then(|m| m.frame_rate).map_or("?".to_string(), crate::values::format_double),
            size,
            codecs,
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(9),
        ],
    )
    .header(Row::new(["server", "length", "fps", "size", "codecs"]).style(DIM));
    frame.render_widget(table, table_area);
    let info = title.servers.iter().find_map(|s| s.movie.as_ref()?.info_url.clone());
    if let Some(info) = info {
        frame.render_widget(
            Paragraph::new(Line::from(vec![Span::styled("info ", DIM), Span::raw(info)]))
                .wrap(Wrap { trim: true }),
            info_area,
        );
    }
}

// ------------------------------------------------------------- phase 2

fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "?".to_string(), show)
}

fn connections(figures: &Figures) -> String {
    match (figures.connections, figures.max_connections) {
        (Some(c), Some(m)) => format!("{c}/{m}"),
        (None, Some(m)) => format!("?/{m}"),
        (c, None) => opt(c, |c| c.to_string()),
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}

fn server_cells(server: &Server) -> Vec<String> {
    let f = &server.figures;
    vec![
        server.host.clone(),
        connections(f),
        opt(f.load, |l| format!("{l:.2}")),
        opt(f.cpu, percent),
        opt(f.bandwidth_out, format_rate),
        opt(f.bandwidth_free, format_rate),
        opt(f.disk_free, format_bytes),
    ]
}

const SERVER_WIDTHS: [Constraint; 8] = [
    Constraint::Length(2),
    Constraint::Fill(1),
    Constraint::Length(7),
    Constraint::Length(5),
    Constraint::Length(4),
    Constraint::Length(10),
    Constraint::Length(10),
    Constraint::Length(8),
];

fn server_header() -> Row<'static> {
    Row::new(["", "server", "conns", "load", "cpu", "out", "free", "disk"]).style(DIM)
}

fn ranking_line(model: &Model) -> Line<'static> {
    Line::from(vec![
        Span::styled("ranked by ", DIM),
        Span::styled(model.order.label(), RECOMMENDED),
        Span::styled(format!(": {}", model.order.preference()), DIM),
    ])
}

fn draw_servers(model: &Model, frame: &mut Frame, area: Rect) {
    let title = model.title.clone().unwrap_or_default();
    let n = model.servers.data.len();
    let block = Block::bordered().title(format!(" Servers with {title} ({n}) "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [ranking_area, table_area, details_area] =
        Layout::vertical([Constraint::Length(2), Constraint::Fill(1), Constraint::Length(4)]).areas(inner);
    frame.render_widget(Paragraph::new(ranking_line(model)), ranking_area);

    let hint = "r: try again · Esc: back to the titles";
    let message = match (&model.servers.state, n) {
        (LoadingState::Loading, 0) | (LoadingState::Error(_), _) => {
            pane_message(&model.servers, "servers", hint)
        }
        (LoadingState::Loaded, 0) => Some(Text::from(vec![
            Line::raw(format!("No server that plays the client's formats offers {title} any more.")),
            Line::raw(""),
            Line::styled("Esc: back to the titles · r: reload", DIM),
        ])),
        _ => None,
    };
    if let Some(text) = message {
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), table_area);
        return;
    }
    let rows = model.servers.data.iter().enumerate().map(|(i, server)| {
        let mut cells = vec![if i == 0 { STAR.to_string() } else { String::new() }];
        cells.extend(server_cells(server));
        let row = Row::new(cells);
        if i == 0 { row.style(RECOMMENDED) } else { row }
    });
    let table = Table::new(rows, SERVER_WIDTHS).header(server_header()).row_highlight_style(HIGHLIGHT);
    let mut state = TableState::default().with_selected(Some(model.server_cursor));
    frame.render_stateful_widget(table, table_area, &mut state);

    if let Some(server) = model.selected_server() {
        let mut lines = vec![Line::from(vec![
            Span::styled(format!("{STAR}recommended: "), RECOMMENDED),
            Span::raw(model.servers.data.first().map(|s| s.host.clone()).unwrap_or_default()),
        ])];
        lines.push(Line::from(vec![Span::styled("plays ", DIM), Span::raw(server.play_url().to_string())]));
        if model.servers.data.iter().any(|s| s.figures.incomplete()) {
            lines.push(Line::styled("? not reported, or the server's agent did not answer in time", DIM));
        }
        frame.render_widget(Paragraph::new(lines), details_area);
    }
}

// ------------------------------------------------------------- phase 3

/// The last `width` values of a history as bar characters scaled to `max`.
pub fn sparkline_text(values: &VecDeque<Option<f64>>, width: usize, max: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let skip = values.len().saturating_sub(width);
    let mut text: String = " ".repeat(width.saturating_sub(values.len()));
    for value in values.iter().skip(skip) {
        text.push(match value {
            Some(v) if max > 0.0 => {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "clamped to 0..=7"
                )]
                let level = ((v / max).clamp(0.0, 1.0) * 7.0).round() as usize;
                BARS[level.min(7)]
            }
            Some(_) => BARS[0],
            None => ' ',
        });
    }
    text
}

/// Width of the history sparklines in the server list of phase 3.
const SPARK: usize = 12;

fn peak(values: &VecDeque<Option<f64>>) -> f64 {
    values.iter().flatten().copied().fold(0.0, f64::max)
}

fn draw_charts(model: &Model, frame: &mut Frame, area: Rect) {
    let series = &model.charts.data.series;
    let list_height = u16::try_from(series.len().clamp(1, 6)).unwrap_or(6) + 3;
    let [list_area, charts_area] =
        Layout::vertical([Constraint::Length(list_height), Constraint::Fill(1)]).areas(area);
    let title = model.title.clone().unwrap_or_default();
    let block = Block::bordered().title(format!(" Live: {title} ")).title(
        Line::from(vec![
            Span::raw(" "),
            Span::styled(model.order.label(), RECOMMENDED),
            Span::raw(" first "),
        ])
        .right_aligned(),
    );
    let inner = block.inner(list_area);
    frame.render_widget(block, list_area);
    // Sparklines share a scale across servers, so that bars compare.
    let load_max = series.iter().map(|s| peak(&s.load)).fold(1.0, f64::max);
    let out_max = series.iter().map(|s| peak(&s.bandwidth_out)).fold(1.0, f64::max);
    let rows = series.iter().map(|s| {
        let f = &s.server.figures;
        let marker = match s.rank {
            Some(0) => STAR.to_string(),
            _ => String::new(),
        };
        let status = if s.rank.is_none() { "gone".to_string() } else { opt(f.load, |l| format!("{l:.2}")) };
        let row = Row::new(vec![
            marker,
            s.server.host.clone(),
            connections(f),
            status,
            opt(f.bandwidth_out, format_rate),
            sparkline_text(&s.load, SPARK, load_max),
            sparkline_text(&s.bandwidth_out, SPARK, out_max),
        ]);
        match s.rank {
            Some(0) => row.style(RECOMMENDED),
            None => row.style(GONE),
            Some(_) => row,
        }
    });
    let widths = [
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(10),
        Constraint::Length(12),
        Constraint::Length(12),
    ];
    let table = Table::new(rows, widths)
        .header(Row::new(["", "server", "conns", "load", "out", "load history", "out history"]).style(DIM))
        .row_highlight_style(HIGHLIGHT);
    let mut state = TableState::default().with_selected(Some(model.chart_cursor));
    frame.render_stateful_widget(table, inner, &mut state);

    if let Some(failure) = model.charts.failure() {
        let text = failure_text(failure, "r: restart the live figures · Enter still picks");
        frame.render_widget(
            Paragraph::new(text).block(Block::bordered().border_style(ERROR)).wrap(Wrap { trim: false }),
            charts_area,
        );
        return;
    }
    let Some(selected) = model.selected_series() else { return };
    let [load_area, bandwidth_area, connections_area] =
        Layout::horizontal([Constraint::Ratio(1, 3), Constraint::Ratio(1, 3), Constraint::Ratio(1, 3)])
            .areas(charts_area);
    let host = &selected.server.host;
    let f = &selected.server.figures;
    let style = if selected.rank == Some(0) { RECOMMENDED } else { Style::new().fg(Color::Cyan) };
    draw_chart(
        frame,
        load_area,
        &format!("{host} load"),
        &selected.load,
        peak(&selected.load).max(1.0),
        1.0,
        style,
    );
    let capacity = match (f.bandwidth_out, f.bandwidth_free) {
        (Some(out), Some(free)) => out.saturating_add(free),
        _ => 0,
    };
    #[allow(clippy::cast_precision_loss, reason = "chart scale")]
    let bandwidth_max = peak(&selected.bandwidth_out).max(capacity as f64).max(1e6);
    draw_chart(frame, bandwidth_area, "out Mb/s", &selected.bandwidth_out, bandwidth_max, 1e6, style);
    #[allow(clippy::cast_precision_loss, reason = "chart scale")]
    let connections_max = peak(&selected.connections).max(f.max_connections.unwrap_or(1) as f64);
    draw_chart(frame, connections_area, "connections", &selected.connections, connections_max, 1.0, style);
}

/// Samples a chart spans at least: a short history is drawn on this
/// window (right-aligned), a longer one on its own length, up to
/// [`HISTORY`].
const MIN_WINDOW: usize = 10;

/// A line chart of a history, right-aligned on its window, values divided
/// by `unit` for the axis labels.
fn draw_chart(
    frame: &mut Frame,
    area: Rect,
    name: &str,
    values: &VecDeque<Option<f64>>,
    max: f64,
    unit: f64,
    style: Style,
) {
    let window = values.len().clamp(MIN_WINDOW, HISTORY);
    #[allow(clippy::cast_precision_loss, reason = "sample positions are small")]
    let points: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| ((window - values.len() + i) as f64, v / unit)))
        .collect();
    let top = max / unit;
    let label = |v: f64| if v >= 10.0 { format!("{v:.0}") } else { format!("{v:.1}") };
    #[allow(clippy::cast_precision_loss, reason = "window length")]
    let x_max = (window - 1) as f64;
    let chart = Chart::new(vec![
        Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(style).data(&points),
    ])
    .block(Block::bordered().title(format!(" {name} ")))
    .x_axis(Axis::default().bounds([0.0, x_max]))
    .y_axis(Axis::default().bounds([0.0, top]).labels([label(0.0), label(top)]).style(DIM));
    frame.render_widget(chart, area);
}

// ------------------------------------------------------------- status, keys

fn draw_status(model: &Model, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(" broker ", DIM), Span::raw(model.settings.broker.clone())];
    let (pane_state, count) = match model.phase {
        Phase::Titles => (&model.titles.state, format!("{} servers", model.title_servers)),
        Phase::Servers => (&model.servers.state, format!("{} servers", model.servers.data.len())),
        Phase::Charts => (&model.charts.state, format!("update {}", model.charts.data.sequence)),
    };
    spans.push(Span::styled(" · ", DIM));
    spans.push(Span::raw(count));
    if let Some(age) = model.figures_age_ms() {
        #[allow(clippy::cast_precision_loss, reason = "seconds with one decimal")]
        let seconds = age as f64 / 1000.0;
        spans.push(Span::styled(" · ", DIM));
        spans.push(Span::raw(format!("figures {seconds:.1} s old")));
    }
    match pane_state {
        LoadingState::Loading => spans.push(Span::styled(" · loading…", DIM)),
        LoadingState::Error(failure) => spans.push(Span::styled(format!(" · {}", failure.headline()), ERROR)),
        LoadingState::Idle | LoadingState::Loaded => {}
    }
    if model.pick.is_loading() {
        spans.push(Span::styled(format!(" · picking {}…", model.pick.data), Style::new().fg(Color::Yellow)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(Style::new().bg(Color::Black)), area);
}

fn keys_line(keys: &[(&str, &str)]) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (key, what) in keys {
        spans.push(Span::styled((*key).to_string(), KEY));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    Line::from(spans)
}

fn draw_footer(model: &Model, frame: &mut Frame, area: Rect) {
    let keys: &[(&str, &str)] = match (&model.overlay, model.phase) {
        (Overlay::Client(_), _) => &[("Tab", "next field"), ("Enter", "apply"), ("Esc", "cancel")],
        (Overlay::Help | Overlay::Notice { .. }, _) => &[("Esc", "close"), ("q", "quit")],
        (Overlay::None, Phase::Titles) if model.filter.editing => {
            &[("type", "to filter"), ("Enter", "done"), ("↓", "list"), ("Esc", "clear")]
        }
        (Overlay::None, Phase::Titles) => &[
            ("↑↓", "move"),
            ("/", "filter"),
            ("Enter", "servers"),
            ("c", "client"),
            ("r", "reload"),
            ("?", "help"),
            ("q", "quit"),
        ],
        (Overlay::None, Phase::Servers) => &[
            ("↑↓", "move"),
            ("Enter", "charts"),
            ("o", "order"),
            ("r", "reload"),
            ("Esc", "back"),
            ("?", "help"),
            ("q", "quit"),
        ],
        (Overlay::None, Phase::Charts) => &[
            ("↑↓", "server"),
            ("Enter", "pick & play"),
            ("o", "order"),
            ("r", "restart"),
            ("Esc", "back"),
            ("?", "help"),
            ("q", "quit"),
        ],
    };
    frame.render_widget(Paragraph::new(keys_line(keys)), area);
}

// ------------------------------------------------------------- overlays

/// A centred rectangle of at most `width` x `height` inside `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height }
}

const HELP: &[(&str, &str)] = &[
    ("", "1 Titles: what servers able to stream to you hold"),
    ("↑↓ j k PgUp PgDn", "move"),
    ("/", "filter the titles as you type (Esc clears)"),
    ("Enter", "the servers that have the title"),
    ("", "2 Servers: live figures, ranked by the broker"),
    ("Enter", "live charts of the servers"),
    ("o", "rank by free connections, or by load"),
    ("", "3 Charts: ★ is the broker's recommendation"),
    ("Enter", "pick the highlighted server, then play"),
    ("", "Everywhere"),
    ("c", "client formats and protocols"),
    ("r", "reload (restart the live figures)"),
    ("Esc", "back one phase"),
    ("q Ctrl-C", "quit without playing"),
];

fn draw_help(frame: &mut Frame) {
    let area = centered(frame.area(), 64, u16::try_from(HELP.len()).unwrap_or(20) + 2);
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(key, what)| {
            if key.is_empty() {
                Line::styled((*what).to_string(), Style::new().bold())
            } else {
                Line::from(vec![Span::styled(format!("  {key:<18}"), KEY), Span::raw((*what).to_string())])
            }
        })
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" Keys ")), area);
}

fn draw_client_form(form: &ClientForm, frame: &mut Frame) {
    let area = centered(frame.area(), 60, 10);
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(" Client ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    for (i, (label, value)) in ClientForm::LABELS.iter().zip(&form.fields).enumerate() {
        let focused = i == form.focus;
        let mut spans = vec![Span::styled(format!(" {label:<15}"), if focused { KEY } else { DIM })];
        spans.push(Span::styled(value.clone(), if focused { HIGHLIGHT } else { Style::new() }));
        if focused {
            spans.push(Span::styled("▏", KEY));
        }
        if value.is_empty() && !focused {
            spans.push(Span::styled("any", DIM));
        }
        lines.push(Line::from(spans));
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled(" comma-separated, e.g. h264,vp9; empty means any", DIM));
    lines.push(Line::styled(" Tab: next · Enter: apply and reload · Esc: cancel", DIM));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_notice(title: &str, failure: &Failure, frame: &mut Frame) {
    let area = centered(frame.area(), 60, 9);
    frame.render_widget(Clear, area);
    let mut text = failure_text(failure, "Esc: close, then choose another server or try again");
    text.lines.insert(0, Line::styled(title.to_string(), Style::new().bold()));
    text.lines.insert(1, Line::raw(""));
    frame.render_widget(
        Paragraph::new(text)
            .block(Block::bordered().title(" Pick failed ").border_style(ERROR))
            .wrap(Wrap { trim: false })
            .alignment(Alignment::Left),
        area,
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;

    #[test]
    fn sparklines_scale_and_pad() {
        let values: VecDeque<Option<f64>> =
            [Some(0.0), Some(0.5), None, Some(1.0), Some(2.0)].into_iter().collect();
        assert_eq!(sparkline_text(&values, 8, 1.0), "   ▁▅ ██");
        assert_eq!(sparkline_text(&values, 3, 2.0), " ▅█");
        assert_eq!(sparkline_text(&VecDeque::new(), 2, 1.0), "  ");
    }

    #[test]
    fn centred_boxes_fit() {
        let area = Rect::new(0, 0, 80, 24);
        assert_eq!(centered(area, 60, 10), Rect::new(10, 7, 60, 10));
        assert_eq!(centered(Rect::new(0, 0, 40, 5), 60, 10), Rect::new(0, 0, 40, 5));
    }
}
