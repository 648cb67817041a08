//! The offer as the broker sees it: the `MediaServer` properties built from
//! the config, the catalog and the evaluator's address.

use std::net::SocketAddr;
use std::time::Duration;

use bourse_proto as pb;

use crate::catalog::Catalog;
use crate::config::{Config, bracket_host};
use crate::measure::Metric;

/// The service type the agent exports.
pub const SERVICE_TYPE: &str = "MediaServer";

/// Everything but the catalog, fixed for the life of the agent.
#[derive(Debug, Clone)]
pub struct OfferSpec {
    pub reference: String,
    pub owner: String,
    pub lease: Duration,
    /// Static properties from the config.
    pub fixed: Vec<pb::Property>,
    /// Dynamic-property descriptors pointing at the evaluator.
    pub dynamic: Vec<pb::Property>,
}

/// `http://host:port` of the evaluator as the broker should call it: the
/// configured `evaluator.advertise`, else the bound address, with an
/// unspecified IP (0.0.0.0, ::) replaced by the server's host name.
pub fn evaluator_url(config: &Config, bound: SocketAddr) -> String {
    match &config.advertise {
        Some(authority) => format!("http://{authority}"),
        None if bound.ip().is_unspecified() => {
            format!("http://{}:{}", bracket_host(&config.host), bound.port())
        }
        None => format!("http://{bound}"),
    }
}

impl OfferSpec {
    pub fn new(config: &Config, evaluator: &str) -> OfferSpec {
        let mut fixed = vec![
            pb::Property::value("host", pb::Value::string(&config.host)),
            pb::Property::value("video_formats", pb::Value::string_seq(config.video_formats.iter().cloned())),
            pb::Property::value("audio_formats", pb::Value::string_seq(config.audio_formats.iter().cloned())),
            pb::Property::value("protocols", pb::Value::string_seq(config.protocols.iter().cloned())),
            pb::Property::value("max_connections", pb::Value::uint64(config.max_connections)),
        ];
        if let Some(zone) = &config.zone {
            fixed.push(pb::Property::value("zone", pb::Value::string(zone)));
        }
        if let Some(capacity) = config.bandwidth_capacity {
            fixed.push(pb::Property::value("bandwidth_capacity", pb::Value::uint64(capacity)));
        }
        let max_age_ms = u64::try_from(config.max_age.as_millis()).unwrap_or(u64::MAX);
        let dynamic = Metric::ALL
            .into_iter()
            // Without a capacity there is nothing to subtract from.
            .filter(|m| *m != Metric::BandwidthFree || config.bandwidth_capacity.is_some())
            .map(|metric| {
                pb::Property::dynamic(
                    metric.name(),
                    pb::DynamicProp {
                        evaluator: evaluator.to_string(),
                        extra_info: None,
                        max_age_ms,
                        value_type: metric.value_type() as i32,
                    },
                )
            })
            .collect();
        OfferSpec {
            reference: config.reference.clone(),
            owner: config.owner.clone(),
            lease: config.lease,
            fixed,
            dynamic,
        }
    }

    pub fn lease_seconds(&self) -> u64 {
        self.lease.as_secs().max(1)
    }

    /// The Export request for the current catalog.
    pub fn export_request(&self, catalog: &Catalog) -> pb::ExportRequest {
        let mut properties = self.fixed.clone();
        properties.extend(catalog_properties(catalog));
        properties.extend(self.dynamic.iter().cloned());
        pb::ExportRequest {
            r#type: SERVICE_TYPE.to_string(),
            reference: self.reference.clone(),
            properties,
            lease_seconds: self.lease_seconds(),
            owner: self.owner.clone(),
        }
    }
}

/// `titles` and `movies`, the properties that change with the catalog.
pub fn catalog_properties(catalog: &Catalog) -> Vec<pb::Property> {
    vec![
        pb::Property::value("titles", catalog.titles_value()),
        pb::Property::value("movies", catalog.movies_value()),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::config::{Overrides, parse};

    fn config(extra: &str) -> Config {
        let text = format!(
            "[server]\nhost = 'm1'\nzone = 'lab'\nvideo_formats = ['h264']\naudio_formats = ['aac']\n\
             max_connections = 10\n{extra}\n[media]\nport = 8554\ndir = '{}'\n",
            std::env::temp_dir().display()
        );
        Config::build(parse(&text).unwrap(), Overrides::default()).unwrap()
    }

    #[test]
    fn evaluator_address_is_derived_from_the_listener() {
        let c = config("");
        assert_eq!(evaluator_url(&c, "127.0.0.1:7400".parse().unwrap()), "http://127.0.0.1:7400");
        assert_eq!(evaluator_url(&c, "0.0.0.0:7400".parse().unwrap()), "http://m1:7400");
        assert_eq!(evaluator_url(&c, "[::1]:7400".parse().unwrap()), "http://[::1]:7400");
        let mut c = c;
        c.advertise = Some("10.0.0.5:9".into());
        assert_eq!(evaluator_url(&c, "0.0.0.0:7400".parse().unwrap()), "http://10.0.0.5:9");
    }

    #[test]
    fn export_request_has_every_property_once() {
        let spec = OfferSpec::new(&config("bandwidth_capacity = 1000"), "http://127.0.0.1:7400");
        let request = spec.export_request(&Catalog::default());
        let names: Vec<&str> = request.properties.iter().map(|p| p.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for name in [
            "host",
            "zone",
            "titles",
            "movies",
            "bandwidth_capacity",
            "bandwidth_free",
            "load",
            "connections",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert_eq!(request.lease_seconds, 10);
        assert_eq!(request.reference, "rtsp://m1:8554/");

        let spec = OfferSpec::new(&config(""), "http://127.0.0.1:7400");
        let names: Vec<String> =
            spec.export_request(&Catalog::default()).properties.into_iter().map(|p| p.name).collect();
        assert!(!names.iter().any(|n| n == "bandwidth_free" || n == "bandwidth_capacity"));
    }
}
