//! Import policies: the broker's defaults and maxima (admin settings) and
//! how an importer's policies are checked and clamped against them.

use serde::{Deserialize, Serialize};

use crate::error::TraderError;
use crate::value::Value;

/// Which links to other traders a query follows (federation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowRule {
    LocalOnly,
    IfNoLocal,
    Always,
}

impl FollowRule {
    pub fn name(self) -> &'static str {
        match self {
            FollowRule::LocalOnly => "local_only",
            FollowRule::IfNoLocal => "if_no_local",
            FollowRule::Always => "always",
        }
    }

    pub fn from_name(name: &str) -> Option<FollowRule> {
        [FollowRule::LocalOnly, FollowRule::IfNoLocal, FollowRule::Always]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// Broker-wide limits. Loaded from the `[policies]` table of the config
/// file and changed at run time through `Admin.SetPolicies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Offers considered per query (type conformance and constraint).
    pub def_search_card: u64,
    pub max_search_card: u64,
    /// Matching offers ordered by the preference.
    pub def_match_card: u64,
    pub max_match_card: u64,
    /// Offers returned, in the reply and through pages together.
    pub def_return_card: u64,
    pub max_return_card: u64,
    pub def_hop_count: u64,
    pub max_hop_count: u64,
    pub def_follow_rule: FollowRule,
    pub max_follow_rule: FollowRule,
    /// When false, offers with dynamic properties are never considered.
    pub supports_dynamic_properties: bool,
    /// When false, offers with modifiable properties are never considered.
    pub supports_modifiable_properties: bool,
    /// Bounds on the lease an exporter may ask for, in seconds.
    pub min_lease_seconds: u64,
    pub max_lease_seconds: u64,
    /// Offers per reply when the importer leaves `how_many` at 0.
    pub default_page_size: u64,
    /// Seconds a page token lives after its last use.
    pub page_ttl_seconds: u64,
    /// Time a query may spend evaluating dynamic properties, in ms.
    pub def_dynamic_deadline_ms: u64,
    pub max_dynamic_deadline_ms: u64,
    /// Oldest cached dynamic value a query accepts by default, in ms.
    pub def_max_staleness_ms: u64,
    /// Callbacks to evaluators in flight at once, across all queries.
    pub max_concurrent_evaluations: u64,
    /// How long a Pick reservation holds when the client does not say, in seconds.
    pub default_reservation_seconds: u64,
    /// Longest reservation a client may ask for, in seconds.
    pub max_reservation_seconds: u64,
    /// Time a picked client needs to connect; a server's figure sampled later than this after a reservation is taken to include it, and the reservation stops counting, in ms.
    pub reservation_grace_ms: u64,
    /// Time most picked clients need to connect, in ms (more counts as the grace). When no server has room counting reservations for the whole grace, Pick counts them for this long only before it refuses a client; equal to the grace, it never does.
    pub reservation_prompt_ms: u64,
    /// When no server has room, how long Pick may wait for newer figures from the servers before it refuses a client, in ms (0: it refuses at once).
    pub pick_wait_ms: u64,
    /// Candidates drawn at random per Pick, of which the best is chosen (power of d choices).
    pub pick_choices: u64,
    /// Property giving a server's capacity in streams.
    pub pick_capacity_property: String,
    /// Property giving the streams a server serves now.
    pub pick_load_property: String,
    /// Property giving a server's free outbound bandwidth in bits per second (counted when present).
    pub pick_bandwidth_property: String,
    /// Bandwidth one reservation takes from that figure, in bits per second (0: bandwidth is not counted).
    pub reservation_bandwidth_bps: u64,
    /// Shortest interval between Watch updates, in ms.
    pub watch_min_interval_ms: u64,
    /// Longest interval between Watch updates, in ms.
    pub watch_max_interval_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            // A modern broker holds 10^5 offers comfortably; the OMG-era
            // defaults of a few hundred would silently hide offers.
            def_search_card: 1_000_000,
            max_search_card: 1_000_000,
            def_match_card: 100_000,
            max_match_card: 1_000_000,
            def_return_card: 10_000,
            max_return_card: 100_000,
            def_hop_count: 5,
            max_hop_count: 10,
            def_follow_rule: FollowRule::IfNoLocal,
            max_follow_rule: FollowRule::Always,
            supports_dynamic_properties: true,
            supports_modifiable_properties: true,
            min_lease_seconds: 1,
            max_lease_seconds: 3600,
            default_page_size: 100,
            page_ttl_seconds: 300,
            def_dynamic_deadline_ms: 500,
            max_dynamic_deadline_ms: 10_000,
            def_max_staleness_ms: 1_000,
            max_concurrent_evaluations: 64,
            default_reservation_seconds: 10,
            max_reservation_seconds: 300,
            reservation_grace_ms: 2000,
            reservation_prompt_ms: 250,
            pick_wait_ms: 1000,
            pick_choices: 2,
            pick_capacity_property: "max_connections".into(),
            pick_load_property: "connections".into(),
            pick_bandwidth_property: "bandwidth_free".into(),
            reservation_bandwidth_bps: 4_000_000,
            watch_min_interval_ms: 100,
            watch_max_interval_ms: 60_000,
        }
    }
}

impl Settings {
    /// Checks that every default is within its maximum and bounds make sense.
    pub fn validate(&self) -> Result<(), TraderError> {
        let pairs = [
            ("def_search_card", self.def_search_card, "max_search_card", self.max_search_card),
            ("def_match_card", self.def_match_card, "max_match_card", self.max_match_card),
            ("def_return_card", self.def_return_card, "max_return_card", self.max_return_card),
            ("def_hop_count", self.def_hop_count, "max_hop_count", self.max_hop_count),
            ("min_lease_seconds", self.min_lease_seconds, "max_lease_seconds", self.max_lease_seconds),
            (
                "default_reservation_seconds",
                self.default_reservation_seconds,
                "max_reservation_seconds",
                self.max_reservation_seconds,
            ),
            (
                "watch_min_interval_ms",
                self.watch_min_interval_ms,
                "watch_max_interval_ms",
                self.watch_max_interval_ms,
            ),
            (
                "def_dynamic_deadline_ms",
                self.def_dynamic_deadline_ms,
                "max_dynamic_deadline_ms",
                self.max_dynamic_deadline_ms,
            ),
        ];
        for (low_name, low, high_name, high) in pairs {
            if low > high {
                return Err(TraderError::InvalidSettings(format!(
                    "{low_name} ({low}) exceeds {high_name} ({high})"
                )));
            }
        }
        if self.def_follow_rule > self.max_follow_rule {
            return Err(TraderError::InvalidSettings(format!(
                "def_follow_rule ({}) is more permissive than max_follow_rule ({})",
                self.def_follow_rule.name(),
                self.max_follow_rule.name()
            )));
        }
        for (name, value) in [
            ("min_lease_seconds", self.min_lease_seconds),
            ("default_page_size", self.default_page_size),
            ("page_ttl_seconds", self.page_ttl_seconds),
            ("max_return_card", self.max_return_card),
            ("max_concurrent_evaluations", self.max_concurrent_evaluations),
            ("max_reservation_seconds", self.max_reservation_seconds),
            ("pick_choices", self.pick_choices),
            ("watch_min_interval_ms", self.watch_min_interval_ms),
        ] {
            if value == 0 {
                return Err(TraderError::InvalidSettings(format!("{name} must be at least 1")));
            }
        }
        for (name, value) in [
            ("pick_capacity_property", &self.pick_capacity_property),
            ("pick_load_property", &self.pick_load_property),
            ("pick_bandwidth_property", &self.pick_bandwidth_property),
        ] {
            if !crate::names::is_valid_property_name(value) {
                return Err(TraderError::InvalidSettings(format!(
                    "{name}: '{value}' is not a property name"
                )));
            }
        }
        Ok(())
    }

    /// The lease to grant for a requested length (0 = permanent offer).
    pub fn clamp_lease(&self, requested: u64) -> u64 {
        if requested == 0 { 0 } else { requested.clamp(self.min_lease_seconds, self.max_lease_seconds) }
    }
}

/// A limit the broker applied to a query, reported back to the importer.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitApplied {
    pub policy: &'static str,
    pub value: Value,
    pub reason: String,
}

/// The policies in force for one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub search_card: u64,
    pub match_card: u64,
    pub return_card: u64,
    pub exact_type_match: bool,
    pub use_dynamic_properties: bool,
    pub use_modifiable_properties: bool,
    pub hop_count: u64,
    pub link_follow_rule: FollowRule,
    pub dynamic_deadline_ms: u64,
    pub max_staleness_ms: u64,
}

pub const POLICY_NAMES: &[&str] = &[
    "search_card",
    "match_card",
    "return_card",
    "exact_type_match",
    "use_dynamic_properties",
    "use_modifiable_properties",
    "hop_count",
    "link_follow_rule",
    "dynamic_deadline_ms",
    "max_staleness_ms",
];

fn describe(value: &Value) -> String {
    format!("{} {value}", value.value_type())
}

fn as_count(name: &str, value: &Value) -> Result<u64, TraderError> {
    match value {
        Value::UInt(v) => Ok(*v),
        Value::Int(v) => u64::try_from(*v).map_err(|_| TraderError::InvalidPolicyValue {
            name: name.to_string(),
            reason: format!("must not be negative, got {v}"),
        }),
        other => Err(TraderError::PolicyTypeMismatch {
            name: name.to_string(),
            expected: "an unsigned integer",
            found: describe(other),
        }),
    }
}

fn as_bool(name: &str, value: &Value) -> Result<bool, TraderError> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => Err(TraderError::PolicyTypeMismatch {
            name: name.to_string(),
            expected: "a bool",
            found: describe(other),
        }),
    }
}

/// Checks an importer's policies and clamps them to the broker's maxima.
/// Returns the policies in force and the limits that clamping applied.
pub fn resolve(
    policies: &[(String, Value)],
    settings: &Settings,
) -> Result<(Effective, Vec<LimitApplied>), TraderError> {
    let mut effective = Effective {
        search_card: settings.def_search_card,
        match_card: settings.def_match_card,
        return_card: settings.def_return_card,
        exact_type_match: false,
        use_dynamic_properties: settings.supports_dynamic_properties,
        use_modifiable_properties: settings.supports_modifiable_properties,
        hop_count: settings.def_hop_count,
        link_follow_rule: settings.def_follow_rule,
        dynamic_deadline_ms: settings.def_dynamic_deadline_ms,
        max_staleness_ms: settings.def_max_staleness_ms,
    };
    let mut limits = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let cap = |policy: &'static str, asked: u64, max: u64, limits: &mut Vec<LimitApplied>| {
        if asked > max {
            limits.push(LimitApplied {
                policy,
                value: Value::UInt(max),
                reason: format!("asked for {asked}, the broker's maximum is {max}"),
            });
            max
        } else {
            asked
        }
    };
    for (name, value) in policies {
        let Some(&known) = POLICY_NAMES.iter().find(|n| **n == name.as_str()) else {
            return Err(TraderError::UnknownPolicy(name.clone()));
        };
        if seen.contains(&known) {
            return Err(TraderError::DuplicatePolicy(name.clone()));
        }
        seen.push(known);
        match known {
            "search_card" => {
                effective.search_card =
                    cap(known, as_count(name, value)?, settings.max_search_card, &mut limits);
            }
            "match_card" => {
                effective.match_card =
                    cap(known, as_count(name, value)?, settings.max_match_card, &mut limits);
            }
            "return_card" => {
                effective.return_card =
                    cap(known, as_count(name, value)?, settings.max_return_card, &mut limits);
            }
            "hop_count" => {
                effective.hop_count = cap(known, as_count(name, value)?, settings.max_hop_count, &mut limits);
            }
            "dynamic_deadline_ms" => {
                effective.dynamic_deadline_ms =
                    cap(known, as_count(name, value)?, settings.max_dynamic_deadline_ms, &mut limits);
            }
            "max_staleness_ms" => effective.max_staleness_ms = as_count(name, value)?,
            "exact_type_match" => effective.exact_type_match = as_bool(name, value)?,
            "use_dynamic_properties" => {
                let asked = as_bool(name, value)?;
                if asked && !settings.supports_dynamic_properties {
                    limits.push(LimitApplied {
                        policy: known,
                        value: Value::Bool(false),
                        reason: "the broker does not consider offers with dynamic properties".into(),
                    });
                }
                effective.use_dynamic_properties = asked && settings.supports_dynamic_properties;
            }
            "use_modifiable_properties" => {
                let asked = as_bool(name, value)?;
                if asked && !settings.supports_modifiable_properties {
                    limits.push(LimitApplied {
                        policy: known,
                        value: Value::Bool(false),
                        reason: "the broker does not consider offers with modifiable properties".into(),
                    });
                }
                effective.use_modifiable_properties = asked && settings.supports_modifiable_properties;
            }
            "link_follow_rule" => {
                let Value::String(rule) = value else {
                    return Err(TraderError::PolicyTypeMismatch {
                        name: name.clone(),
                        expected: "a string (local_only, if_no_local or always)",
                        found: describe(value),
                    });
                };
                let rule = FollowRule::from_name(rule).ok_or_else(|| TraderError::InvalidPolicyValue {
                    name: name.clone(),
                    reason: format!("'{rule}' is not one of local_only, if_no_local, always"),
                })?;
                if rule > settings.max_follow_rule {
                    limits.push(LimitApplied {
                        policy: known,
                        value: Value::String(settings.max_follow_rule.name().into()),
                        reason: format!(
                            "asked for {}, the broker allows at most {}",
                            rule.name(),
                            settings.max_follow_rule.name()
                        ),
                    });
                }
                effective.link_follow_rule = rule.min(settings.max_follow_rule);
            }
            _ => unreachable!("every name in POLICY_NAMES is handled"),
        }
    }
    Ok((effective, limits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: Value) -> (String, Value) {
        (name.to_string(), value)
    }

    #[test]
    fn defaults_apply_and_maxima_clamp() {
        let settings = Settings { max_match_card: 50, ..Settings::default() };
        let (eff, limits) =
            resolve(&[p("match_card", Value::UInt(80)), p("search_card", Value::Int(7))], &settings)
                .expect("valid policies");
        assert_eq!(eff.match_card, 50);
        assert_eq!(eff.search_card, 7);
        assert_eq!(eff.return_card, settings.def_return_card);
        assert_eq!(limits.len(), 1);
        assert_eq!(limits[0].policy, "match_card");
        assert_eq!(limits[0].value, Value::UInt(50));
    }

    #[test]
    fn bad_policies_are_rejected_by_name() {
        let s = Settings::default();
        assert!(
            matches!(resolve(&[p("speed", Value::Bool(true))], &s), Err(TraderError::UnknownPolicy(n)) if n == "speed")
        );
        assert!(matches!(
            resolve(&[p("match_card", Value::UInt(1)), p("match_card", Value::UInt(2))], &s),
            Err(TraderError::DuplicatePolicy(n)) if n == "match_card"
        ));
        assert!(matches!(
            resolve(&[p("match_card", Value::String("ten".into()))], &s),
            Err(TraderError::PolicyTypeMismatch { name, .. }) if name == "match_card"
        ));
        assert!(matches!(
            resolve(&[p("match_card", Value::Int(-1))], &s),
            Err(TraderError::InvalidPolicyValue { name, .. }) if name == "match_card"
        ));
        assert!(matches!(
            resolve(&[p("exact_type_match", Value::UInt(1))], &s),
            Err(TraderError::PolicyTypeMismatch { name, .. }) if name == "exact_type_match"
        ));
        assert!(matches!(
            resolve(&[p("link_follow_rule", Value::String("sometimes".into()))], &s),
            Err(TraderError::InvalidPolicyValue { name, .. }) if name == "link_follow_rule"
        ));
    }

    #[test]
    fn broker_switches_override_importers() {
        let s = Settings {
            supports_dynamic_properties: false,
            max_follow_rule: FollowRule::IfNoLocal,
            ..Settings::default()
        };
        let (eff, limits) = resolve(
            &[
                p("use_dynamic_properties", Value::Bool(true)),
                p("link_follow_rule", Value::String("always".into())),
            ],
            &s,
        )
        .expect("valid");
        assert!(!eff.use_dynamic_properties);
        assert_eq!(eff.link_follow_rule, FollowRule::IfNoLocal);
        assert_eq!(
            limits.iter().map(|l| l.policy).collect::<Vec<_>>(),
            ["use_dynamic_properties", "link_follow_rule"]
        );
    }

    #[test]
    fn settings_validation() {
        Settings::default().validate().expect("defaults are valid");
        let bad = Settings { def_match_card: 10, max_match_card: 5, ..Settings::default() };
        assert!(
            bad.validate()
                .expect_err("def > max")
                .to_string()
                .contains("def_match_card (10) exceeds max_match_card (5)")
        );
        let bad = Settings { default_page_size: 0, ..Settings::default() };
        assert!(bad.validate().is_err());
        assert_eq!(Settings::default().clamp_lease(0), 0);
        assert_eq!(Settings::default().clamp_lease(100_000), 3600);
    }
}
