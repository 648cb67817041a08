//! The agent's configuration in two layers: [`RawConfig`] is the TOML file
//! as written (unknown keys refused), [`Overrides`] come from flags and the
//! environment, and [`Config::build`] merges file < environment < flags and
//! validates once. Every error names the field at fault.
//!
//! `deploy/agent.toml` is the commented example; a test checks it parses.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::template::UrlTemplate;

/// The config file as written. Every key is optional here; [`Config::build`]
/// says which ones are required.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Broker address, `host:port` or `http://host:port`. Without it the
    /// broker is found by mDNS (unless `[mdns] enabled = false`).
    pub broker: Option<String>,
    /// Lease asked for the offer, in seconds.
    pub lease_seconds: Option<u64>,
    /// Interval between two measurements, in milliseconds.
    pub interval_ms: Option<u64>,
    /// How long the broker may cache a dynamic value, in milliseconds.
    pub max_age_ms: Option<u64>,
    /// Recorded as the offer's owner.
    pub owner: Option<String>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub media: RawMedia,
    #[serde(default)]
    pub evaluator: RawEvaluator,
    pub health: Option<RawHealth>,
    pub simulate: Option<Simulate>,
    #[serde(default)]
    pub mdns: RawMdns,
}

/// `[mdns]`: finding the broker when no address is configured.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMdns {
    /// Look for the broker by mDNS when no address is given (default true;
    /// false uses 127.0.0.1:7300).
    pub enabled: Option<bool>,
    /// Accept only the broker with this id (its TXT `id`), when several
    /// answer on the link.
    pub broker_id: Option<String>,
}

/// `[server]`: what the offer says about the machine and its capacity.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub host: Option<String>,
    pub zone: Option<String>,
    pub video_formats: Option<Vec<String>>,
    pub audio_formats: Option<Vec<String>>,
    pub protocols: Option<Vec<String>>,
    pub max_connections: Option<u64>,
    /// Outbound capacity in bits per second.
    pub bandwidth_capacity: Option<u64>,
}

/// `[media]`: the media server's endpoint and its titles.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMedia {
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub url_template: Option<String>,
    pub reference: Option<String>,
    pub dir: Option<PathBuf>,
    pub catalog: Option<PathBuf>,
    /// Use `ffprobe` when it is installed (default true).
    pub ffprobe: Option<bool>,
    /// Full rescan of the media directory even without change events, in
    /// seconds (a safety net for file systems that do not report changes).
    pub rescan_seconds: Option<u64>,
}

/// `[evaluator]`: where the callback service listens and what it tells the
/// broker.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvaluator {
    pub listen: Option<String>,
    pub advertise: Option<String>,
}

/// `[health]`: the optional check of the media server.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    /// `tcp` (connect to the media host and port) or `http` (GET `url`).
    pub check: Option<String>,
    pub url: Option<String>,
    /// `host:port` to connect to for `tcp` (default: media host and port).
    pub address: Option<String>,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    /// Consecutive failures before the server counts as down.
    pub fall: Option<u32>,
    /// Consecutive successes before it counts as up again.
    pub rise: Option<u32>,
}

/// `[simulate]`: fixed values reported instead of the measured ones. For
/// demos and tests where several agents share one machine and would
/// otherwise all report the same figures.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Simulate {
    pub connections: Option<u64>,
    pub load: Option<f64>,
    pub cpu: Option<f64>,
    pub mem_free: Option<u64>,
    pub disk_free: Option<u64>,
    pub bandwidth_in: Option<u64>,
    pub bandwidth_out: Option<u64>,
    pub bandwidth_free: Option<u64>,
    pub ctx_switches: Option<u64>,
}

/// Values given on the command line or in the environment; they win over
/// the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub broker: Option<String>,
    /// Do not look for the broker by mDNS.
    pub no_mdns: bool,
    /// UDP port for mDNS (tests; default 5353).
    pub mdns_port: Option<u16>,
    pub listen: Option<String>,
    pub advertise: Option<String>,
    pub media_dir: Option<PathBuf>,
    pub catalog: Option<PathBuf>,
    pub host: Option<String>,
    pub zone: Option<String>,
    pub lease_seconds: Option<u64>,
    pub interval_ms: Option<u64>,
}

/// How the media server is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// A TCP connect to this `host:port` must succeed.
    Tcp { address: String },
    /// A GET of this `http://` URL must answer 2xx.
    Http { url: String },
}

/// The validated health-check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub check: HealthCheck,
    pub interval: Duration,
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
}

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerAddress {
    /// Configured: its gRPC endpoint, `http://host:port`.
    Fixed(String),
    /// Found by mDNS when the agent starts.
    Discover {
        /// UDP port for mDNS, 5353 but in tests.
        mdns_port: u16,
        /// Accept only the broker with this id.
        broker_id: Option<String>,
    },
}

impl std::fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrokerAddress::Fixed(endpoint) => f.write_str(endpoint),
            BrokerAddress::Discover { .. } => f.write_str("(found by mDNS)"),
        }
    }
}

/// The validated configuration the agent runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub broker: BrokerAddress,
    pub lease: Duration,
    pub interval: Duration,
    pub max_age: Duration,
    pub owner: String,
    pub host: String,
    pub zone: Option<String>,
    pub video_formats: Vec<String>,
    pub audio_formats: Vec<String>,
    pub protocols: Vec<String>,
    pub max_connections: u64,
    /// Outbound capacity in bits per second; without it no `bandwidth_free`.
    pub bandwidth_capacity: Option<u64>,
    pub media_protocol: String,
    pub media_host: String,
    pub media_port: u16,
    pub url_template: UrlTemplate,
    /// The offer's reference (the server's base address).
    pub reference: String,
    pub media_dir: PathBuf,
    pub catalog_file: Option<PathBuf>,
    pub use_ffprobe: bool,
    pub rescan_interval: Duration,
    pub listen: SocketAddr,
    /// Advertised `host:port` of the evaluator; `None` derives it from the
    /// bound address once the listener exists.
    pub advertise: Option<String>,
    pub health: Option<Health>,
    pub simulate: Simulate,
}

pub const DEFAULT_BROKER: &str = bourse_proto::DEFAULT_BROKER_ADDRESS;
pub const DEFAULT_LEASE_SECONDS: u64 = 10;
pub const DEFAULT_INTERVAL_MS: u64 = 2000;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";

/// A configuration that cannot be used, naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field, reason: reason.into() }
}

impl ConfigError {
    /// The config key at fault, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Reads and parses a config file (without validating it).
pub fn read_file(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text).map_err(|source| match source {
        ConfigError::Parse { source, .. } => ConfigError::Parse { path: path.to_path_buf(), source },
        other => other,
    })
}

/// Parses config text (without validating it).
pub fn parse(text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text)
        .map_err(|source| ConfigError::Parse { path: PathBuf::from("<text>"), source: Box::new(source) })
}

/// `host:port` or `http(s)://host:port` → `http(s)://host:port`.
fn broker_endpoint(text: &str) -> Result<String, ConfigError> {
    let text = text.trim().trim_end_matches('/');
    let (scheme, authority) = match text.split_once("://") {
        Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
        Some((scheme, _)) => {
            return Err(invalid("broker", format!("scheme '{scheme}' is not http or https")));
        }
        None => ("http", text),
    };
    if authority.is_empty() || authority.contains(['/', ' ', '\t']) || !has_port(authority) {
        return Err(invalid("broker", format!("'{text}' is not an address like 127.0.0.1:7300")));
    }
    Ok(format!("{scheme}://{authority}"))
}

/// Whether `host:port` ends with a numeric port (IPv6 in brackets).
fn has_port(authority: &str) -> bool {
    match authority.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && port.parse::<u16>().is_ok() && (!host.contains(':') || host.starts_with('['))
        }
        None => false,
    }
}

fn check_words(field: &'static str, words: &[String]) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for word in words {
        if word.trim().is_empty() {
            return Err(invalid(field, "entries must not be empty"));
        }
        if !seen.insert(word) {
            return Err(invalid(field, format!("'{word}' is listed twice")));
        }
    }
    Ok(())
}

fn non_empty(field: &'static str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(invalid(field, "must not be empty")),
        other => Ok(other),
    }
}

impl Config {
    /// Merges file < overrides and validates.
    pub fn build(raw: RawConfig, overrides: Overrides) -> Result<Config, ConfigError> {
        let broker = match overrides.broker.as_deref().or(raw.broker.as_deref()) {
            Some(text) => BrokerAddress::Fixed(broker_endpoint(text)?),
            None if overrides.no_mdns || raw.mdns.enabled == Some(false) => {
                BrokerAddress::Fixed(broker_endpoint(DEFAULT_BROKER)?)
            }
            None => BrokerAddress::Discover {
                mdns_port: match overrides.mdns_port {
                    Some(0) => return Err(invalid("mdns_port", "must not be 0")),
                    Some(port) => port,
                    None => bourse_proto::discovery::MDNS_PORT,
                },
                broker_id: non_empty("mdns.broker_id", raw.mdns.broker_id)?,
            },
        };

        let lease_seconds = overrides.lease_seconds.or(raw.lease_seconds).unwrap_or(DEFAULT_LEASE_SECONDS);
        if !(1..=86_400).contains(&lease_seconds) {
            return Err(invalid("lease_seconds", "must be between 1 and 86400"));
        }
        let interval_ms = overrides.interval_ms.or(raw.interval_ms).unwrap_or(DEFAULT_INTERVAL_MS);
        // sysinfo needs 200 ms between two CPU refreshes for a meaningful figure.
        if !(200..=600_000).contains(&interval_ms) {
            return Err(invalid("interval_ms", "must be between 200 and 600000"));
        }
        let max_age_ms = raw.max_age_ms.unwrap_or(interval_ms);
        if max_age_ms > 3_600_000 {
            return Err(invalid("max_age_ms", "must be at most 3600000"));
        }

        let server = raw.server;
        let host = match non_empty("server.host", overrides.host.or(server.host))? {
            Some(host) => host,
            None => sysinfo::System::host_name()
                .ok()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| invalid("server.host", "required (the machine's host name is unknown)"))?,
        };
        if host.contains(char::is_whitespace) {
            return Err(invalid("server.host", format!("'{host}' contains white space")));
        }
        let zone = non_empty("server.zone", overrides.zone.or(server.zone))?;
        let video_formats =
            server.video_formats.ok_or_else(|| invalid("server.video_formats", "required"))?;
        check_words("server.video_formats", &video_formats)?;
        let audio_formats =
            server.audio_formats.ok_or_else(|| invalid("server.audio_formats", "required"))?;
        check_words("server.audio_formats", &audio_formats)?;
        let max_connections =
            server.max_connections.ok_or_else(|| invalid("server.max_connections", "required"))?;
        if max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if server.bandwidth_capacity == Some(0) {
            return Err(invalid(
                "server.bandwidth_capacity",
                "must be positive (bits per second) or left out",
            ));
        }

        let media = raw.media;
        let media_protocol =
            non_empty("media.protocol", media.protocol)?.unwrap_or_else(|| "rtsp".to_string());
        if !media_protocol.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
            return Err(invalid("media.protocol", format!("'{media_protocol}' is not a URL scheme")));
        }
        let protocols = server.protocols.unwrap_or_else(|| vec![media_protocol.clone()]);
        check_words("server.protocols", &protocols)?;
        if protocols.is_empty() {
            return Err(invalid("server.protocols", "must list at least one protocol"));
        }
        let media_host = non_empty("media.host", media.host)?.unwrap_or_else(|| host.clone());
        let media_port = media.port.ok_or_else(|| invalid("media.port", "required"))?;
        if media_port == 0 {
            return Err(invalid("media.port", "must not be 0"));
        }
        let template_text =
            media.url_template.unwrap_or_else(|| format!("{media_protocol}://{{host}}:{{port}}/{{file}}"));
        let url_template =
            UrlTemplate::parse(&template_text).map_err(|e| invalid("media.url_template", e.to_string()))?;
        let reference = match media.reference {
            Some(reference) => UrlTemplate::parse(&reference)
                .map_err(|e| invalid("media.reference", e.to_string()))?
                .render_server(&media_host, media_port)
                .ok_or_else(|| invalid("media.reference", "may use only {host} and {port}"))?,
            None => format!("{media_protocol}://{}:{media_port}/", bracket_host(&media_host)),
        };
        if reference.trim().is_empty() {
            return Err(invalid("media.reference", "must not be empty"));
        }
        let media_dir = overrides.media_dir.or(media.dir).ok_or_else(|| invalid("media.dir", "required"))?;
        if !media_dir.is_dir() {
            return Err(invalid("media.dir", format!("{} is not a directory", media_dir.display())));
        }
        let catalog_file = overrides.catalog.or(media.catalog);
        if let Some(catalog) = &catalog_file
            && !catalog.is_file()
        {
            return Err(invalid("media.catalog", format!("{} is not a file", catalog.display())));
        }
        let rescan_seconds = media.rescan_seconds.unwrap_or(60);
        if !(1..=86_400).contains(&rescan_seconds) {
            return Err(invalid("media.rescan_seconds", "must be between 1 and 86400"));
        }

        let evaluator = raw.evaluator;
        let listen_text = overrides.listen.or(evaluator.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid("evaluator.listen", format!("'{listen_text}' is not an address like 127.0.0.1:7400"))
        })?;
        let advertise = match overrides.advertise.or(evaluator.advertise) {
            Some(text) => {
                let authority = text.trim().trim_start_matches("http://").trim_end_matches('/').to_string();
                if !has_port(&authority) || authority.contains(['/', ' ']) {
                    return Err(invalid("evaluator.advertise", format!("'{text}' is not host:port")));
                }
                Some(authority)
            }
            None => None,
        };

        let health = match raw.health {
            Some(health) => Some(build_health(health, &media_host, media_port)?),
            None => None,
        };
        let simulate = raw.simulate.unwrap_or_default();
        check_simulate(&simulate)?;

        let owner = non_empty("owner", raw.owner)?.unwrap_or_else(|| format!("bourse-agent@{host}"));
        Ok(Config {
            broker,
            lease: Duration::from_secs(lease_seconds),
            interval: Duration::from_millis(interval_ms),
            max_age: Duration::from_millis(max_age_ms),
            owner,
            host,
            zone,
            video_formats,
            audio_formats,
            protocols,
            max_connections,
            bandwidth_capacity: server.bandwidth_capacity,
            media_protocol,
            media_host,
            media_port,
            url_template,
            reference,
            media_dir,
            catalog_file,
            use_ffprobe: media.ffprobe.unwrap_or(true),
            rescan_interval: Duration::from_secs(rescan_seconds),
            listen,
            advertise,
            health,
            simulate,
        })
    }
}

/// A host as it appears in a URL: IPv6 literals in brackets.
pub fn bracket_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() }
}

fn build_health(raw: RawHealth, media_host: &str, media_port: u16) -> Result<Health, ConfigError> {
    let check = match raw.check.as_deref().unwrap_or("tcp") {
        "tcp" => {
            if raw.url.is_some() {
                return Err(invalid("health.url", "only for check = \"http\""));
            }
            let address = raw.address.unwrap_or_else(|| format!("{}:{media_port}", bracket_host(media_host)));
            if !has_port(&address) {
                return Err(invalid("health.address", format!("'{address}' is not host:port")));
            }
            HealthCheck::Tcp { address }
        }
        "http" => {
            if raw.address.is_some() {
                return Err(invalid("health.address", "only for check = \"tcp\""));
            }
            let url = raw.url.ok_or_else(|| invalid("health.url", "required for check = \"http\""))?;
            crate::health::HttpTarget::parse(&url).map_err(|reason| invalid("health.url", reason))?;
            HealthCheck::Http { url }
        }
        other => return Err(invalid("health.check", format!("'{other}' is not \"tcp\" or \"http\""))),
    };
    let interval_ms = raw.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS);
    if !(50..=600_000).contains(&interval_ms) {
        return Err(invalid("health.interval_ms", "must be between 50 and 600000"));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(1000.min(interval_ms));
    if !(10..=60_000).contains(&timeout_ms) {
        return Err(invalid("health.timeout_ms", "must be between 10 and 60000"));
    }
    let fall = raw.fall.unwrap_or(2);
    if !(1..=100).contains(&fall) {
        return Err(invalid("health.fall", "must be between 1 and 100"));
    }
    let rise = raw.rise.unwrap_or(1);
    if !(1..=100).contains(&rise) {
        return Err(invalid("health.rise", "must be between 1 and 100"));
    }
    Ok(Health {
        check,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        fall,
        rise,
    })
}

fn check_simulate(simulate: &Simulate) -> Result<(), ConfigError> {
    if let Some(load) = simulate.load
        && (!load.is_finite() || load < 0.0)
    {
        return Err(invalid("simulate.load", "must be a finite number >= 0"));
    }
    if let Some(cpu) = simulate.cpu
        && !(0.0..=1.0).contains(&cpu)
    {
        return Err(invalid("simulate.cpu", "must be between 0 and 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn media_dir() -> String {
        std::env::temp_dir().display().to_string()
    }

    fn minimal() -> String {
        format!(
            "[server]\nhost = 'm1'\nvideo_formats = ['h264']\naudio_formats = ['aac']\nmax_connections = 10\n\
             [media]\nport = 8554\ndir = '{}'\n",
            media_dir()
        )
    }

    fn build(text: &str) -> Result<Config, ConfigError> {
        Config::build(parse(text)?, Overrides::default())
    }

    fn field_of(text: &str) -> &'static str {
        match build(text) {
            Err(err) => err.field().unwrap_or_else(|| panic!("error without a field: {err}")),
            Ok(_) => panic!("accepted: {text}"),
        }
    }

    #[test]
    fn example_config_parses() {
        let mut raw = parse(include_str!("../../deploy/agent.toml")).expect("deploy/agent.toml parses");
        // The example names a production directory; validate against one that exists here.
        let over = Overrides { media_dir: Some(std::env::temp_dir()), catalog: None, ..Overrides::default() };
        raw.media.catalog = None;
        let config = Config::build(raw, over).expect("and validates");
        assert_eq!(config.lease, Duration::from_secs(10));
        assert_eq!(config.interval, Duration::from_secs(2));
        assert_eq!(config.media_port, 8554);
        assert!(config.health.is_some());
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = build(&minimal()).expect("valid");
        assert_eq!(config.broker, BrokerAddress::Discover { mdns_port: 5353, broker_id: None });
        assert_eq!(config.lease, Duration::from_secs(10));
        assert_eq!(config.interval, Duration::from_millis(2000));
        assert_eq!(config.max_age, config.interval);
        assert_eq!(config.protocols, vec!["rtsp".to_string()]);
        assert_eq!(config.reference, "rtsp://m1:8554/");
        assert_eq!(config.media_host, "m1");
        assert_eq!(config.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.owner, "bourse-agent@m1");
        assert!(config.health.is_none());
        assert_eq!(config.simulate, Simulate::default());
    }

    #[test]
    fn an_explicit_broker_wins_over_discovery() {
        let fixed = BrokerAddress::Fixed("http://127.0.0.1:7300".into());
        let text = format!("[mdns]\nenabled = false\n{}", minimal());
        assert_eq!(build(&text).expect("valid").broker, fixed);
        let over = Overrides { no_mdns: true, ..Overrides::default() };
        assert_eq!(Config::build(parse(&minimal()).unwrap(), over).unwrap().broker, fixed);

        let text = format!("broker = '10.0.0.1:7300'\n[mdns]\nbroker_id = 'b1'\n{}", minimal());
        assert_eq!(build(&text).expect("valid").broker, BrokerAddress::Fixed("http://10.0.0.1:7300".into()));
        let text = format!("[mdns]\nbroker_id = 'b1'\n{}", minimal());
        let over = Overrides { mdns_port: Some(5454), ..Overrides::default() };
        assert_eq!(
            Config::build(parse(&text).unwrap(), over).unwrap().broker,
            BrokerAddress::Discover { mdns_port: 5454, broker_id: Some("b1".into()) }
        );
        assert_eq!(field_of(&format!("[mdns]\nbroker_id = ' '\n{}", minimal())), "mdns.broker_id");
    }

    #[test]
    fn flags_win_over_the_file() {
        let text = format!("broker = '10.0.0.1:7300'\n{}", minimal());
        let over = Overrides {
            broker: Some("http://127.0.0.1:9".into()),
            host: Some("m2".into()),
            lease_seconds: Some(3),
            listen: Some("127.0.0.1:7401".into()),
            ..Overrides::default()
        };
        let config = Config::build(parse(&text).unwrap(), over).unwrap();
        assert_eq!(config.broker, BrokerAddress::Fixed("http://127.0.0.1:9".into()));
        assert_eq!(config.host, "m2");
        assert_eq!(config.lease, Duration::from_secs(3));
        assert_eq!(config.listen.port(), 7401);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("brokr = 'x'").unwrap_err();
        assert!(err.to_string().contains("brokr"), "{err}");
        let err = parse("[server]\nmax_conections = 3").unwrap_err();
        assert!(err.to_string().contains("max_conections"), "{err}");
        let err = parse("[simulate]\nlaod = 0.5").unwrap_err();
        assert!(err.to_string().contains("laod"), "{err}");
        let err = parse("[media]\nport = 'x'").unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }

    #[test]
    fn errors_name_the_field() {
        let ok = minimal();
        assert_eq!(field_of(&format!("broker = 'nowhere'\n{ok}")), "broker");
        assert_eq!(field_of(&format!("broker = 'ftp://a:1'\n{ok}")), "broker");
        assert_eq!(field_of(&format!("lease_seconds = 0\n{ok}")), "lease_seconds");
        assert_eq!(field_of(&format!("interval_ms = 10\n{ok}")), "interval_ms");
        assert_eq!(
            field_of(&ok.replace("max_connections = 10", "max_connections = 0")),
            "server.max_connections"
        );
        assert_eq!(field_of(&ok.replace("max_connections = 10\n", "")), "server.max_connections");
        assert_eq!(field_of(&ok.replace("video_formats = ['h264']\n", "")), "server.video_formats");
        assert_eq!(field_of(&ok.replace("['aac']", "['aac', 'aac']")), "server.audio_formats");
        assert_eq!(field_of(&ok.replace("port = 8554\n", "")), "media.port");
        assert_eq!(field_of(&ok.replace(&media_dir(), "/nonexistent/media")), "media.dir");
        assert_eq!(
            field_of(&format!("{ok}url_template = 'rtsp://{{hots}}/{{file}}'\n")),
            "media.url_template"
        );
        assert_eq!(field_of(&format!("{ok}catalog = '/nonexistent/catalog.toml'\n")), "media.catalog");
        assert_eq!(field_of(&format!("{ok}[evaluator]\nlisten = 'x'\n")), "evaluator.listen");
        assert_eq!(field_of(&format!("{ok}[evaluator]\nadvertise = 'no-port'\n")), "evaluator.advertise");
        assert_eq!(field_of(&format!("{ok}[health]\ncheck = 'ping'\n")), "health.check");
        assert_eq!(field_of(&format!("{ok}[health]\ncheck = 'http'\n")), "health.url");
        assert_eq!(field_of(&format!("{ok}[health]\ncheck = 'http'\nurl = 'https://x/'\n")), "health.url");
        assert_eq!(field_of(&format!("{ok}[simulate]\ncpu = 1.5\n")), "simulate.cpu");
        let err = build(&format!("{ok}[simulate]\ncpu = 1.5\n")).unwrap_err();
        assert!(err.to_string().starts_with("simulate.cpu: "), "{err}");
    }

    #[test]
    fn health_defaults_to_the_media_port() {
        let config = build(&format!("{}[health]\ninterval_ms = 200\n", minimal())).unwrap();
        let health = config.health.unwrap();
        assert_eq!(health.check, HealthCheck::Tcp { address: "m1:8554".into() });
        assert_eq!(health.interval, Duration::from_millis(200));
        assert_eq!(health.timeout, Duration::from_millis(200));
        assert_eq!((health.fall, health.rise), (2, 1));
    }

    #[test]
    fn reference_and_advertise() {
        let text = format!(
            "{}reference = 'http://{{host}}:{{port}}/hls/'\nprotocol = 'hls'\n[evaluator]\nadvertise = 'http://10.1.2.3:7400/'\n",
            minimal()
        );
        let config = build(&text).unwrap();
        assert_eq!(config.reference, "http://m1:8554/hls/");
        assert_eq!(config.advertise.as_deref(), Some("10.1.2.3:7400"));
        assert_eq!(config.protocols, vec!["hls".to_string()]);
        let bad = format!("{}reference = 'http://{{host}}/{{file}}'\n", minimal());
        assert_eq!(field_of(&bad), "media.reference");
    }
}
