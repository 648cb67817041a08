//! Conversions between the wire types of `bourse.v1` and the trader's
//! domain types. Wire types stop here: nothing below the service layer
//! imports prost types. A malformed message becomes a `TraderError` (then
//! INVALID_ARGUMENT) that names the field or property at fault.

use std::sync::Arc;

use bourse_proto as pb;

use crate::error::TraderError;
use crate::offer::{DynamicProp, NewProp, Offer, PERMANENT, PropValue};
use crate::policy::{FollowRule, LimitApplied, Settings};
use crate::query::{DesiredSpec, Matched, QueryResult};
use crate::trader::Clock;
use crate::types::{Mode, PropDef, ServiceType};
use crate::value::{Record, Value, ValueType};

fn invalid(property: &str, reason: impl Into<String>) -> TraderError {
    TraderError::InvalidValue { property: property.to_string(), reason: reason.into() }
}

pub fn value_type_from_pb(raw: i32) -> Option<ValueType> {
    use pb::ValueType as W;
    Some(match W::try_from(raw).ok()? {
        W::Unspecified => return None,
        W::Bool => ValueType::Bool,
        W::Int64 => ValueType::Int,
        W::Uint64 => ValueType::UInt,
        W::Double => ValueType::Double,
        W::String => ValueType::String,
        W::BoolSeq => ValueType::BoolSeq,
        W::Int64Seq => ValueType::IntSeq,
        W::Uint64Seq => ValueType::UIntSeq,
        W::DoubleSeq => ValueType::DoubleSeq,
        W::StringSeq => ValueType::StringSeq,
        W::RecordList => ValueType::Records,
    })
}

pub fn value_type_to_pb(t: ValueType) -> pb::ValueType {
    use pb::ValueType as W;
    match t {
        ValueType::Bool => W::Bool,
        ValueType::Int => W::Int64,
        ValueType::UInt => W::Uint64,
        ValueType::Double => W::Double,
        ValueType::String => W::String,
        ValueType::BoolSeq => W::BoolSeq,
        ValueType::IntSeq => W::Int64Seq,
        ValueType::UIntSeq => W::Uint64Seq,
        ValueType::DoubleSeq => W::DoubleSeq,
        ValueType::StringSeq => W::StringSeq,
        ValueType::Records => W::RecordList,
    }
}

/// A wire value; `property` names the culprit in errors.
pub fn value_from_pb(property: &str, value: pb::Value) -> Result<Value, TraderError> {
    use pb::value::Kind;
    let Some(kind) = value.kind else { return Err(invalid(property, "value is empty")) };
    Ok(match kind {
        Kind::BoolValue(v) => Value::Bool(v),
        Kind::Int64Value(v) => Value::Int(v),
        Kind::Uint64Value(v) => Value::UInt(v),
        Kind::DoubleValue(v) => Value::Double(v),
        Kind::StringValue(v) => Value::String(v),
        Kind::BoolSeq(s) => Value::BoolSeq(s.values),
        Kind::Int64Seq(s) => Value::IntSeq(s.values),
        Kind::Uint64Seq(s) => Value::UIntSeq(s.values),
        Kind::DoubleSeq(s) => Value::DoubleSeq(s.values),
        Kind::StringSeq(s) => Value::StringSeq(s.values),
        Kind::RecordList(list) => Value::Records(
            list.records
                .into_iter()
                .enumerate()
                .map(|(i, record)| {
                    let fields = record
                        .fields
                        .into_iter()
                        .map(|field| {
                            let context = format!("{property}[{i}].{}", field.name);
                            let value =
                                field.value.ok_or_else(|| invalid(&context, "field value is empty"))?;
                            Ok((field.name, value_from_pb(&context, value)?))
                        })
                        .collect::<Result<Vec<_>, TraderError>>()?;
                    Ok(Record { fields })
                })
                .collect::<Result<Vec<_>, TraderError>>()?,
        ),
    })
}

pub fn value_to_pb(value: &Value) -> pb::Value {
    use pb::value::Kind;
    let kind = match value {
        Value::Bool(v) => Kind::BoolValue(*v),
        Value::Int(v) => Kind::Int64Value(*v),
        Value::UInt(v) => Kind::Uint64Value(*v),
        Value::Double(v) => Kind::DoubleValue(*v),
        Value::String(v) => Kind::StringValue(v.clone()),
        Value::BoolSeq(v) => Kind::BoolSeq(pb::BoolSeq { values: v.clone() }),
        Value::IntSeq(v) => Kind::Int64Seq(pb::Int64Seq { values: v.clone() }),
        Value::UIntSeq(v) => Kind::Uint64Seq(pb::UInt64Seq { values: v.clone() }),
        Value::DoubleSeq(v) => Kind::DoubleSeq(pb::DoubleSeq { values: v.clone() }),
        Value::StringSeq(v) => Kind::StringSeq(pb::StringSeq { values: v.clone() }),
        Value::Records(records) => Kind::RecordList(pb::RecordList {
            records: records
                .iter()
                .map(|r| pb::Record {
                    fields: r
                        .fields
                        .iter()
                        .map(|(name, value)| pb::Field {
                            name: name.clone(),
                            value: Some(value_to_pb(value)),
                        })
                        .collect(),
                })
                .collect(),
        }),
    };
    pb::Value { kind: Some(kind) }
}

pub fn prop_from_pb(prop: pb::Property) -> Result<NewProp, TraderError> {
    use pb::property::Content;
    let value = match prop.content {
        None => return Err(invalid(&prop.name, "neither a value nor a dynamic descriptor")),
        Some(Content::Value(value)) => PropValue::Static(value_from_pb(&prop.name, value)?),
        Some(Content::Dynamic(d)) => {
            let value_type = value_type_from_pb(d.value_type).ok_or_else(|| TraderError::InvalidDynamic {
                property: prop.name.clone(),
                reason: "value_type must be set".into(),
            })?;
            let extra_info = d.extra_info.map(|v| value_from_pb(&prop.name, v)).transpose()?;
            PropValue::Dynamic(DynamicProp {
                evaluator: d.evaluator,
                extra_info,
                max_age_ms: d.max_age_ms,
                value_type,
            })
        }
    };
    Ok(NewProp { name: prop.name, value })
}

fn prop_value_to_pb(name: &str, value: &PropValue) -> pb::Property {
    match value {
        PropValue::Static(v) => pb::Property::value(name, value_to_pb(v)),
        PropValue::Dynamic(d) => pb::Property::dynamic(
            name,
            pb::DynamicProp {
                evaluator: d.evaluator.clone(),
                extra_info: d.extra_info.as_ref().map(value_to_pb),
                max_age_ms: d.max_age_ms,
                value_type: value_type_to_pb(d.value_type) as i32,
            },
        ),
    }
}

pub fn offer_to_pb(offer: &Offer, clock: &Clock) -> pb::Offer {
    let deadline = offer.lease_deadline_ms();
    pb::Offer {
        id: offer.id.to_string(),
        r#type: offer.type_name.to_string(),
        reference: offer.reference.clone(),
        properties: offer.props.iter().map(|p| prop_value_to_pb(&p.name, &p.value)).collect(),
        owner: offer.owner.clone(),
        lease_expires_unix_ms: if deadline == PERMANENT { 0 } else { clock.unix_ms(deadline) },
    }
}

fn mode_from_pb(raw: i32, type_name: &str, property: &str) -> Result<Mode, TraderError> {
    use pb::PropertyMode as W;
    Ok(match W::try_from(raw) {
        Ok(W::Unspecified | W::Normal) => Mode::Normal,
        Ok(W::Readonly) => Mode::Readonly,
        Ok(W::Mandatory) => Mode::Mandatory,
        Ok(W::MandatoryReadonly) => Mode::MandatoryReadonly,
        Err(_) => {
            return Err(TraderError::InvalidValue {
                property: format!("{type_name}.{property}"),
                reason: format!("unknown property mode {raw}"),
            });
        }
    })
}

fn mode_to_pb(mode: Mode) -> pb::PropertyMode {
    match mode {
        Mode::Normal => pb::PropertyMode::Normal,
        Mode::Readonly => pb::PropertyMode::Readonly,
        Mode::Mandatory => pb::PropertyMode::Mandatory,
        Mode::MandatoryReadonly => pb::PropertyMode::MandatoryReadonly,
    }
}

pub fn service_type_from_pb(t: pb::ServiceType) -> Result<ServiceType, TraderError> {
    let props = t
        .properties
        .into_iter()
        .map(|p| {
            let value_type = value_type_from_pb(p.value_type).ok_or_else(|| {
                TraderError::MissingValueType { type_name: t.name.clone(), property: p.name.clone() }
            })?;
            let mode = mode_from_pb(p.mode, &t.name, &p.name)?;
            Ok(PropDef { name: p.name, value_type, mode, doc: p.doc })
        })
        .collect::<Result<Vec<_>, TraderError>>()?;
    Ok(ServiceType {
        name: t.name,
        interface: t.interface,
        super_types: t.super_types,
        props,
        masked: false,
        incarnation: 0,
        doc: t.doc,
    })
}

pub fn service_type_to_pb(t: &ServiceType) -> pb::ServiceType {
    pb::ServiceType {
        name: t.name.clone(),
        interface: t.interface.clone(),
        super_types: t.super_types.clone(),
        properties: t
            .props
            .iter()
            .map(|p| pb::PropertyDef {
                name: p.name.clone(),
                value_type: value_type_to_pb(p.value_type) as i32,
                mode: mode_to_pb(p.mode) as i32,
                doc: p.doc.clone(),
            })
            .collect(),
        masked: t.masked,
        incarnation: t.incarnation,
        doc: t.doc.clone(),
    }
}

pub fn policies_from_pb(policies: Vec<pb::Policy>) -> Result<Vec<(String, Value)>, TraderError> {
    policies
        .into_iter()
        .map(|p| {
            let value = p.value.ok_or_else(|| TraderError::InvalidPolicyValue {
                name: p.name.clone(),
                reason: "value is empty".into(),
            })?;
            let value = value_from_pb(&p.name, value).map_err(|e| TraderError::InvalidPolicyValue {
                name: p.name.clone(),
                reason: e.to_string(),
            })?;
            Ok((p.name, value))
        })
        .collect()
}

pub fn desired_from_pb(desired: Option<pb::DesiredProps>) -> Result<DesiredSpec, TraderError> {
    let Some(desired) = desired else { return Ok(DesiredSpec::All) };
    match pb::PropsMode::try_from(desired.mode) {
        Ok(pb::PropsMode::All) => Ok(DesiredSpec::All),
        Ok(pb::PropsMode::None) => Ok(DesiredSpec::None),
        Ok(pb::PropsMode::Named) => Ok(DesiredSpec::Named(desired.names)),
        Err(_) => Err(invalid("desired.mode", format!("unknown mode {}", desired.mode))),
    }
}

pub fn limit_to_pb(limit: &LimitApplied) -> pb::LimitApplied {
    pb::LimitApplied {
        policy: limit.policy.to_string(),
        value: Some(value_to_pb(&limit.value)),
        reason: limit.reason.clone(),
    }
}

pub fn matched_to_pb(m: &Matched) -> pb::MatchedOffer {
    pb::MatchedOffer {
        id: m.offer.id.to_string(),
        r#type: m.offer.type_name.to_string(),
        reference: m.offer.reference.clone(),
        properties: m
            .props
            .iter()
            .map(|(name, value): &(Arc<str>, Value)| pb::PropertyValue {
                name: name.to_string(),
                value: Some(value_to_pb(value)),
            })
            .collect(),
    }
}

pub fn query_result_to_pb(result: &QueryResult) -> pb::QueryResponse {
    pb::QueryResponse {
        offers: result.offers.iter().map(matched_to_pb).collect(),
        next_page_token: result.next_page_token.clone().unwrap_or_default(),
        remaining: result.remaining,
        limits_applied: result.limits.iter().map(limit_to_pb).collect(),
        searched: result.searched,
        matched: result.matched,
    }
}

fn follow_from_pb(field: &str, raw: i32) -> Result<FollowRule, TraderError> {
    match pb::FollowRule::try_from(raw) {
        Ok(pb::FollowRule::LocalOnly) => Ok(FollowRule::LocalOnly),
        Ok(pb::FollowRule::IfNoLocal) => Ok(FollowRule::IfNoLocal),
        Ok(pb::FollowRule::Always) => Ok(FollowRule::Always),
        _ => Err(TraderError::InvalidSettings(format!("{field}: unknown follow rule {raw}"))),
    }
}

fn follow_to_pb(rule: FollowRule) -> i32 {
    (match rule {
        FollowRule::LocalOnly => pb::FollowRule::LocalOnly,
        FollowRule::IfNoLocal => pb::FollowRule::IfNoLocal,
        FollowRule::Always => pb::FollowRule::Always,
    }) as i32
}

pub fn settings_to_pb(s: &Settings) -> pb::PolicySettings {
    pb::PolicySettings {
        def_search_card: Some(s.def_search_card),
        max_search_card: Some(s.max_search_card),
        def_match_card: Some(s.def_match_card),
        max_match_card: Some(s.max_match_card),
        def_return_card: Some(s.def_return_card),
        max_return_card: Some(s.max_return_card),
        def_hop_count: Some(s.def_hop_count),
        max_hop_count: Some(s.max_hop_count),
        def_follow_rule: Some(follow_to_pb(s.def_follow_rule)),
        max_follow_rule: Some(follow_to_pb(s.max_follow_rule)),
        supports_dynamic_properties: Some(s.supports_dynamic_properties),
        supports_modifiable_properties: Some(s.supports_modifiable_properties),
        min_lease_seconds: Some(s.min_lease_seconds),
        max_lease_seconds: Some(s.max_lease_seconds),
        default_page_size: Some(s.default_page_size),
        page_ttl_seconds: Some(s.page_ttl_seconds),
        def_dynamic_deadline_ms: Some(s.def_dynamic_deadline_ms),
        max_dynamic_deadline_ms: Some(s.max_dynamic_deadline_ms),
        def_max_staleness_ms: Some(s.def_max_staleness_ms),
        max_concurrent_evaluations: Some(s.max_concurrent_evaluations),
        default_reservation_seconds: Some(s.default_reservation_seconds),
        max_reservation_seconds: Some(s.max_reservation_seconds),
        reservation_grace_ms: Some(s.reservation_grace_ms),
        reservation_prompt_ms: Some(s.reservation_prompt_ms),
        pick_wait_ms: Some(s.pick_wait_ms),
        pick_choices: Some(s.pick_choices),
        pick_capacity_property: Some(s.pick_capacity_property.clone()),
        pick_load_property: Some(s.pick_load_property.clone()),
        pick_bandwidth_property: Some(s.pick_bandwidth_property.clone()),
        reservation_bandwidth_bps: Some(s.reservation_bandwidth_bps),
        watch_min_interval_ms: Some(s.watch_min_interval_ms),
        watch_max_interval_ms: Some(s.watch_max_interval_ms),
    }
}

/// Applies the fields set in `patch` to `base`.
pub fn settings_patch(mut base: Settings, patch: pb::PolicySettings) -> Result<Settings, TraderError> {
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = patch.$field { base.$field = v; } )* };
    }
    set!(
        def_search_card,
        max_search_card,
        def_match_card,
        max_match_card,
        def_return_card,
        max_return_card,
        def_hop_count,
        max_hop_count,
        supports_dynamic_properties,
        supports_modifiable_properties,
        min_lease_seconds,
        max_lease_seconds,
        default_page_size,
        page_ttl_seconds,
        def_dynamic_deadline_ms,
        max_dynamic_deadline_ms,
        def_max_staleness_ms,
        max_concurrent_evaluations,
        default_reservation_seconds,
        max_reservation_seconds,
        reservation_grace_ms,
        reservation_prompt_ms,
        pick_wait_ms,
        pick_choices,
        pick_capacity_property,
        pick_load_property,
        pick_bandwidth_property,
        reservation_bandwidth_bps,
        watch_min_interval_ms,
        watch_max_interval_ms
    );
    if let Some(v) = patch.def_follow_rule {
        base.def_follow_rule = follow_from_pb("def_follow_rule", v)?;
    }
    if let Some(v) = patch.max_follow_rule {
        base.max_follow_rule = follow_from_pb("max_follow_rule", v)?;
    }
    Ok(base)
}
