//! `bourse admin ...`: broker policies (show and change), statistics and the
//! list of every offer.

use std::str::FromStr;

use bourse_proto::{
    FollowRule, GetPoliciesRequest, ListOffersRequest, Offer, PolicySettings, SetPoliciesRequest,
    StatsRequest, StatsResponse,
};
use serde_json::{Map, json};

use super::{Context, now_unix_ms};
use crate::cli::AdminCommand;
use crate::error::CliError;
use crate::render::{format_duration, offer_json, offer_list_human};
use crate::table::key_values;

/// Offers asked for per ListOffers page.
const LIST_PAGE_SIZE: u32 = 500;

/// The kind of value a policy setting holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    Uint,
    Bool,
    FollowRule,
    /// A property name.
    Text,
}

/// The value of one policy setting. A follow rule is kept as the enum's
/// number, as in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    Uint(u64),
    Bool(bool),
    FollowRule(i32),
    Text(String),
}

/// One field of `PolicySettings`: its name and how to read and write it.
#[derive(Debug)]
pub struct PolicyField {
    pub name: &'static str,
    pub kind: SettingKind,
    pub get: fn(&PolicySettings) -> Option<SettingValue>,
    pub set: fn(&mut PolicySettings, SettingValue),
}

macro_rules! policy_fields {
    ($($kind:ident $name:ident),* $(,)?) => {
        /// Every field of `PolicySettings`, in message order.
        pub const POLICY_FIELDS: &[PolicyField] = &[$(
            PolicyField {
                name: stringify!($name),
                kind: SettingKind::$kind,
                get: |settings| settings.$name.clone().map(SettingValue::$kind),
                set: |settings, value| {
                    if let SettingValue::$kind(v) = value {
                        settings.$name = Some(v);
                    }
                },
            },
        )*];
    };
}

policy_fields! {
    Uint def_search_card,
    Uint max_search_card,
    Uint def_match_card,
    Uint max_match_card,
    Uint def_return_card,
    Uint max_return_card,
    Uint def_hop_count,
    Uint max_hop_count,
    FollowRule def_follow_rule,
    FollowRule max_follow_rule,
    Bool supports_dynamic_properties,
    Bool supports_modifiable_properties,
    Uint min_lease_seconds,
    Uint max_lease_seconds,
    Uint default_page_size,
    Uint page_ttl_seconds,
    Uint def_dynamic_deadline_ms,
    Uint max_dynamic_deadline_ms,
    Uint def_max_staleness_ms,
    Uint max_concurrent_evaluations,
    Uint default_reservation_seconds,
    Uint max_reservation_seconds,
    Uint reservation_grace_ms,
    Uint pick_choices,
    Text pick_capacity_property,
    Text pick_load_property,
    Text pick_bandwidth_property,
    Uint reservation_bandwidth_bps,
    Uint watch_min_interval_ms,
    Uint watch_max_interval_ms,
    Uint reservation_prompt_ms,
    Uint pick_wait_ms,
}

/// Shown under `bourse admin set --help`.
pub const SETTINGS_HELP: &str = "\
Keys (numbers unless noted):
  def_search_card max_search_card def_match_card max_match_card
  def_return_card max_return_card def_hop_count max_hop_count
  def_follow_rule max_follow_rule            local_only, if_no_local or always
  supports_dynamic_properties
  supports_modifiable_properties             true or false
  min_lease_seconds max_lease_seconds default_page_size page_ttl_seconds
  def_dynamic_deadline_ms max_dynamic_deadline_ms def_max_staleness_ms
  max_concurrent_evaluations
  default_reservation_seconds max_reservation_seconds reservation_grace_ms
  reservation_prompt_ms pick_wait_ms pick_choices reservation_bandwidth_bps
  pick_capacity_property pick_load_property
  pick_bandwidth_property                    a property name
  watch_min_interval_ms watch_max_interval_ms
Settings not given keep their value.";

const FOLLOW_RULES: &[(&str, FollowRule)] = &[
    ("local_only", FollowRule::LocalOnly),
    ("if_no_local", FollowRule::IfNoLocal),
    ("always", FollowRule::Always),
];

fn follow_rule_name(rule: i32) -> String {
    FOLLOW_RULES
        .iter()
        .find(|(_, r)| *r as i32 == rule)
        .map_or_else(|| format!("unknown({rule})"), |(name, _)| (*name).to_string())
}

impl SettingValue {
    fn parse(kind: SettingKind, text: &str) -> Option<SettingValue> {
        let text = text.trim();
        match kind {
            SettingKind::Uint => text.parse().ok().map(SettingValue::Uint),
            SettingKind::Bool => match text {
                "true" | "TRUE" => Some(SettingValue::Bool(true)),
                "false" | "FALSE" => Some(SettingValue::Bool(false)),
                _ => None,
            },
            SettingKind::FollowRule => FOLLOW_RULES
                .iter()
                .find(|(name, _)| *name == text)
                .map(|(_, rule)| SettingValue::FollowRule(*rule as i32)),
            SettingKind::Text => (!text.is_empty()).then(|| SettingValue::Text(text.to_string())),
        }
    }

    fn into_text(self) -> String {
        match self {
            SettingValue::Uint(n) => n.to_string(),
            SettingValue::Bool(b) => b.to_string(),
            SettingValue::FollowRule(rule) => follow_rule_name(rule),
            SettingValue::Text(text) => text,
        }
    }

    fn into_json(self) -> serde_json::Value {
        match self {
            SettingValue::Uint(n) => n.into(),
            SettingValue::Bool(b) => b.into(),
            SettingValue::FollowRule(rule) => follow_rule_name(rule).into(),
            SettingValue::Text(text) => text.into(),
        }
    }
}

fn expected(kind: SettingKind) -> &'static str {
    match kind {
        SettingKind::Uint => "uint64",
        SettingKind::Bool => "true or false",
        SettingKind::FollowRule => "local_only, if_no_local or always",
        SettingKind::Text => "a property name",
    }
}

/// One `KEY=VALUE` argument of `bourse admin set`.
#[derive(Debug, Clone)]
pub struct PolicySetting {
    pub field: &'static PolicyField,
    pub value: SettingValue,
}

impl FromStr for PolicySetting {
    type Err = String;

    fn from_str(arg: &str) -> Result<Self, Self::Err> {
        let (key, text) = arg.split_once('=').ok_or("expected KEY=VALUE")?;
        let key = key.trim();
        let field = POLICY_FIELDS
            .iter()
            .find(|f| f.name == key)
            .ok_or_else(|| format!("unknown setting '{key}' (see bourse admin set --help)"))?;
        let value = SettingValue::parse(field.kind, text)
            .ok_or_else(|| format!("{key}: expected {}", expected(field.kind)))?;
        Ok(PolicySetting { field, value })
    }
}

/// The settings message that changes exactly `settings`.
pub fn settings_request(settings: &[PolicySetting]) -> Result<PolicySettings, CliError> {
    let mut message = PolicySettings::default();
    for (i, setting) in settings.iter().enumerate() {
        if settings[..i].iter().any(|s| s.field.name == setting.field.name) {
            return Err(CliError::Usage(format!("{} is given more than once", setting.field.name)));
        }
        (setting.field.set)(&mut message, setting.value.clone());
    }
    Ok(message)
}

/// Every setting, `-` for one the broker left unset.
pub fn policies_human(settings: &PolicySettings, width: Option<usize>) -> String {
    let pairs: Vec<(&str, String)> = POLICY_FIELDS
        .iter()
        .map(|f| (f.name, (f.get)(settings).map_or_else(|| "-".to_string(), SettingValue::into_text)))
        .collect();
    key_values(&pairs, 0, width)
}

/// Every setting as a JSON object, `null` for an unset one.
pub fn policies_json(settings: &PolicySettings) -> serde_json::Value {
    let object: Map<String, serde_json::Value> = POLICY_FIELDS
        .iter()
        .map(|f| {
            (f.name.to_string(), (f.get)(settings).map_or(serde_json::Value::Null, SettingValue::into_json))
        })
        .collect();
    serde_json::Value::Object(object)
}

/// The fields whose value differs between two settings.
pub fn changed_fields(previous: &PolicySettings, current: &PolicySettings) -> Vec<&'static PolicyField> {
    POLICY_FIELDS.iter().filter(|f| (f.get)(previous) != (f.get)(current)).collect()
}

/// `key: previous → current` for each changed field, or `no change`.
pub fn changes_human(previous: &PolicySettings, current: &PolicySettings) -> String {
    let changed = changed_fields(previous, current);
    if changed.is_empty() {
        return "no change\n".to_string();
    }
    let show = |f: &PolicyField, s: &PolicySettings| {
        (f.get)(s).map_or_else(|| "-".to_string(), SettingValue::into_text)
    };
    let pairs: Vec<(String, String)> = changed
        .iter()
        .map(|f| (format!("{}:", f.name), format!("{} → {}", show(f, previous), show(f, current))))
        .collect();
    key_values(&pairs, 0, None)
}

/// `59s`, or `3h 2m (10920s)` once the short form rounds.
fn uptime(seconds: u64) -> String {
    if seconds < 60 { format!("{seconds}s") } else { format!("{} ({seconds}s)", format_duration(seconds)) }
}

pub fn stats_human(stats: &StatsResponse) -> String {
    let mut pairs: Vec<(String, String)> = vec![
        ("offers".into(), stats.offers.to_string()),
        ("leased_offers".into(), stats.leased_offers.to_string()),
        ("types".into(), stats.types.to_string()),
        ("queries".into(), stats.queries.to_string()),
        ("exports".into(), stats.exports.to_string()),
        ("withdrawals".into(), stats.withdrawals.to_string()),
        ("lease_expiries".into(), stats.lease_expiries.to_string()),
        ("open_pages".into(), stats.open_pages.to_string()),
        ("uptime".into(), uptime(stats.uptime_seconds)),
    ];
    let mut counters: Vec<(&String, &u64)> = stats.counters.iter().collect();
    counters.sort();
    pairs.extend(counters.into_iter().map(|(name, value)| (name.clone(), value.to_string())));
    key_values(&pairs, 0, None)
}

pub fn stats_json(stats: &StatsResponse) -> serde_json::Value {
    json!({
        "offers": stats.offers,
        "leased_offers": stats.leased_offers,
        "types": stats.types,
        "queries": stats.queries,
        "exports": stats.exports,
        "withdrawals": stats.withdrawals,
        "lease_expiries": stats.lease_expiries,
        "open_pages": stats.open_pages,
        "uptime_seconds": stats.uptime_seconds,
        "counters": stats.counters.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
    })
}

pub async fn run(ctx: &mut Context<'_>, command: &AdminCommand) -> Result<(), CliError> {
    match command {
        AdminCommand::Policies => {
            let broker = ctx.connect().await?;
            let settings = broker
                .admin()
                .get_policies(broker.request(GetPoliciesRequest {}))
                .await
                .map_err(|s| broker.error(s))?
                .into_inner();
            ctx.emit(|width| policies_human(&settings, width), || policies_json(&settings))
        }
        AdminCommand::Set { settings } => {
            let request = SetPoliciesRequest { settings: Some(settings_request(settings)?) };
            let broker = ctx.connect().await?;
            let reply = broker
                .admin()
                .set_policies(broker.request(request))
                .await
                .map_err(|s| broker.error(s))?
                .into_inner();
            let previous = reply.previous.unwrap_or_default();
            let current = reply.current.unwrap_or_default();
            ctx.emit(
                |_| changes_human(&previous, &current),
                || {
                    json!({
                        "previous": policies_json(&previous),
                        "current": policies_json(&current),
                        "changed": changed_fields(&previous, &current).iter().map(|f| f.name).collect::<Vec<_>>(),
                    })
                },
            )
        }
        AdminCommand::Stats => {
            let broker = ctx.connect().await?;
            let stats = broker
                .admin()
                .stats(broker.request(StatsRequest {}))
                .await
                .map_err(|s| broker.error(s))?
                .into_inner();
            ctx.emit(|_| stats_human(&stats), || stats_json(&stats))
        }
        AdminCommand::Offers { service_type } => {
            let broker = ctx.connect().await?;
            let mut offers: Vec<Offer> = Vec::new();
            let mut page_token = String::new();
            loop {
                let request = ListOffersRequest {
                    page_size: LIST_PAGE_SIZE,
                    page_token: page_token.clone(),
                    r#type: service_type.clone().unwrap_or_default(),
                };
                let page = broker
                    .admin()
                    .list_offers(broker.request(request))
                    .await
                    .map_err(|s| broker.error(s))?
                    .into_inner();
                offers.extend(page.offers);
                if page.next_page_token.is_empty() || page.next_page_token == page_token {
                    break;
                }
                page_token = page.next_page_token;
            }
            let now = now_unix_ms();
            ctx.emit(
                |width| offer_list_human(&offers, now, width),
                || json!({ "offers": offers.iter().map(offer_json).collect::<Vec<_>>() }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;

    fn setting(arg: &str) -> PolicySetting {
        arg.parse().unwrap_or_else(|e| panic!("{arg}: {e}"))
    }

    #[test]
    fn settings_parse_by_field_kind() {
        assert_eq!(setting("max_return_card=500").value, SettingValue::Uint(500));
        assert_eq!(setting("supports_dynamic_properties=false").value, SettingValue::Bool(false));
        assert_eq!(
            setting("def_follow_rule=if_no_local").value,
            SettingValue::FollowRule(FollowRule::IfNoLocal as i32)
        );
        assert_eq!(
            "max_return_card=-1".parse::<PolicySetting>().unwrap_err(),
            "max_return_card: expected uint64"
        );
        assert_eq!(
            "def_follow_rule=sometimes".parse::<PolicySetting>().unwrap_err(),
            "def_follow_rule: expected local_only, if_no_local or always"
        );
        assert_eq!(
            "supports_modifiable_properties=1".parse::<PolicySetting>().unwrap_err(),
            "supports_modifiable_properties: expected true or false"
        );
        assert_eq!(
            "nope=1".parse::<PolicySetting>().unwrap_err(),
            "unknown setting 'nope' (see bourse admin set --help)"
        );
        assert_eq!("max_return_card".parse::<PolicySetting>().unwrap_err(), "expected KEY=VALUE");
        assert_eq!(setting("pick_load_property= cpu").value, SettingValue::Text("cpu".to_string()));
        assert_eq!(
            "pick_load_property=".parse::<PolicySetting>().unwrap_err(),
            "pick_load_property: expected a property name"
        );
        assert_eq!(setting("reservation_prompt_ms=500").value, SettingValue::Uint(500));
    }

    #[test]
    fn every_field_is_listed_once_and_in_the_help() {
        // Fields 1 to 32 of the message.
        assert_eq!(POLICY_FIELDS.len(), 32);
        for (i, field) in POLICY_FIELDS.iter().enumerate() {
            assert!(POLICY_FIELDS[..i].iter().all(|f| f.name != field.name), "{} twice", field.name);
            assert!(SETTINGS_HELP.contains(field.name), "{} not in help", field.name);
            // Each setter writes the field its getter reads.
            let value = match field.kind {
                SettingKind::Uint => SettingValue::Uint(7),
                SettingKind::Bool => SettingValue::Bool(true),
                SettingKind::FollowRule => SettingValue::FollowRule(FollowRule::Always as i32),
                SettingKind::Text => SettingValue::Text("load".to_string()),
            };
            let mut settings = PolicySettings::default();
            (field.set)(&mut settings, value.clone());
            assert_eq!((field.get)(&settings), Some(value), "{}", field.name);
            assert_eq!(changed_fields(&PolicySettings::default(), &settings).len(), 1);
        }
    }

    #[test]
    fn set_request_has_only_the_given_fields() {
        let request =
            settings_request(&[setting("max_return_card=500"), setting("def_follow_rule=always")]).unwrap();
        assert_eq!(
            request,
            PolicySettings {
                max_return_card: Some(500),
                def_follow_rule: Some(FollowRule::Always as i32),
                ..PolicySettings::default()
            }
        );
        let err =
            settings_request(&[setting("max_return_card=1"), setting("max_return_card=2")]).unwrap_err();
        assert_eq!(err.to_string(), "max_return_card is given more than once");
    }

    #[test]
    fn policies_and_changes_render() {
        let previous = PolicySettings {
            max_return_card: Some(200),
            def_follow_rule: Some(FollowRule::LocalOnly as i32),
            supports_dynamic_properties: Some(true),
            ..PolicySettings::default()
        };
        let current = PolicySettings { max_return_card: Some(500), ..previous.clone() };
        assert_eq!(changes_human(&previous, &current), "max_return_card:  200 → 500\n");
        assert_eq!(changes_human(&previous, &previous), "no change\n");
        let text = policies_human(&previous, None);
        assert!(text.contains("max_return_card                 200\n"), "{text}");
        assert!(text.contains("def_follow_rule                 local_only\n"), "{text}");
        assert!(text.contains("def_search_card                 -\n"), "{text}");
        let json = policies_json(&previous);
        assert_eq!(json["max_return_card"], 200);
        assert_eq!(json["def_follow_rule"], "local_only");
        assert_eq!(json["supports_dynamic_properties"], true);
        assert_eq!(json["def_search_card"], serde_json::Value::Null);
    }

    #[test]
    fn stats_render() {
        let stats = StatsResponse {
            offers: 3,
            uptime_seconds: 10_920,
            counters: [("dynamic.calls".to_string(), 12), ("dynamic.cache_hits".to_string(), 5)].into(),
            ..StatsResponse::default()
        };
        let text = stats_human(&stats);
        assert!(text.starts_with("offers              3\n"), "{text}");
        assert!(text.contains("uptime              3h 2m (10920s)\n"), "{text}");
        assert!(text.ends_with("dynamic.cache_hits  5\ndynamic.calls       12\n"), "{text}");
        let json = stats_json(&stats);
        assert_eq!(json["counters"], json!({"dynamic.cache_hits": 5, "dynamic.calls": 12}));
        assert_eq!(json["uptime_seconds"], 10_920);
    }
}
