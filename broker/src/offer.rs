//! Offers: what an exporter advertises, checked against its service type.
//!
//! `check_export` and `apply_modify` are the only ways to build an offer's
//! properties, so every stored offer obeys its type: mandatory properties
//! present, declared value types respected, readonly properties static.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::TraderError;
use crate::names::{PropNames, is_valid_property_name};
use crate::types::{FullType, Mode, TypeId};
use crate::value::{PropId, Value, ValueType};

/// Where to ask for a dynamic property's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicProp {
    /// gRPC endpoint of the evaluator (`http://host:port`).
    pub evaluator: String,
    pub extra_info: Option<Value>,
    /// How long an answer stays fresh, in milliseconds.
    pub max_age_ms: u64,
    /// The type the evaluator returns.
    pub value_type: ValueType,
}

/// A property's content: a value, or a descriptor to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropValue {
    Static(Value),
    Dynamic(DynamicProp),
}

impl PropValue {
    pub fn value_type(&self) -> ValueType {
        match self {
            PropValue::Static(v) => v.value_type(),
            PropValue::Dynamic(d) => d.value_type,
        }
    }
}

/// A property as given by an exporter, before checking.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProp {
    pub name: String,
    pub value: PropValue,
}

/// A property of a stored offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Prop {
    pub id: PropId,
    pub name: Arc<str>,
    pub value: PropValue,
}

/// Lease deadline value meaning "no lease".
pub const PERMANENT: u64 = u64::MAX;

/// A stored offer. Immutable but for its lease deadline: Modify replaces
/// the whole offer, KeepAlive only moves the deadline.
#[derive(Debug)]
pub struct Offer {
    pub id: Arc<str>,
    /// Discovery order: a number increasing with every export.
    pub seq: u64,
    pub type_name: Arc<str>,
    pub type_id: TypeId,
    pub reference: String,
    /// In export order; added properties are appended by Modify.
    pub props: Vec<Prop>,
    pub owner: String,
    /// Lease deadline in milliseconds since the trader's clock epoch, or
    /// [`PERMANENT`]. Written by KeepAlive, read by queries and the sweeper.
    pub lease_deadline_ms: AtomicU64,
    /// Lease length granted last, in seconds (0 for a permanent offer).
    pub lease_seconds: AtomicU64,
    /// Whether any property is dynamic (use_dynamic_properties policy).
    pub has_dynamic: bool,
    /// Whether any property is modifiable, i.e. not readonly
    /// (use_modifiable_properties policy).
    pub has_modifiable: bool,
}

impl Offer {
    pub fn get(&self, id: PropId) -> Option<&Prop> {
        self.props.iter().find(|p| p.id == id)
    }

    pub fn get_by_name(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| &*p.name == name)
    }

    pub fn is_leased(&self) -> bool {
        self.lease_deadline_ms.load(Ordering::Relaxed) != PERMANENT
    }

    /// Whether the offer is still alive at `now_ms` (trader clock).
    pub fn is_live(&self, now_ms: u64) -> bool {
        now_ms < self.lease_deadline_ms.load(Ordering::Relaxed)
    }

    pub fn lease_deadline_ms(&self) -> u64 {
        self.lease_deadline_ms.load(Ordering::Relaxed)
    }

    pub fn lease_seconds(&self) -> u64 {
        self.lease_seconds.load(Ordering::Relaxed)
    }

    /// Moves the lease deadline (KeepAlive).
    pub fn renew(&self, lease_seconds: u64, deadline_ms: u64) {
        self.lease_seconds.store(lease_seconds, Ordering::Relaxed);
        self.lease_deadline_ms.store(deadline_ms, Ordering::Relaxed);
    }

    /// A copy with other properties, keeping identity, order and lease.
    pub fn with_props(&self, props: Vec<Prop>, full: &FullType) -> Offer {
        let (has_dynamic, has_modifiable) = flags(&props, full);
        Offer {
            id: self.id.clone(),
            seq: self.seq,
            type_name: self.type_name.clone(),
            type_id: self.type_id,
            reference: self.reference.clone(),
            props,
            owner: self.owner.clone(),
            lease_deadline_ms: AtomicU64::new(self.lease_deadline_ms()),
            lease_seconds: AtomicU64::new(self.lease_seconds()),
            has_dynamic,
            has_modifiable,
        }
    }

    /// The persistent form of a permanent offer.
    pub fn to_stored(&self) -> StoredOffer {
        StoredOffer {
            id: self.id.to_string(),
            seq: self.seq,
            type_name: self.type_name.to_string(),
            reference: self.reference.clone(),
            props: self.props.iter().map(|p| (p.name.to_string(), p.value.clone())).collect(),
            owner: self.owner.clone(),
        }
    }
}

impl crate::tcl::Properties for Offer {
    fn get(&self, id: PropId) -> Option<&Value> {
        match &self.get(id)?.value {
            PropValue::Static(v) => Some(v),
            PropValue::Dynamic(_) => None,
        }
    }

    fn exists(&self, id: PropId) -> bool {
        self.get(id).is_some()
    }
}

/// How a permanent offer is kept on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOffer {
    pub id: String,
    pub seq: u64,
    pub type_name: String,
    pub reference: String,
    pub props: Vec<(String, PropValue)>,
    pub owner: String,
}

/// Everything needed to create an offer once its id and sequence number
/// are known.
pub struct CheckedExport {
    pub props: Vec<Prop>,
    pub has_dynamic: bool,
    pub has_modifiable: bool,
}

fn flags(props: &[Prop], full: &FullType) -> (bool, bool) {
    let has_dynamic = props.iter().any(|p| matches!(p.value, PropValue::Dynamic(_)));
    let has_modifiable = props.iter().any(|p| full.prop(p.id).is_none_or(|fp| !fp.def.mode.is_readonly()));
    (has_dynamic, has_modifiable)
}

/// Checks one property against the type and returns it interned.
fn check_prop(new: NewProp, full: &FullType, names: &PropNames) -> Result<Prop, TraderError> {
    if !is_valid_property_name(&new.name) {
        return Err(TraderError::IllegalPropertyName(new.name));
    }
    let id = names.intern(&new.name);
    let declared = full.prop(id).map(|p| (p.def.value_type, p.def.mode));
    let value = match new.value {
        PropValue::Static(value) => {
            if let Some((expected, _)) = declared
                && value.value_type() != expected
            {
                return Err(TraderError::PropertyTypeMismatch {
                    property: new.name,
                    expected,
                    found: value.value_type(),
                });
            }
            value
                .validate()
                .map_err(|reason| TraderError::InvalidValue { property: new.name.clone(), reason })?;
            PropValue::Static(value)
        }
        PropValue::Dynamic(mut dynamic) => {
            if let Some((expected, mode)) = declared {
                if mode.is_readonly() {
                    return Err(TraderError::ReadonlyDynamic(new.name));
                }
                if dynamic.value_type != expected {
                    return Err(TraderError::PropertyTypeMismatch {
                        property: new.name,
                        expected,
                        found: dynamic.value_type,
                    });
                }
            }
            check_evaluator(&new.name, &dynamic.evaluator)?;
            if let Some(extra) = &dynamic.extra_info {
                extra.validate().map_err(|reason| TraderError::InvalidDynamic {
                    property: new.name.clone(),
                    reason: format!("extra_info: {reason}"),
                })?;
            }
            dynamic.evaluator = dynamic.evaluator.trim_end_matches('/').to_string();
            PropValue::Dynamic(dynamic)
        }
    };
    Ok(Prop { id, name: names.name(id), value })
}

fn check_evaluator(property: &str, evaluator: &str) -> Result<(), TraderError> {
    let rest = evaluator.strip_prefix("http://").or_else(|| evaluator.strip_prefix("https://"));
    match rest {
        Some(authority) if !authority.is_empty() && !authority.contains(char::is_whitespace) => Ok(()),
        _ => Err(TraderError::InvalidDynamic {
            property: property.to_string(),
            reason: format!("evaluator '{evaluator}' must be an http:// or https:// address"),
        }),
    }
}

/// Checks an export against its fully described type.
pub fn check_export(
    full: &FullType,
    reference: &str,
    props: Vec<NewProp>,
    names: &PropNames,
) -> Result<CheckedExport, TraderError> {
    if reference.trim().is_empty() {
        return Err(TraderError::EmptyReference);
    }
    let mut seen = HashSet::new();
    let mut checked = Vec::with_capacity(props.len());
    for new in props {
        if !seen.insert(new.name.clone()) {
            return Err(TraderError::DuplicateProperty(new.name));
        }
        checked.push(check_prop(new, full, names)?);
    }
    for declared in &full.props {
        if declared.def.mode.is_mandatory() && !checked.iter().any(|p| p.id == declared.id) {
            return Err(TraderError::MissingMandatory(declared.def.name.clone()));
        }
    }
    let (has_dynamic, has_modifiable) = flags(&checked, full);
    Ok(CheckedExport { props: checked, has_dynamic, has_modifiable })
}

/// Applies a Modify to an offer's properties: all or nothing.
pub fn apply_modify(
    offer: &Offer,
    full: &FullType,
    delete: Vec<String>,
    modify: Vec<NewProp>,
    names: &PropNames,
) -> Result<Vec<Prop>, TraderError> {
    let mode_of = |id: PropId| full.prop(id).map_or(Mode::Normal, |p| p.def.mode);
    let mut props = offer.props.clone();

    let mut deleted = HashSet::new();
    for name in delete {
        if !is_valid_property_name(&name) {
            return Err(TraderError::IllegalPropertyName(name));
        }
        if !deleted.insert(name.clone()) {
            return Err(TraderError::DuplicateProperty(name));
        }
        let Some(pos) = props.iter().position(|p| *p.name == *name) else {
            return Err(TraderError::UnknownProperty(name));
        };
        let mode = mode_of(props[pos].id);
        if mode.is_mandatory() {
            return Err(TraderError::MandatoryProperty(name));
        }
        if mode.is_readonly() {
            return Err(TraderError::ReadonlyProperty(name));
        }
        props.remove(pos);
    }

    let mut modified = HashSet::new();
    for new in modify {
        if deleted.contains(&new.name) {
            return Err(TraderError::DeleteAndModify(new.name));
        }
        if !modified.insert(new.name.clone()) {
            return Err(TraderError::DuplicateProperty(new.name));
        }
        let prop = check_prop(new, full, names)?;
        match props.iter_mut().find(|p| p.id == prop.id) {
            Some(existing) => {
                if mode_of(prop.id).is_readonly() {
                    return Err(TraderError::ReadonlyProperty(prop.name.to_string()));
                }
                *existing = prop;
            }
            None => props.push(prop),
        }
    }
    Ok(props)
}

/// A fresh offer id: 96 random bits in hex, so ids of leased offers from
/// before a restart are never handed out again.
pub fn new_offer_id() -> String {
    use rand::Rng;
    let bits: u128 = rand::rng().random::<u128>() >> 32;
    format!("{bits:024x}")
}

/// Whether `id` can be an offer id at all (cheap check before lookups).
pub fn is_plausible_offer_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
