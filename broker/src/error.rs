//! The errors of trader operations, typed so callers can match on them and
//! each naming its culprit. The gRPC layer maps them to statuses in one
//! place (`service::status`).

use crate::value::ValueType;

/// Which text an expression error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprField {
    Constraint,
    Preference,
}

impl ExprField {
    pub fn name(self) -> &'static str {
        match self {
            ExprField::Constraint => "constraint",
            ExprField::Preference => "preference",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TraderError {
    // ---- service types
    #[error("illegal service type name '{0}': use letters, digits and '_', scoped with '::'")]
    IllegalTypeName(String),
    #[error("unknown service type '{0}'")]
    UnknownType(String),
    #[error("service type '{0}' already exists")]
    TypeExists(String),
    #[error("service type '{name}' has subtypes ({subtypes}); remove them first")]
    HasSubtypes { name: String, subtypes: String },
    #[error("service type '{name}' still has {count} offer(s); withdraw them first")]
    HasOffers { name: String, count: usize },
    #[error("service type '{0}' is already masked")]
    AlreadyMasked(String),
    #[error("service type '{0}' is not masked")]
    NotMasked(String),
    #[error("service type '{0}' is masked: it accepts no new offers")]
    MaskedType(String),
    #[error(
        "service type '{type_name}': property '{property}' is declared {declared} by '{super_type}' and cannot be redeclared as {redeclared}"
    )]
    ValueTypeRedefinition {
        type_name: String,
        property: String,
        super_type: String,
        declared: String,
        redeclared: String,
    },
    #[error("service type '{type_name}': property '{property}' must have a value type")]
    MissingValueType { type_name: String, property: String },
    #[error("service type '{type_name}' names supertype '{super_type}' twice")]
    DuplicateSuperType { type_name: String, super_type: String },

    // ---- properties of offers
    #[error("illegal property name '{0}': use a letter or '_' then letters, digits or '_' (and no keyword)")]
    IllegalPropertyName(String),
    #[error("property '{0}' is given twice")]
    DuplicateProperty(String),
    #[error("mandatory property '{0}' is missing")]
    MissingMandatory(String),
    #[error("property '{property}': expected a value of type {expected}, got {found}")]
    PropertyTypeMismatch { property: String, expected: ValueType, found: ValueType },
    #[error("property '{property}': {reason}")]
    InvalidValue { property: String, reason: String },
    #[error("property '{0}' is readonly and cannot be dynamic")]
    ReadonlyDynamic(String),
    #[error("property '{0}' is readonly and already set")]
    ReadonlyProperty(String),
    #[error("property '{0}' is mandatory and cannot be deleted")]
    MandatoryProperty(String),
    #[error("property '{0}' is not present on the offer")]
    UnknownProperty(String),
    #[error("property '{0}' must be both deleted and modified; choose one")]
    DeleteAndModify(String),
    #[error("dynamic property '{property}': {reason}")]
    InvalidDynamic { property: String, reason: String },

    // ---- offers
    #[error("offer reference must not be empty")]
    EmptyReference,
    #[error("illegal offer id '{0}'")]
    IllegalOfferId(String),
    #[error("unknown offer '{0}'")]
    UnknownOffer(String),
    #[error("offer '{0}' is permanent: it has no lease to renew")]
    NotLeased(String),
    #[error("no matching offers")]
    NoMatchingOffers,
    #[error(
        "no offer of '{type_name}' has room for one more stream ({matched} matched, all full or without live figures)"
    )]
    NoRoom { type_name: String, matched: usize },
    #[error("unknown or lapsed reservation '{0}'")]
    UnknownReservation(String),

    // ---- queries
    #[error("{}: {source}", field.name())]
    Expression { field: ExprField, text: String, source: crate::tcl::TclError },
    #[error(
        "unknown policy '{0}' (known: search_card, match_card, return_card, exact_type_match, use_dynamic_properties, use_modifiable_properties, hop_count, link_follow_rule, dynamic_deadline_ms, max_staleness_ms)"
    )]
    UnknownPolicy(String),
    #[error("policy '{0}' is given twice")]
    DuplicatePolicy(String),
    #[error("policy '{name}': expected {expected}, got {found}")]
    PolicyTypeMismatch { name: String, expected: &'static str, found: String },
    #[error("policy '{name}': {reason}")]
    InvalidPolicyValue { name: String, reason: String },
    #[error("desired property '{0}' is named twice")]
    DuplicateDesiredProperty(String),
    #[error("unknown or expired page token")]
    UnknownPage,

    // ---- administration
    #[error("invalid settings: {0}")]
    InvalidSettings(String),

    // ---- the broker itself
    #[error("storage: {0}")]
    Storage(String),
}

impl From<redb::Error> for TraderError {
    fn from(err: redb::Error) -> Self {
        TraderError::Storage(err.to_string())
    }
}
