//! Selection among media servers without I/O: the client's configuration
//! (formats it plays, protocols it accepts), the constraints of the three
//! phases built from it, titles merged across servers, and a server's live
//! figures read from an offer. The terminal UI and `bourse pick` share it.

use std::collections::BTreeMap;
use std::path::Path;

use bourse_proto::{MatchedOffer, Record, value::Kind};
use serde::Deserialize;

use crate::error::CliError;

/// The service type that the selection looks for.
pub const SERVICE_TYPE: &str = "MediaServer";

/// Properties that phase 1 asks for: enough to list titles and their details.
pub const TITLE_PROPERTIES: &[&str] = &["titles", "movies", "host"];

/// Properties that phases 2 and 3 ask for: a server's identity, its live
/// figures and its catalog (for the play URL of the chosen title).
pub const SERVER_PROPERTIES: &[&str] = &[
    "host",
    "zone",
    "max_connections",
    "connections",
    "load",
    "cpu",
    "bandwidth_out",
    "bandwidth_free",
    "disk_free",
    "movies",
];

// ------------------------------------------------------------ client config

/// What the client can play: the video and audio codecs it decodes and the
/// streaming protocols it speaks. An empty list means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    #[serde(default)]
    pub video: Vec<String>,
    #[serde(default)]
    pub audio: Vec<String>,
    #[serde(default)]
    pub protocols: Vec<String>,
}

/// A client configuration file (TOML): the formats and protocols, and
/// optionally the player and the ranking, all overridden by flags.
///
/// ```toml
/// video = ["h264", "vp9"]
/// audio = ["aac", "opus"]
/// protocols = ["rtsp", "hls"]
/// player = "mpv {url}"
/// order = "load"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfigFile {
    #[serde(default)]
    pub video: Vec<String>,
    #[serde(default)]
    pub audio: Vec<String>,
    #[serde(default)]
    pub protocols: Vec<String>,
    pub player: Option<String>,
    pub order: Option<Order>,
}

impl ClientConfigFile {
    pub fn read(path: &Path) -> Result<ClientConfigFile, CliError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> Result<ClientConfigFile, String> {
        let mut file: ClientConfigFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
        for list in [&mut file.video, &mut file.audio, &mut file.protocols] {
            *list = clean_list(list.iter().map(String::as_str));
        }
        Ok(file)
    }

    pub fn client(&self) -> ClientConfig {
        ClientConfig {
            video: self.video.clone(),
            audio: self.audio.clone(),
            protocols: self.protocols.clone(),
        }
    }
}

/// A comma-separated list as typed: items trimmed, empty ones and repeats
/// dropped, order kept.
pub fn parse_list(text: &str) -> Vec<String> {
    clean_list(text.split(','))
}

fn clean_list<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut list: Vec<String> = Vec::new();
    for item in items.map(str::trim).filter(|i| !i.is_empty()) {
        if !list.iter().any(|seen| seen == item) {
            list.push(item.to_string());
        }
    }
    list
}

impl ClientConfig {
    /// One line for people: `video h264,vp9 · audio aac · protocols any`.
    pub fn summary(&self) -> String {
        let list = |items: &[String]| if items.is_empty() { "any".to_string() } else { items.join(",") };
        format!(
            "video {} · audio {} · protocols {}",
            list(&self.video),
            list(&self.audio),
            list(&self.protocols)
        )
    }
}

// ------------------------------------------------------------ constraints

/// `text` as a string literal of the constraint language: in single quotes,
/// with `\` and `'` escaped.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'"))
}

/// `('a' in prop or 'b' in prop)`, or `None` for an empty list (any value).
fn any_in(values: &[String], property: &str) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let terms: Vec<String> = values.iter().map(|v| format!("{} in {property}", quote(v))).collect();
    Some(format!("({})", terms.join(" or ")))
}

fn all_of(parts: impl IntoIterator<Item = Option<String>>) -> String {
    parts.into_iter().flatten().collect::<Vec<_>>().join(" and ")
}

/// Servers that stream in a format the client plays, over a protocol it
/// accepts. Empty (TRUE) when the client accepts anything.
pub fn formats_constraint(client: &ClientConfig) -> String {
    all_of([
        any_in(&client.video, "video_formats"),
        any_in(&client.audio, "audio_formats"),
        any_in(&client.protocols, "protocols"),
    ])
}

/// Phase 1: servers the client can play from that can take one more stream.
pub fn titles_constraint(client: &ClientConfig) -> String {
    let formats = formats_constraint(client);
    all_of([(!formats.is_empty()).then_some(formats), Some("connections < max_connections".to_string())])
}

/// Phase 2 (and the Watch of phase 3): servers the client can play from
/// that hold `title`.
pub fn servers_constraint(client: &ClientConfig, title: &str) -> String {
    let formats = formats_constraint(client);
    all_of([Some(format!("{} in titles", quote(title))), (!formats.is_empty()).then_some(formats)])
}

/// How the broker ranks servers in phases 2 and 3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Most free connections first.
    #[default]
    Room,
    /// Least loaded first.
    Load,
}

impl Order {
    /// The preference sent to the broker.
    pub fn preference(self) -> &'static str {
        match self {
            Order::Room => "max (max_connections - connections)",
            Order::Load => "min load",
        }
    }

    /// What the ranking means, for people.
    pub fn label(self) -> &'static str {
        match self {
            Order::Room => "most free connections",
            Order::Load => "least load",
        }
    }

    pub fn next(self) -> Order {
        match self {
            Order::Room => Order::Load,
            Order::Load => Order::Room,
        }
    }
}

// ------------------------------------------------------------ reading offers

/// A property of a matched offer.
pub fn property<'a>(offer: &'a MatchedOffer, name: &str) -> Option<&'a Kind> {
    offer.properties.iter().find(|p| p.name == name)?.value.as_ref()?.kind.as_ref()
}

fn string_of(kind: Option<&Kind>) -> Option<String> {
    match kind? {
        Kind::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

/// A number of any numeric type as a double.
#[allow(clippy::cast_precision_loss, reason = "figures are shown, not computed with")]
fn number_of(kind: Option<&Kind>) -> Option<f64> {
    match *kind? {
        Kind::Int64Value(v) => Some(v as f64),
        Kind::Uint64Value(v) => Some(v as f64),
        Kind::DoubleValue(v) => Some(v),
        _ => None,
    }
}

/// A count of any numeric type as an unsigned integer (doubles rounded,
/// negative values are not counts).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "checked to be a finite non-negative"
)]
fn count_of(kind: Option<&Kind>) -> Option<u64> {
    match *kind? {
        Kind::Int64Value(v) => u64::try_from(v).ok(),
        Kind::Uint64Value(v) => Some(v),
        Kind::DoubleValue(v) if v.is_finite() && v >= 0.0 => Some(v.round() as u64),
        _ => None,
    }
}

fn field<'a>(record: &'a Record, name: &str) -> Option<&'a Kind> {
    record.fields.iter().find(|f| f.name == name)?.value.as_ref()?.kind.as_ref()
}

/// One title as a server advertises it (a record of its `movies`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Movie {
    pub name: String,
    pub file: Option<String>,
    /// Frames per second.
    pub frame_rate: Option<f64>,
    /// Seconds.
    pub duration: Option<f64>,
    /// Pixels.
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub play_url: Option<String>,
    pub info_url: Option<String>,
}

impl Movie {
    fn from_record(record: &Record) -> Option<Movie> {
        Some(Movie {
            name: string_of(field(record, "name"))?,
            file: string_of(field(record, "file")),
            frame_rate: number_of(field(record, "frame_rate")),
            duration: number_of(field(record, "duration")),
            width: count_of(field(record, "width")),
            height: count_of(field(record, "height")),
            video_codec: string_of(field(record, "video_codec")),
            audio_codec: string_of(field(record, "audio_codec")),
            play_url: string_of(field(record, "play_url")),
            info_url: string_of(field(record, "info_url")),
        })
    }
}

/// The `movies` records of an offer that name a title.
pub fn movies(offer: &MatchedOffer) -> Vec<Movie> {
    match property(offer, "movies") {
        Some(Kind::RecordList(list)) => list.records.iter().filter_map(Movie::from_record).collect(),
        _ => Vec::new(),
    }
}

/// The record of `title` on a server, if it has one.
pub fn movie_of(offer: &MatchedOffer, title: &str) -> Option<Movie> {
    movies(offer).into_iter().find(|m| m.name == title)
}

/// A title merged across the servers that hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Title {
    pub name: String,
    /// In the broker's order of the servers.
    pub servers: Vec<TitleOnServer>,
}

/// How one server advertises a title.
#[derive(Debug, Clone, PartialEq)]
pub struct TitleOnServer {
    pub offer_id: String,
    pub host: String,
    /// `None` when the server lists the title without a `movies` record.
    pub movie: Option<Movie>,
}

/// Every title of the offers, each with the servers that hold it and
/// their `movies` record of it, sorted by name (ignoring case). A server
/// holds the titles of its `titles` property (what phase 2 asks for with
/// `'name' in titles`); a record for a title not listed there is ignored.
/// A server is listed once per title.
pub fn merge_titles(offers: &[MatchedOffer]) -> Vec<Title> {
    // Keyed by (lower-case name, name) so that the order ignores case but
    // names that differ in case stay apart.
    let mut titles: BTreeMap<(String, String), Vec<TitleOnServer>> = BTreeMap::new();
    for offer in offers {
        let host = string_of(property(offer, "host")).unwrap_or_else(|| offer.reference.clone());
        let records = movies(offer);
        let names: &[String] = match property(offer, "titles") {
            Some(Kind::StringSeq(seq)) => &seq.values,
            _ => &[],
        };
        for name in names {
            let servers = titles.entry((name.to_lowercase(), name.clone())).or_default();
            if servers.iter().any(|s| s.offer_id == offer.id) {
                continue;
            }
            servers.push(TitleOnServer {
                offer_id: offer.id.clone(),
                host: host.clone(),
                movie: records.iter().find(|m| &m.name == name).cloned(),
            });
        }
    }
    titles.into_iter().map(|((_, name), servers)| Title { name, servers }).collect()
}

/// A server's live figures as the broker evaluated them; `None` when the
/// server does not have the property or its evaluation failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub connections: Option<u64>,
    pub max_connections: Option<u64>,
    /// Load average per core.
    pub load: Option<f64>,
    /// Busy fraction, 0..1.
    pub cpu: Option<f64>,
    /// Bits per second.
    pub bandwidth_out: Option<u64>,
    /// Bits per second.
    pub bandwidth_free: Option<u64>,
    /// Bytes.
    pub disk_free: Option<u64>,
}

impl Figures {
    /// Whether any live figure is missing: the broker could not evaluate
    /// it (the server's agent did not answer in time).
    pub fn incomplete(&self) -> bool {
        self.connections.is_none() || self.load.is_none() || self.bandwidth_out.is_none()
    }

    /// Whether the server can take one more stream, if known.
    pub fn has_room(&self) -> Option<bool> {
        Some(self.connections? < self.max_connections?)
    }
}

/// A media server as phases 2 and 3 show it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Server {
    pub offer_id: String,
    /// The offer's endpoint.
    pub reference: String,
    pub host: String,
    pub zone: Option<String>,
    pub figures: Figures,
    /// The chosen title on this server, if it advertises a record for it.
    pub movie: Option<Movie>,
}

impl Server {
    /// The endpoint to hand to a player: the title's play URL, or the
    /// server's reference when it advertises none.
    pub fn play_url(&self) -> &str {
        self.movie.as_ref().and_then(|m| m.play_url.as_deref()).unwrap_or(&self.reference)
    }
}

/// A server from a matched offer, with its record of `title`.
pub fn server_from_offer(offer: &MatchedOffer, title: Option<&str>) -> Server {
    Server {
        offer_id: offer.id.clone(),
        reference: offer.reference.clone(),
        host: string_of(property(offer, "host")).unwrap_or_else(|| offer.reference.clone()),
        zone: string_of(property(offer, "zone")),
        figures: Figures {
            connections: count_of(property(offer, "connections")),
            max_connections: count_of(property(offer, "max_connections")),
            load: number_of(property(offer, "load")),
            cpu: number_of(property(offer, "cpu")),
            bandwidth_out: count_of(property(offer, "bandwidth_out")),
            bandwidth_free: count_of(property(offer, "bandwidth_free")),
            disk_free: count_of(property(offer, "disk_free")),
        },
        movie: title.and_then(|t| movie_of(offer, t)),
    }
}

// ------------------------------------------------------------ formatting

/// Bits per second for people: `850 kb/s`, `12.5 Mb/s`, `1.2 Gb/s`.
#[allow(clippy::cast_precision_loss, reason = "shown with three digits")]
pub fn format_rate(bits_per_second: u64) -> String {
    scaled(bits_per_second as f64, 1000.0, &["b/s", "kb/s", "Mb/s", "Gb/s", "Tb/s"])
}

/// Bytes for people: `512 B`, `3.4 GB`, `1.2 TB` (powers of 1000).
#[allow(clippy::cast_precision_loss, reason = "shown with three digits")]
pub fn format_bytes(bytes: u64) -> String {
    scaled(bytes as f64, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"])
}

fn scaled(mut value: f64, step: f64, units: &[&str]) -> String {
    let mut unit = 0;
    while value >= step && unit + 1 < units.len() {
        value /= step;
        unit += 1;
    }
    let unit_name = units.get(unit).copied().unwrap_or("");
    if unit == 0 || value >= 100.0 {
        format!("{value:.0} {unit_name}")
    } else {
        format!("{value:.1} {unit_name}")
    }
}

/// A length in seconds as `1:42:05` or `4:05`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "rounded, non-negative")]
pub fn format_length(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 { seconds.round() as u64 } else { 0 };
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;
    use bourse_proto::{Field, PropertyValue, RecordList, Value};

    fn client(video: &[&str], audio: &[&str], protocols: &[&str]) -> ClientConfig {
        let list = |items: &[&str]| items.iter().map(|s| (*s).to_string()).collect();
        ClientConfig { video: list(video), audio: list(audio), protocols: list(protocols) }
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote("Casablanca"), "'Casablanca'");
        assert_eq!(quote("Singin' in the Rain"), r"'Singin\' in the Rain'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote(r"\'"), r"'\\\''");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn constraints_follow_the_client() {
        let c = client(&["h264", "vp9"], &["aac"], &["rtsp", "hls"]);
        assert_eq!(
            titles_constraint(&c),
            "('h264' in video_formats or 'vp9' in video_formats) and ('aac' in audio_formats) \
             and ('rtsp' in protocols or 'hls' in protocols) and connections < max_connections"
        );
        assert_eq!(
            servers_constraint(&c, "Singin' in the Rain"),
            concat!(
                r"'Singin\' in the Rain' in titles and ('h264' in video_formats or 'vp9' in video_formats) ",
                "and ('aac' in audio_formats) and ('rtsp' in protocols or 'hls' in protocols)"
            )
        );
    }

    #[test]
    fn an_open_client_leaves_formats_out() {
        let any = ClientConfig::default();
        assert_eq!(formats_constraint(&any), "");
        assert_eq!(titles_constraint(&any), "connections < max_connections");
        assert_eq!(servers_constraint(&any, "Nosferatu"), "'Nosferatu' in titles");
        assert_eq!(any.summary(), "video any · audio any · protocols any");
    }

    #[test]
    fn lists_and_config_files() {
        assert_eq!(parse_list(" h264, vp9,,h264 ,"), ["h264", "vp9"]);
        assert!(parse_list(" , ").is_empty());
        let file = ClientConfigFile::parse(
            "video = ['h264', ' vp9 ']\naudio = ['aac']\nprotocols = ['rtsp']\nplayer = 'mpv {url}'\norder = 'load'\n",
        )
        .unwrap();
        assert_eq!(file.client(), client(&["h264", "vp9"], &["aac"], &["rtsp"]));
        assert_eq!((file.player.as_deref(), file.order), (Some("mpv {url}"), Some(Order::Load)));
        assert_eq!(ClientConfigFile::parse("").unwrap(), ClientConfigFile::default());
        let example = ClientConfigFile::parse(include_str!("../client.example.toml")).unwrap();
        assert_eq!(example.client(), client(&["h264", "vp9"], &["aac", "opus"], &["rtsp", "hls"]));
        assert_eq!((example.player.as_deref(), example.order), (Some("mpv {url}"), Some(Order::Room)));
        let error = ClientConfigFile::parse("vidoe = ['h264']").unwrap_err();
        assert!(error.contains("unknown field"), "{error}");
    }

    fn record(fields: &[(&str, Value)]) -> Record {
        Record {
            fields: fields.iter().map(|(n, v)| Field { name: (*n).into(), value: Some(v.clone()) }).collect(),
        }
    }

    fn offer(id: &str, host: &str, titles: &[&str], records: Vec<Record>) -> MatchedOffer {
        let mut properties = vec![
            PropertyValue { name: "host".into(), value: Some(Value::string(host)) },
            PropertyValue { name: "titles".into(), value: Some(Value::string_seq(titles.iter().copied())) },
        ];
        if !records.is_empty() {
            properties.push(PropertyValue {
                name: "movies".into(),
                value: Some(Value { kind: Some(Kind::RecordList(RecordList { records })) }),
            });
        }
        MatchedOffer {
            id: id.into(),
            r#type: SERVICE_TYPE.into(),
            reference: format!("rtsp://{host}/"),
            properties,
        }
    }

    #[test]
    fn titles_merge_across_servers() {
        let casablanca = |url: &str, rate: f64| {
            record(&[
                ("name", Value::string("Casablanca")),
                ("frame_rate", Value::double(rate)),
                ("duration", Value::uint64(6120)),
                ("width", Value::uint64(1920)),
                ("height", Value::int64(1080)),
                ("play_url", Value::string(url)),
            ])
        };
        let offers = vec![
            offer("o1", "alpha", &["Casablanca", "metropolis"], vec![casablanca("rtsp://alpha/c", 24.0)]),
            offer("o2", "beta", &["Casablanca", "Casablanca"], vec![casablanca("rtsp://beta/c", 25.0)]),
            // A record without a name, and one for a title that is not listed.
            offer(
                "o3",
                "gamma",
                &["Nosferatu"],
                vec![record(&[]), record(&[("name", Value::string("Sunrise"))])],
            ),
        ];
        let titles = merge_titles(&offers);
        let names: Vec<&str> = titles.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Casablanca", "metropolis", "Nosferatu"]);
        let hosts: Vec<&str> = titles[0].servers.iter().map(|s| s.host.as_str()).collect();
        assert_eq!(hosts, ["alpha", "beta"], "one entry per server, in the broker's order");
        let beta = titles[0].servers[1].movie.as_ref().unwrap();
        assert_eq!(
            (beta.frame_rate, beta.duration, beta.width, beta.height),
            (Some(25.0), Some(6120.0), Some(1920), Some(1080))
        );
        assert_eq!(beta.play_url.as_deref(), Some("rtsp://beta/c"));
        assert_eq!(titles[1].servers[0].movie, None, "listed without a record");
        assert_eq!((titles[2].servers[0].host.as_str(), &titles[2].servers[0].movie), ("gamma", &None));
    }

    #[test]
    fn servers_read_their_figures() {
        let mut o = offer(
            "o1",
            "alpha",
            &["M"],
            vec![record(&[("name", Value::string("M")), ("play_url", Value::string("hls://x"))])],
        );
        for (name, value) in [
            ("connections", Value::uint64(3)),
            ("max_connections", Value::int64(10)),
            ("load", Value::double(0.25)),
            ("bandwidth_out", Value::double(1.5e6)),
        ] {
            o.properties.push(PropertyValue { name: name.into(), value: Some(value) });
        }
        let server = server_from_offer(&o, Some("M"));
        assert_eq!(server.figures.connections, Some(3));
        assert_eq!(server.figures.max_connections, Some(10));
        assert_eq!(server.figures.bandwidth_out, Some(1_500_000));
        assert_eq!(server.figures.has_room(), Some(true));
        assert!(!server.figures.incomplete());
        assert_eq!(server.play_url(), "hls://x");
        let other = server_from_offer(&o, Some("N"));
        assert_eq!(other.play_url(), "rtsp://alpha/", "no record: the reference");
        assert!(server_from_offer(&offer("o2", "b", &[], vec![]), None).figures.incomplete());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_rate(0), "0 b/s");
        assert_eq!(format_rate(850_000), "850 kb/s");
        assert_eq!(format_rate(12_500_000), "12.5 Mb/s");
        assert_eq!(format_bytes(1_234_000_000_000), "1.2 TB");
        assert_eq!(format_length(6125.4), "1:42:05");
        assert_eq!(format_length(245.0), "4:05");
        assert_eq!(Order::Room.preference(), "max (max_connections - connections)");
        assert_eq!(Order::Room.next(), Order::Load);
    }
}
