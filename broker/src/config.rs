//! The broker's configuration: a TOML file, overridden by environment
//! variables and flags (flags win), validated once into [`Config`].
//!
//! See `deploy/broker.toml` for a commented example.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::policy::Settings;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub in_memory: Option<bool>,
    /// Extra service-type files loaded at start, after the built-in types.
    #[serde(default)]
    pub type_files: Vec<PathBuf>,
    pub sweep_interval_ms: Option<u64>,
    #[serde(default)]
    pub policies: Option<Settings>,
    #[serde(default)]
    pub mdns: RawMdns,
    #[serde(default)]
    pub metrics: RawMetrics,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Address to serve `/metrics` on over HTTP (default: not served).
    pub listen: Option<String>,
}

/// `[mdns]`: the broker's announcement on the local network.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMdns {
    /// Announce `_bourse._tcp.local.` (default true).
    pub enabled: Option<bool>,
    /// Instance name shown to browsers (default `bourse-<id>`).
    pub instance: Option<String>,
    /// The broker id in the TXT record (default: generated once and kept
    /// in the data directory).
    pub id: Option<String>,
}

/// Values given on the command line or in the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub in_memory: bool,
    pub type_files: Vec<PathBuf>,
    /// Do not announce the broker over mDNS.
    pub no_mdns: bool,
    /// UDP port for mDNS (tests; default 5353).
    pub mdns_port: Option<u16>,
    /// Address for `/metrics`.
    pub metrics_listen: Option<String>,
}

/// The validated configuration the broker runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None`: keep everything in memory.
    pub data_dir: Option<PathBuf>,
    pub type_files: Vec<PathBuf>,
    pub sweep_interval: Duration,
    pub settings: Settings,
    /// `None`: not announced over mDNS.
    pub mdns: Option<Mdns>,
    /// Where to serve Prometheus metrics over HTTP; `None`: not served.
    pub metrics_listen: Option<SocketAddr>,
}

/// How the broker announces itself over mDNS (see
/// [`bourse_proto::discovery`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mdns {
    /// `None`: `bourse-<id>`.
    pub instance: Option<String>,
    /// `None`: generated once and kept in the data directory (in memory:
    /// a new one per run).
    pub id: Option<String>,
    /// UDP port for mDNS, 5353 but in tests.
    pub port: u16,
}

impl Config {
    /// A broker on `listen` that keeps everything in memory, with the
    /// default settings, not announced and without metrics: what tests,
    /// benchmarks and the selector's demo start (change fields as needed).
    pub fn in_memory(listen: SocketAddr) -> Config {
        Config {
            listen,
            data_dir: None,
            type_files: Vec::new(),
            sweep_interval: Duration::from_millis(250),
            settings: Settings::default(),
            mdns: None,
            metrics_listen: None,
        }
    }
}

pub const DEFAULT_LISTEN: &str = bourse_proto::DEFAULT_BROKER_ADDRESS;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("listen: '{0}' is not an address like 127.0.0.1:7300")]
    Listen(String),
    #[error("sweep_interval_ms must be between 10 and 60000")]
    SweepInterval,
    #[error("policies: {0}")]
    Policies(String),
    #[error("metrics.listen: '{0}' is not an address like 127.0.0.1:9301")]
    MetricsListen(String),
    #[error("mdns.{field}: {reason}")]
    Mdns { field: &'static str, reason: String },
    #[error("no data directory: set --data-dir or BOURSE_DATA_DIR (or HOME), or run with --in-memory")]
    NoDataDir,
}

/// Reads a config file.
pub fn read_file(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source })
}

/// The data directory used when none is configured.
fn default_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("bourse"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|home| PathBuf::from(home).join(".local/share/bourse"))
}

impl Config {
    /// Merges file < overrides and validates.
    pub fn build(raw: RawConfig, overrides: Overrides) -> Result<Config, ConfigError> {
        let listen_text = overrides.listen.or(raw.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen = listen_text.parse().map_err(|_| ConfigError::Listen(listen_text.clone()))?;
        let in_memory = overrides.in_memory || raw.in_memory.unwrap_or(false);
        let data_dir = if in_memory {
            None
        } else {
            Some(
                overrides
                    .data_dir
                    .or(raw.data_dir)
                    .or_else(default_data_dir)
                    .ok_or(ConfigError::NoDataDir)?,
            )
        };
        let sweep_ms = raw.sweep_interval_ms.unwrap_or(250);
        if !(10..=60_000).contains(&sweep_ms) {
            return Err(ConfigError::SweepInterval);
        }
        let settings = raw.policies.unwrap_or_default();
        settings.validate().map_err(|e| ConfigError::Policies(e.to_string()))?;
        let mdns = build_mdns(raw.mdns, overrides.no_mdns, overrides.mdns_port)?;
        let metrics_listen = match overrides.metrics_listen.or(raw.metrics.listen) {
            Some(text) => Some(text.parse().map_err(|_| ConfigError::MetricsListen(text.clone()))?),
            None => None,
        };
        let mut type_files = raw.type_files;
        type_files.extend(overrides.type_files);
        Ok(Config {
            listen,
            data_dir,
            type_files,
            sweep_interval: Duration::from_millis(sweep_ms),
            settings,
            mdns,
            metrics_listen,
        })
    }
}

fn build_mdns(raw: RawMdns, no_mdns: bool, mdns_port: Option<u16>) -> Result<Option<Mdns>, ConfigError> {
    if no_mdns || raw.enabled == Some(false) {
        return Ok(None);
    }
    let bad = |field, reason: &str| ConfigError::Mdns { field, reason: reason.to_string() };
    if let Some(instance) = &raw.instance
        && (instance.trim().is_empty() || instance.len() > 63)
    {
        // RFC 6763 §4.1.1: an instance name is one DNS label, at most 63 bytes.
        return Err(bad("instance", "must be 1 to 63 bytes"));
    }
    if let Some(id) = &raw.id
        && (id.is_empty()
            || id.len() > 64
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(bad("id", "must be 1 to 64 letters, digits, '-' or '_'"));
    }
    let port = mdns_port.unwrap_or(bourse_proto::discovery::MDNS_PORT);
    if port == 0 {
        return Err(bad("port", "must not be 0"));
    }
    Ok(Some(Mdns { instance: raw.instance, id: raw.id, port }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let raw: RawConfig =
            toml::from_str(include_str!("../../deploy/broker.toml")).expect("deploy/broker.toml parses");
        let config = Config::build(raw, Overrides::default()).expect("and validates");
        assert_eq!(config.listen.port(), 7300);
        assert_eq!(config.settings.max_lease_seconds, 3600);
    }

    #[test]
    fn flags_win_and_errors_name_the_field() {
        let raw: RawConfig = toml::from_str("listen = '127.0.0.1:1'\nin_memory = true").expect("parses");
        let over = Overrides { listen: Some("127.0.0.1:2".into()), ..Overrides::default() };
        assert_eq!(Config::build(raw, over).expect("valid").listen.port(), 2);

        let err = toml::from_str::<RawConfig>("lisen = 'x'").expect_err("unknown key");
        assert!(err.to_string().contains("lisen"), "{err}");
        let raw: RawConfig = toml::from_str("listen = 'nowhere'\nin_memory = true").expect("parses");
        assert!(matches!(Config::build(raw, Overrides::default()), Err(ConfigError::Listen(_))));
        let raw: RawConfig =
            toml::from_str("in_memory = true\n[policies]\ndef_match_card = 10\nmax_match_card = 5")
                .expect("parses");
        let err = Config::build(raw, Overrides::default()).expect_err("def > max");
        assert!(err.to_string().contains("def_match_card"), "{err}");
    }

    #[test]
    fn mdns_is_on_unless_switched_off() {
        let raw: RawConfig = toml::from_str("in_memory = true").expect("parses");
        let config = Config::build(raw, Overrides::default()).expect("valid");
        assert_eq!(config.mdns, Some(Mdns { instance: None, id: None, port: 5353 }));

        let raw: RawConfig = toml::from_str("in_memory = true\n[mdns]\nenabled = false").expect("parses");
        assert_eq!(Config::build(raw, Overrides::default()).expect("valid").mdns, None);
        let raw: RawConfig = toml::from_str("in_memory = true").expect("parses");
        let over = Overrides { no_mdns: true, ..Overrides::default() };
        assert_eq!(Config::build(raw, over).expect("valid").mdns, None);

        let raw: RawConfig = toml::from_str("in_memory = true\n[mdns]\nid = 'a b'").expect("parses");
        let err = Config::build(raw, Overrides::default()).expect_err("bad id");
        assert!(err.to_string().starts_with("mdns.id: "), "{err}");
        let err = toml::from_str::<RawConfig>("[mdns]\nenable = true").expect_err("unknown key");
        assert!(err.to_string().contains("enable"), "{err}");
    }
}
