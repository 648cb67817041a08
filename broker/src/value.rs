//! Property values and value types as the trader holds them.
//!
//! These are the domain forms of `bourse.v1.Value` / `ValueType`; the
//! service layer converts at the edge, so nothing below it sees prost types.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Interned property name. Ids are dense and stable for the life of the
/// process; the broker's name table hands them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PropId(pub u32);

/// The type of a property value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    Bool,
    Int,
    UInt,
    Double,
    String,
    BoolSeq,
    IntSeq,
    UIntSeq,
    DoubleSeq,
    StringSeq,
    /// A list of records: returned to importers, not usable in constraints.
    Records,
}

impl ValueType {
    /// All types, for tables and parsing.
    pub const ALL: [ValueType; 11] = [
        ValueType::Bool,
        ValueType::Int,
        ValueType::UInt,
        ValueType::Double,
        ValueType::String,
        ValueType::BoolSeq,
        ValueType::IntSeq,
        ValueType::UIntSeq,
        ValueType::DoubleSeq,
        ValueType::StringSeq,
        ValueType::Records,
    ];

    /// The name used in type files and messages (`int64`, `string_seq`...).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Bool => "bool",
            ValueType::Int => "int64",
            ValueType::UInt => "uint64",
            ValueType::Double => "double",
            ValueType::String => "string",
            ValueType::BoolSeq => "bool_seq",
            ValueType::IntSeq => "int64_seq",
            ValueType::UIntSeq => "uint64_seq",
            ValueType::DoubleSeq => "double_seq",
            ValueType::StringSeq => "string_seq",
            ValueType::Records => "record_list",
        }
    }

    pub fn from_name(name: &str) -> Option<ValueType> {
        ValueType::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, ValueType::Int | ValueType::UInt | ValueType::Double)
    }

    pub fn is_sequence(self) -> bool {
        matches!(
            self,
            ValueType::BoolSeq
                | ValueType::IntSeq
                | ValueType::UIntSeq
                | ValueType::DoubleSeq
                | ValueType::StringSeq
        )
    }

    /// The element type of a sequence type.
    pub fn element(self) -> Option<ValueType> {
        match self {
            ValueType::BoolSeq => Some(ValueType::Bool),
            ValueType::IntSeq => Some(ValueType::Int),
            ValueType::UIntSeq => Some(ValueType::UInt),
            ValueType::DoubleSeq => Some(ValueType::Double),
            ValueType::StringSeq => Some(ValueType::String),
            _ => None,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One record of a record list: named fields holding scalars or sequences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub fields: Vec<(String, Value)>,
}

impl Record {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A property value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    String(String),
    BoolSeq(Vec<bool>),
    IntSeq(Vec<i64>),
    UIntSeq(Vec<u64>),
    DoubleSeq(Vec<f64>),
    StringSeq(Vec<String>),
    Records(Vec<Record>),
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Bool(_) => ValueType::Bool,
            Value::Int(_) => ValueType::Int,
            Value::UInt(_) => ValueType::UInt,
            Value::Double(_) => ValueType::Double,
            Value::String(_) => ValueType::String,
            Value::BoolSeq(_) => ValueType::BoolSeq,
            Value::IntSeq(_) => ValueType::IntSeq,
            Value::UIntSeq(_) => ValueType::UIntSeq,
            Value::DoubleSeq(_) => ValueType::DoubleSeq,
            Value::StringSeq(_) => ValueType::StringSeq,
            Value::Records(_) => ValueType::Records,
        }
    }

    /// Checks the invariants a stored value must keep: doubles are finite
    /// (NaN has no order, and storage could not round-trip it) and records
    /// hold no records. Returns a description of the first violation.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Value::Double(d) if !d.is_finite() => Err(format!("double {d} is not finite")),
            Value::DoubleSeq(ds) => match ds.iter().position(|d| !d.is_finite()) {
                Some(i) => Err(format!("element {i} ({}) is not finite", ds[i])),
                None => Ok(()),
            },
            Value::Records(records) => {
                for (i, record) in records.iter().enumerate() {
                    let mut seen = std::collections::HashSet::new();
                    for (name, field) in &record.fields {
                        if !seen.insert(name.as_str()) {
                            return Err(format!("record {i}: duplicate field '{name}'"));
                        }
                        if matches!(field, Value::Records(_)) {
                            return Err(format!(
                                "record {i}: field '{name}' holds records; records do not nest"
                            ));
                        }
                        field.validate().map_err(|e| format!("record {i}: field '{name}': {e}"))?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Value {
    /// Human form: scalars as in the constraint language, sequences as
    /// comma-separated lists in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str("]")
        }
        match self {
            Value::Bool(true) => f.write_str("TRUE"),
            Value::Bool(false) => f.write_str("FALSE"),
            Value::Int(v) => write!(f, "{v}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::Double(v) => write!(f, "{v:?}"),
            Value::String(s) => f.write_str(s),
            Value::BoolSeq(v) => list(f, v),
            Value::IntSeq(v) => list(f, v),
            Value::UIntSeq(v) => list(f, v),
            Value::DoubleSeq(v) => list(f, v),
            Value::StringSeq(v) => list(f, v),
            Value::Records(records) => write!(f, "<{} records>", records.len()),
        }
    }
}
