//! Typed property values on the command line: parsing `--prop`, `--dynamic`
//! and `--policy` arguments into `bourse.v1` values, and formatting values
//! for people and for JSON.
//!
//! A property value is typed by the type that its service type declares for
//! it, so the same text `42` becomes an `int64`, a `uint64` or a `double` as
//! the type requires. The rules, also shown in `bourse export --help`:
//!
//! - bool: `true`, `false`, `TRUE`, `FALSE`;
//! - int64, uint64, double: decimal numbers (doubles must be finite);
//! - string: the text as given;
//! - sequences: comma-separated items (`h264,vp9`), blanks around items
//!   trimmed, empty text for the empty sequence; or a JSON array when the text
//!   starts with `[` (`["a,b","c"]`), so that string items may hold commas;
//! - record_list: a JSON array of objects whose fields are JSON scalars or
//!   arrays of one kind (integers become int64, or uint64 above
//!   `i64::MAX`; other numbers double);
//! - `@FILE` reads the text from a file, `@@...` stands for a literal `@...`.
//!
//! A property that the type does not declare takes an explicit type
//! (`tags:string_seq=a,b`) or has its type inferred: bool, then int64, then
//! double, else string.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use bourse_proto::typefile::{VALUE_TYPE_NAMES, value_type_from_name, value_type_name};
use bourse_proto::{
    BoolSeq, DoubleSeq, DynamicProp, Field, Int64Seq, Policy, Property, Record, RecordList, ServiceType,
    StringSeq, UInt64Seq, Value, ValueType, value::Kind,
};

/// Longest value text quoted in an error message before it is cut short.
const MAX_QUOTED_VALUE_CHARS: usize = 60;

/// One `NAME[:TYPE]=VALUE` argument of `--prop` or `--dynamic`, as typed.
///
/// The value text is kept raw: `@FILE` is read and the text typed only when
/// the declared type is known (see [`build_properties`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropArg {
    pub name: String,
    /// The type given explicitly with `NAME:TYPE=...`.
    pub value_type: Option<ValueType>,
    pub text: String,
}

/// Why a `NAME[:TYPE]=VALUE` argument is malformed (reported by clap).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropArgSyntaxError {
    #[error("expected NAME=VALUE or NAME:TYPE=VALUE")]
    MissingEquals,
    #[error("the property name is empty")]
    EmptyName,
    #[error("unknown value type '{0}' (expected one of {list})", list = value_type_list())]
    UnknownType(String),
}

impl FromStr for PropArg {
    type Err = PropArgSyntaxError;

    fn from_str(arg: &str) -> Result<Self, Self::Err> {
        let (left, text) = arg.split_once('=').ok_or(PropArgSyntaxError::MissingEquals)?;
        let (name, value_type) = match left.split_once(':') {
            Some((name, type_name)) => {
                let value_type = value_type_from_name(type_name.trim())
                    .ok_or_else(|| PropArgSyntaxError::UnknownType(type_name.to_string()))?;
                (name, Some(value_type))
            }
            None => (left, None),
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(PropArgSyntaxError::EmptyName);
        }
        Ok(PropArg { name: name.to_string(), value_type, text: text.to_string() })
    }
}

impl fmt::Display for PropArg {
    /// The argument as the user wrote it, with a long value (but not a
    /// file name) cut short.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(value_type) = self.value_type {
            write!(f, ":{}", value_type_name(value_type))?;
        }
        f.write_str("=")?;
        if !self.text.starts_with('@') && self.text.chars().count() > MAX_QUOTED_VALUE_CHARS {
            let cut: String = self.text.chars().take(MAX_QUOTED_VALUE_CHARS).collect();
            write!(f, "{cut}…")
        } else {
            f.write_str(&self.text)
        }
    }
}

fn value_type_list() -> String {
    VALUE_TYPE_NAMES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// Why a value text does not parse as the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// The value type, spelled as in type files (`uint64`).
    pub expected: &'static str,
    /// What exactly is wrong, when the type alone does not say it.
    pub detail: Option<String>,
}

impl ValueError {
    fn expected(value_type: ValueType) -> Self {
        ValueError { expected: value_type_name(value_type), detail: None }
    }

    fn with_detail(value_type: ValueType, detail: impl Into<String>) -> Self {
        ValueError { expected: value_type_name(value_type), detail: Some(detail.into()) }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}", self.expected)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// A `--prop` or `--dynamic` argument that cannot become a property.
/// Every message starts with the flag and the argument at fault.
#[derive(Debug, thiserror::Error)]
pub enum PropError {
    #[error("{flag} {arg}: {error}")]
    BadValue { flag: &'static str, arg: PropArg, error: ValueError },
    #[error("{flag} {arg}: cannot read {path}: {source}")]
    File { flag: &'static str, arg: PropArg, path: String, source: std::io::Error },
    #[error("{flag} {arg}: type {type_name} declares '{name}' as {declared}", name = arg.name)]
    TypeConflict { flag: &'static str, arg: PropArg, type_name: String, declared: &'static str },
    #[error(
        "{flag} {arg}: type {type_name} does not declare '{name}'; give its value type as {name}:TYPE=...",
        name = arg.name
    )]
    UndeclaredDynamic { flag: &'static str, arg: PropArg, type_name: String },
    #[error("{flag} {arg}: '{name}' is given more than once", name = arg.name)]
    Duplicate { flag: &'static str, arg: PropArg },
}

/// Parses `text` as a value of `value_type`.
pub fn parse_value(text: &str, value_type: ValueType) -> Result<Value, ValueError> {
    let kind = match value_type {
        ValueType::Bool => Kind::BoolValue(parse_bool(text).ok_or(ValueError::expected(value_type))?),
        ValueType::Int64 => {
            Kind::Int64Value(text.trim().parse().map_err(|_| ValueError::expected(value_type))?)
        }
        ValueType::Uint64 => {
            Kind::Uint64Value(text.trim().parse().map_err(|_| ValueError::expected(value_type))?)
        }
        ValueType::Double => Kind::DoubleValue(parse_double(text).ok_or(ValueError::expected(value_type))?),
        ValueType::String => Kind::StringValue(text.to_string()),
        ValueType::BoolSeq => {
            Kind::BoolSeq(BoolSeq { values: parse_seq(text, value_type, parse_bool, json_bool)? })
        }
        ValueType::Int64Seq => Kind::Int64Seq(Int64Seq {
            values: parse_seq(text, value_type, |item| item.parse().ok(), serde_json::Value::as_i64)?,
        }),
        ValueType::Uint64Seq => Kind::Uint64Seq(UInt64Seq {
            values: parse_seq(text, value_type, |item| item.parse().ok(), serde_json::Value::as_u64)?,
        }),
        ValueType::DoubleSeq => Kind::DoubleSeq(DoubleSeq {
            values: parse_seq(text, value_type, parse_double, |json| {
                json.as_f64().filter(|x| x.is_finite())
            })?,
        }),
        ValueType::StringSeq => Kind::StringSeq(StringSeq {
            values: parse_seq(
                text,
                value_type,
                |item| Some(item.to_string()),
                |json| json.as_str().map(str::to_string),
            )?,
        }),
        ValueType::RecordList => Kind::RecordList(parse_record_list(text)?),
        ValueType::Unspecified => return Err(ValueError::with_detail(value_type, "no value type")),
    };
    Ok(Value { kind: Some(kind) })
}

/// Types a property value that no service type declares: bool, then int64,
/// then double, else string.
pub fn infer_value(text: &str) -> Value {
    if let Some(b) = parse_bool(text) {
        Value::bool(b)
    } else if let Ok(i) = text.trim().parse::<i64>() {
        Value::int64(i)
    } else if let Some(x) = parse_double(text) {
        Value::double(x)
    } else {
        Value::string(text)
    }
}

/// Types a policy value: bool, then uint64, then int64, else string (for
/// `link_follow_rule=if_no_local`).
pub fn infer_policy_value(text: &str) -> Value {
    if let Some(b) = parse_bool(text) {
        Value::bool(b)
    } else if let Ok(u) = text.trim().parse::<u64>() {
        Value::uint64(u)
    } else if let Ok(i) = text.trim().parse::<i64>() {
        Value::int64(i)
    } else {
        Value::string(text)
    }
}

/// A `--policy NAME=VALUE` argument of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyArg(pub Policy);

impl FromStr for PolicyArg {
    type Err = String;

    fn from_str(arg: &str) -> Result<Self, Self::Err> {
        let (name, text) = arg.split_once('=').ok_or("expected NAME=VALUE")?;
        let name = name.trim();
        if name.is_empty() {
            return Err("the policy name is empty".to_string());
        }
        Ok(PolicyArg(Policy::new(name, infer_policy_value(text))))
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "true" | "TRUE" => Some(true),
        "false" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_double(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

fn json_bool(json: &serde_json::Value) -> Option<bool> {
    json.as_bool()
}

/// Parses a sequence: a JSON array when the text starts with `[`, else
/// comma-separated items.
fn parse_seq<T>(
    text: &str,
    value_type: ValueType,
    parse_item: impl Fn(&str) -> Option<T>,
    json_item: impl Fn(&serde_json::Value) -> Option<T>,
) -> Result<Vec<T>, ValueError> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        let items: Vec<serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|e| ValueError::with_detail(value_type, format!("not a JSON array: {e}")))?;
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                json_item(item).ok_or_else(|| {
                    ValueError::with_detail(
                        value_type,
                        format!("item {}: {item} is not {}", i + 1, item_kind(value_type)),
                    )
                })
            })
            .collect();
    }
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|item| {
            let item = item.trim();
            parse_item(item).ok_or_else(|| {
                ValueError::with_detail(value_type, format!("'{item}' is not {}", item_kind(value_type)))
            })
        })
        .collect()
}

/// The scalar type of a sequence's items, with an article, for messages.
fn item_kind(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::BoolSeq => "a bool",
        ValueType::Int64Seq => "an int64",
        ValueType::Uint64Seq => "a uint64",
        ValueType::DoubleSeq => "a finite double",
        ValueType::StringSeq => "a string",
        _ => "a value",
    }
}

/// Parses a record list from JSON: `[{"name":"x","duration":12.5}]`.
/// Fields keep the order they have in the text.
pub fn parse_record_list(text: &str) -> Result<RecordList, ValueError> {
    let value_type = ValueType::RecordList;
    // A first pass as plain JSON finds what is wrong with good messages; the
    // second reads the objects again with their fields in order.
    let json: serde_json::Value = serde_json::from_str(text.trim())
        .map_err(|e| ValueError::with_detail(value_type, format!("not JSON: {e}")))?;
    let serde_json::Value::Array(items) = json else {
        return Err(ValueError::with_detail(value_type, "a JSON array of objects"));
    };
    if let Some(i) = items.iter().position(|item| !item.is_object()) {
        return Err(ValueError::with_detail(value_type, format!("record {}: not a JSON object", i + 1)));
    }
    let objects: Vec<OrderedObject> = serde_json::from_str(text.trim())
        .map_err(|e| ValueError::with_detail(value_type, format!("not JSON: {e}")))?;
    let records = objects
        .into_iter()
        .enumerate()
        .map(|(i, object)| {
            let mut fields: Vec<Field> = Vec::with_capacity(object.0.len());
            for (name, json) in object.0 {
                let field_error = |why: String| {
                    ValueError::with_detail(value_type, format!("record {}, field '{name}': {why}", i + 1))
                };
                if fields.iter().any(|f| f.name == name) {
                    return Err(field_error("given twice".to_string()));
                }
                let value = json_field_value(&json).map_err(field_error)?;
                fields.push(Field { name, value: Some(value) });
            }
            Ok(Record { fields })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordList { records })
}

/// A JSON object read with its members in text order (serde_json's own map
/// sorts them).
struct OrderedObject(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(member);
                }
                Ok(OrderedObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// Types one field of a record from its JSON value.
fn json_field_value(json: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    match json {
        J::Bool(b) => Ok(Value::bool(*b)),
        J::Number(n) => Ok(json_number(n)),
        J::String(s) => Ok(Value::string(s.clone())),
        J::Array(items) => json_array_value(items),
        J::Null => Err("null is not a value".to_string()),
        J::Object(_) => Err("records do not nest".to_string()),
    }
}

fn json_number(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::int64(i)
    } else if let Some(u) = n.as_u64() {
        Value::uint64(u)
    } else {
        // serde_json without arbitrary precision always has an f64 here.
        Value::double(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// An array of one kind becomes the matching sequence. Integers make an
/// int64 sequence unless one exceeds `i64::MAX` (then uint64, if none is
/// negative); a float among numbers makes a double sequence. An empty array
/// is taken as an empty string sequence.
fn json_array_value(items: &[serde_json::Value]) -> Result<Value, String> {
    use serde_json::Value as J;
    let kind = if items.iter().all(J::is_string) {
        Kind::StringSeq(StringSeq {
            values: items.iter().filter_map(|j| j.as_str().map(str::to_string)).collect(),
        })
    } else if items.iter().all(J::is_boolean) {
        Kind::BoolSeq(BoolSeq { values: items.iter().filter_map(J::as_bool).collect() })
    } else if items.iter().all(J::is_i64) {
        Kind::Int64Seq(Int64Seq { values: items.iter().filter_map(J::as_i64).collect() })
    } else if items.iter().all(J::is_u64) {
        Kind::Uint64Seq(UInt64Seq { values: items.iter().filter_map(J::as_u64).collect() })
    } else if items.iter().all(J::is_number) {
        Kind::DoubleSeq(DoubleSeq { values: items.iter().filter_map(J::as_f64).collect() })
    } else {
        return Err("an array must hold items of one kind: all strings, all bools or all numbers".to_string());
    };
    Ok(Value { kind: Some(kind) })
}

/// The text of a `--prop` value: `@FILE` read from the file, `@@x` as `@x`.
fn resolve_text(flag: &'static str, arg: &PropArg) -> Result<String, PropError> {
    match arg.text.strip_prefix('@') {
        Some(rest) if rest.starts_with('@') => Ok(rest.to_string()),
        Some(path) => std::fs::read_to_string(Path::new(path)).map_err(|source| PropError::File {
            flag,
            arg: arg.clone(),
            path: path.to_string(),
            source,
        }),
        None => Ok(arg.text.clone()),
    }
}

/// The declared value type of `name` in `service_type`, if it declares it.
fn declared_type(service_type: &ServiceType, name: &str) -> Option<ValueType> {
    service_type
        .properties
        .iter()
        .find(|p| p.name == name)
        .map(|p| ValueType::try_from(p.value_type).unwrap_or(ValueType::Unspecified))
}

/// The type of an argument: declared by the service type, or given
/// explicitly (both must agree).
fn argument_type(
    flag: &'static str,
    arg: &PropArg,
    service_type: &ServiceType,
) -> Result<Option<ValueType>, PropError> {
    match (declared_type(service_type, &arg.name), arg.value_type) {
        (Some(declared), Some(given)) if declared != given => Err(PropError::TypeConflict {
            flag,
            arg: arg.clone(),
            type_name: service_type.name.clone(),
            declared: value_type_name(declared),
        }),
        (declared, given) => Ok(declared.or(given)),
    }
}

/// Builds the properties of an export or a modify from `--prop` and
/// `--dynamic` arguments, typed by `service_type` (which should come from
/// FullyDescribeType so that inherited properties are typed too).
pub fn build_properties(
    props: &[PropArg],
    dynamics: &[PropArg],
    max_age_ms: u64,
    service_type: &ServiceType,
) -> Result<Vec<Property>, PropError> {
    let mut properties: Vec<Property> = Vec::with_capacity(props.len() + dynamics.len());
    let mut seen = std::collections::HashSet::new();
    for (flag, arg) in props.iter().map(|a| ("--prop", a)).chain(dynamics.iter().map(|a| ("--dynamic", a))) {
        if !seen.insert(arg.name.as_str()) {
            return Err(PropError::Duplicate { flag, arg: arg.clone() });
        }
    }
    for arg in props {
        let flag = "--prop";
        let text = resolve_text(flag, arg)?;
        let value = match argument_type(flag, arg, service_type)? {
            Some(value_type) => parse_value(&text, value_type).map_err(|error| PropError::BadValue {
                flag,
                arg: arg.clone(),
                error,
            })?,
            None => infer_value(&text),
        };
        properties.push(Property::value(arg.name.clone(), value));
    }
    for arg in dynamics {
        let flag = "--dynamic";
        let value_type = argument_type(flag, arg, service_type)?.ok_or_else(|| {
            PropError::UndeclaredDynamic { flag, arg: arg.clone(), type_name: service_type.name.clone() }
        })?;
        let dynamic = DynamicProp {
            evaluator: arg.text.trim().to_string(),
            extra_info: None,
            max_age_ms,
            value_type: value_type as i32,
        };
        properties.push(Property::dynamic(arg.name.clone(), dynamic));
    }
    Ok(properties)
}

// ------------------------------------------------------------- formatting

/// A value for people: bools `true`/`false`, numbers plain, doubles to six
/// significant digits, strings raw, sequences comma-joined, record lists as
/// their count.
pub fn format_value(value: &Value) -> String {
    let Some(kind) = &value.kind else {
        return "(no value)".to_string();
    };
    match kind {
        Kind::BoolValue(b) => b.to_string(),
        Kind::Int64Value(i) => i.to_string(),
        Kind::Uint64Value(u) => u.to_string(),
        Kind::DoubleValue(x) => format_double(*x),
        Kind::StringValue(s) => s.clone(),
        Kind::BoolSeq(seq) => join(seq.values.iter().map(bool::to_string)),
        Kind::Int64Seq(seq) => join(seq.values.iter().map(i64::to_string)),
        Kind::Uint64Seq(seq) => join(seq.values.iter().map(u64::to_string)),
        Kind::DoubleSeq(seq) => join(seq.values.iter().map(|x| format_double(*x))),
        Kind::StringSeq(seq) => seq.values.join(","),
        Kind::RecordList(list) => count_records(list.records.len()),
    }
}

/// `1 record`, `3 records`.
pub fn count_records(n: usize) -> String {
    if n == 1 { "1 record".to_string() } else { format!("{n} records") }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

/// A double to six significant digits with trailing zeros trimmed, in
/// exponent form only for very small or very large magnitudes (like C's
/// `%g`): `0.25`, `1234.57`, `1.5e-7`, `2.5e12`.
pub fn format_double(x: f64) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    if !x.is_finite() {
        return x.to_string();
    }
    // Rounding to six digits first decides the exponent (999999.7 is 1e6).
    let scientific = format!("{x:.5e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        return format!("{}e{exponent}", trim_fraction(mantissa));
    }
    let decimals = usize::try_from(5 - exponent).unwrap_or(0);
    trim_fraction(&format!("{x:.decimals$}")).to_string()
}

fn trim_fraction(number: &str) -> &str {
    if number.contains('.') { number.trim_end_matches('0').trim_end_matches('.') } else { number }
}

/// A value as natural JSON: scalars, arrays, record lists as arrays of
/// objects. A missing value is `null`, as is a non-finite double.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    let Some(kind) = &value.kind else {
        return J::Null;
    };
    match kind {
        Kind::BoolValue(b) => J::from(*b),
        Kind::Int64Value(i) => J::from(*i),
        Kind::Uint64Value(u) => J::from(*u),
        Kind::DoubleValue(x) => double_json(*x),
        Kind::StringValue(s) => J::from(s.as_str()),
        Kind::BoolSeq(seq) => J::from(seq.values.clone()),
        Kind::Int64Seq(seq) => J::from(seq.values.clone()),
        Kind::Uint64Seq(seq) => J::from(seq.values.clone()),
        Kind::DoubleSeq(seq) => J::Array(seq.values.iter().map(|x| double_json(*x)).collect()),
        Kind::StringSeq(seq) => J::from(seq.values.clone()),
        Kind::RecordList(list) => J::Array(list.records.iter().map(record_to_json).collect()),
    }
}

fn double_json(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn record_to_json(record: &Record) -> serde_json::Value {
    let object = record
        .fields
        .iter()
        .map(|field| {
            (field.name.clone(), field.value.as_ref().map_or(serde_json::Value::Null, value_to_json))
        })
        .collect();
    serde_json::Value::Object(object)
}

/// The name of a value's type, as in type files (`string_seq`).
pub fn value_kind_name(value: &Value) -> &'static str {
    let value_type = match &value.kind {
        None => ValueType::Unspecified,
        Some(Kind::BoolValue(_)) => ValueType::Bool,
        Some(Kind::Int64Value(_)) => ValueType::Int64,
        Some(Kind::Uint64Value(_)) => ValueType::Uint64,
        Some(Kind::DoubleValue(_)) => ValueType::Double,
        Some(Kind::StringValue(_)) => ValueType::String,
        Some(Kind::BoolSeq(_)) => ValueType::BoolSeq,
        Some(Kind::Int64Seq(_)) => ValueType::Int64Seq,
        Some(Kind::Uint64Seq(_)) => ValueType::Uint64Seq,
        Some(Kind::DoubleSeq(_)) => ValueType::DoubleSeq,
        Some(Kind::StringSeq(_)) => ValueType::StringSeq,
        Some(Kind::RecordList(_)) => ValueType::RecordList,
    };
    value_type_name(value_type)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;
    use bourse_proto::{PropertyDef, PropertyMode, property::Content};

    fn parse(text: &str, value_type: ValueType) -> Value {
        parse_value(text, value_type).unwrap_or_else(|e| panic!("{text:?} as {value_type:?}: {e}"))
    }

    fn parse_err(text: &str, value_type: ValueType) -> String {
        match parse_value(text, value_type) {
            Ok(v) => panic!("{text:?} as {value_type:?} parsed as {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn kind(value: Value) -> Kind {
        value.kind.unwrap()
    }

    #[test]
    fn scalars_parse_by_declared_type() {
        assert_eq!(kind(parse("true", ValueType::Bool)), Kind::BoolValue(true));
        assert_eq!(kind(parse("TRUE", ValueType::Bool)), Kind::BoolValue(true));
        assert_eq!(kind(parse("false", ValueType::Bool)), Kind::BoolValue(false));
        assert_eq!(kind(parse("FALSE", ValueType::Bool)), Kind::BoolValue(false));
        assert_eq!(kind(parse("-42", ValueType::Int64)), Kind::Int64Value(-42));
        assert_eq!(kind(parse("42", ValueType::Uint64)), Kind::Uint64Value(42));
        assert_eq!(kind(parse("18446744073709551615", ValueType::Uint64)), Kind::Uint64Value(u64::MAX));
        assert_eq!(kind(parse("42", ValueType::Double)), Kind::DoubleValue(42.0));
        assert_eq!(kind(parse("0.25", ValueType::Double)), Kind::DoubleValue(0.25));
        assert_eq!(kind(parse("1e3", ValueType::Double)), Kind::DoubleValue(1000.0));
        assert_eq!(kind(parse(" a, b ", ValueType::String)), Kind::StringValue(" a, b ".into()));
        assert_eq!(kind(parse("", ValueType::String)), Kind::StringValue(String::new()));
    }

    #[test]
    fn scalar_errors_name_the_expected_type() {
        assert_eq!(parse_err("yes", ValueType::Bool), "expected bool");
        assert_eq!(parse_err("True", ValueType::Bool), "expected bool");
        assert_eq!(parse_err("1.5", ValueType::Int64), "expected int64");
        assert_eq!(parse_err("9223372036854775808", ValueType::Int64), "expected int64");
        assert_eq!(parse_err("-1", ValueType::Uint64), "expected uint64");
        assert_eq!(parse_err("ten", ValueType::Uint64), "expected uint64");
        assert_eq!(parse_err("fast", ValueType::Double), "expected double");
        assert_eq!(parse_err("inf", ValueType::Double), "expected double");
        assert_eq!(parse_err("NaN", ValueType::Double), "expected double");
    }

    #[test]
    fn sequences_are_comma_separated() {
        let seq = kind(parse("h264, vp9 ,hevc", ValueType::StringSeq));
        assert_eq!(
            seq,
            Kind::StringSeq(StringSeq { values: vec!["h264".into(), "vp9".into(), "hevc".into()] })
        );
        assert_eq!(kind(parse("", ValueType::StringSeq)), Kind::StringSeq(StringSeq { values: vec![] }));
        assert_eq!(kind(parse("  ", ValueType::Int64Seq)), Kind::Int64Seq(Int64Seq { values: vec![] }));
        assert_eq!(
            kind(parse("1,-2,3", ValueType::Int64Seq)),
            Kind::Int64Seq(Int64Seq { values: vec![1, -2, 3] })
        );
        assert_eq!(
            kind(parse("1,2", ValueType::Uint64Seq)),
            Kind::Uint64Seq(UInt64Seq { values: vec![1, 2] })
        );
        assert_eq!(
            kind(parse("1,2.5", ValueType::DoubleSeq)),
            Kind::DoubleSeq(DoubleSeq { values: vec![1.0, 2.5] })
        );
        assert_eq!(
            kind(parse("true,FALSE", ValueType::BoolSeq)),
            Kind::BoolSeq(BoolSeq { values: vec![true, false] })
        );
    }

    #[test]
    fn sequences_accept_json_arrays() {
        let seq = kind(parse(r#"["a,b", "c"]"#, ValueType::StringSeq));
        assert_eq!(seq, Kind::StringSeq(StringSeq { values: vec!["a,b".into(), "c".into()] }));
        assert_eq!(kind(parse("[]", ValueType::StringSeq)), Kind::StringSeq(StringSeq { values: vec![] }));
        assert_eq!(
            kind(parse("[1, 2]", ValueType::Uint64Seq)),
            Kind::Uint64Seq(UInt64Seq { values: vec![1, 2] })
        );
        assert_eq!(
            kind(parse("[1, 2.5]", ValueType::DoubleSeq)),
            Kind::DoubleSeq(DoubleSeq { values: vec![1.0, 2.5] })
        );
    }

    #[test]
    fn sequence_errors_name_the_item() {
        assert_eq!(parse_err("1,two,3", ValueType::Int64Seq), "expected int64_seq ('two' is not an int64)");
        assert_eq!(parse_err("1,,3", ValueType::Uint64Seq), "expected uint64_seq ('' is not a uint64)");
        assert_eq!(parse_err("yes", ValueType::BoolSeq), "expected bool_seq ('yes' is not a bool)");
        assert_eq!(
            parse_err(r#"["a", 1]"#, ValueType::StringSeq),
            "expected string_seq (item 2: 1 is not a string)"
        );
        assert_eq!(
            parse_err("[-1]", ValueType::Uint64Seq),
            "expected uint64_seq (item 1: -1 is not a uint64)"
        );
        let err = parse_err(r#"["a""#, ValueType::StringSeq);
        assert!(err.starts_with("expected string_seq (not a JSON array: "), "{err}");
    }

    #[test]
    fn record_lists_parse_from_json() {
        let text = r#"[{"name":"x","duration":12.5,"width":640,"big":18446744073709551615,"live":false,
                        "codecs":["h264","vp9"],"sizes":[1,2],"rates":[1,2.5],"none":[]},{}]"#;
        let Kind::RecordList(list) = kind(parse(text, ValueType::RecordList)) else {
            panic!("not a record list")
        };
        assert_eq!(list.records.len(), 2);
        let fields: Vec<(String, Kind)> = list.records[0]
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.value.clone().unwrap().kind.unwrap()))
            .collect();
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(field("name"), Kind::StringValue("x".into()));
        assert_eq!(field("duration"), Kind::DoubleValue(12.5));
        assert_eq!(field("width"), Kind::Int64Value(640));
        assert_eq!(field("big"), Kind::Uint64Value(u64::MAX));
        assert_eq!(field("live"), Kind::BoolValue(false));
        assert_eq!(field("codecs"), Kind::StringSeq(StringSeq { values: vec!["h264".into(), "vp9".into()] }));
        assert_eq!(field("sizes"), Kind::Int64Seq(Int64Seq { values: vec![1, 2] }));
        assert_eq!(field("rates"), Kind::DoubleSeq(DoubleSeq { values: vec![1.0, 2.5] }));
        assert_eq!(field("none"), Kind::StringSeq(StringSeq { values: vec![] }));
        assert!(list.records[1].fields.is_empty());
        let names: Vec<&str> = list.records[0].fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["name", "duration", "width", "big", "live", "codecs", "sizes", "rates", "none"]);
    }

    #[test]
    fn record_list_errors_say_where() {
        assert_eq!(
            parse_err(r#"{"a":1}"#, ValueType::RecordList),
            "expected record_list (a JSON array of objects)"
        );
        assert_eq!(
            parse_err("[1]", ValueType::RecordList),
            "expected record_list (record 1: not a JSON object)"
        );
        assert_eq!(
            parse_err(r#"[{"a":1},{"b":null}]"#, ValueType::RecordList),
            "expected record_list (record 2, field 'b': null is not a value)"
        );
        assert_eq!(
            parse_err(r#"[{"a":{"b":1}}]"#, ValueType::RecordList),
            "expected record_list (record 1, field 'a': records do not nest)"
        );
        let err = parse_err(r#"[{"a":[1,"x"]}]"#, ValueType::RecordList);
        assert!(err.contains("record 1, field 'a': an array must hold items of one kind"), "{err}");
        assert_eq!(
            parse_err(r#"[{"a":1,"a":2}]"#, ValueType::RecordList),
            "expected record_list (record 1, field 'a': given twice)"
        );
        let err = parse_err("[{", ValueType::RecordList);
        assert!(err.starts_with("expected record_list (not JSON: "), "{err}");
    }

    #[test]
    fn inference_prefers_bool_then_int_then_double() {
        assert_eq!(kind(infer_value("TRUE")), Kind::BoolValue(true));
        assert_eq!(kind(infer_value("-3")), Kind::Int64Value(-3));
        assert_eq!(kind(infer_value("3.5")), Kind::DoubleValue(3.5));
        assert_eq!(kind(infer_value("18446744073709551615")), Kind::DoubleValue(18446744073709551615.0));
        assert_eq!(kind(infer_value("h264,vp9")), Kind::StringValue("h264,vp9".into()));
        assert_eq!(kind(infer_value("inf")), Kind::StringValue("inf".into()));
    }

    #[test]
    fn policy_values_prefer_bool_then_uint_then_int() {
        let policy = |arg: &str| arg.parse::<PolicyArg>().unwrap().0;
        assert_eq!(policy("exact_type_match=true"), Policy::new("exact_type_match", Value::bool(true)));
        assert_eq!(
            policy("use_dynamic_properties=FALSE"),
            Policy::new("use_dynamic_properties", Value::bool(false))
        );
        assert_eq!(policy("search_card=200"), Policy::new("search_card", Value::uint64(200)));
        assert_eq!(policy("hop_count=-1"), Policy::new("hop_count", Value::int64(-1)));
        assert_eq!(
            policy("link_follow_rule=if_no_local"),
            Policy::new("link_follow_rule", Value::string("if_no_local"))
        );
        assert_eq!("search_card".parse::<PolicyArg>(), Err("expected NAME=VALUE".to_string()));
        assert_eq!("=1".parse::<PolicyArg>(), Err("the policy name is empty".to_string()));
    }

    #[test]
    fn prop_args_parse_name_type_and_text() {
        let arg: PropArg = "max_connections=10".parse().unwrap();
        assert_eq!(arg, PropArg { name: "max_connections".into(), value_type: None, text: "10".into() });
        let arg: PropArg = "tags:string_seq=a,b=c".parse().unwrap();
        assert_eq!(
            arg,
            PropArg { name: "tags".into(), value_type: Some(ValueType::StringSeq), text: "a,b=c".into() }
        );
        let arg: PropArg = "empty=".parse().unwrap();
        assert_eq!(arg.text, "");
        assert_eq!(arg.to_string(), "empty=");
        assert_eq!("tags".parse::<PropArg>(), Err(PropArgSyntaxError::MissingEquals));
        assert_eq!("=1".parse::<PropArg>(), Err(PropArgSyntaxError::EmptyName));
        let err = "n:int=1".parse::<PropArg>().unwrap_err().to_string();
        assert!(err.starts_with("unknown value type 'int' (expected one of bool, int64, "), "{err}");
        let long: PropArg = format!("x={}", "y".repeat(100)).parse().unwrap();
        assert_eq!(long.to_string(), format!("x={}…", "y".repeat(60)));
    }

    fn media_type() -> ServiceType {
        let def = |name: &str, value_type: ValueType| PropertyDef {
            name: name.into(),
            value_type: value_type as i32,
            mode: PropertyMode::Normal as i32,
            doc: String::new(),
        };
        ServiceType {
            name: "MediaServer".into(),
            properties: vec![
                def("max_connections", ValueType::Uint64),
                def("video_formats", ValueType::StringSeq),
                def("load", ValueType::Double),
                def("movies", ValueType::RecordList),
            ],
            ..ServiceType::default()
        }
    }

    fn args(list: &[&str]) -> Vec<PropArg> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn build(props: &[&str], dynamics: &[&str]) -> Result<Vec<Property>, PropError> {
        build_properties(&args(props), &args(dynamics), 500, &media_type())
    }

    fn value_of(property: &Property) -> Value {
        match property.content.clone().unwrap() {
            Content::Value(v) => v,
            Content::Dynamic(d) => panic!("dynamic {d:?}"),
        }
    }

    #[test]
    fn properties_are_typed_by_the_declared_type() {
        let props = build(&["max_connections=10", "video_formats=h264,vp9", "load=1", "note=hi", "n=7"], &[])
            .unwrap();
        let values: Vec<Value> = props.iter().map(value_of).collect();
        assert_eq!(values[0], Value::uint64(10));
        assert_eq!(values[1], Value::string_seq(["h264", "vp9"]));
        assert_eq!(values[2], Value::double(1.0));
        assert_eq!(values[3], Value::string("hi"));
        assert_eq!(values[4], Value::int64(7));
    }

    #[test]
    fn explicit_types_apply_to_undeclared_properties() {
        let props =
            build(&["tags:string_seq=a,b", "weight:double=2", "max_connections:uint64=3"], &[]).unwrap();
        assert_eq!(value_of(&props[0]), Value::string_seq(["a", "b"]));
        assert_eq!(value_of(&props[1]), Value::double(2.0));
        assert_eq!(value_of(&props[2]), Value::uint64(3));
        let err = build(&["max_connections:int64=3"], &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "--prop max_connections:int64=3: type MediaServer declares 'max_connections' as uint64"
        );
    }

    #[test]
    fn bad_values_name_the_property_and_the_type() {
        let err = build(&["max_connections=ten"], &[]).unwrap_err().to_string();
        assert_eq!(err, "--prop max_connections=ten: expected uint64");
        let err = build(&["tags:int64_seq=1,x"], &[]).unwrap_err().to_string();
        assert_eq!(err, "--prop tags:int64_seq=1,x: expected int64_seq ('x' is not an int64)");
        let err = build(&["load=1", "load=2"], &[]).unwrap_err().to_string();
        assert_eq!(err, "--prop load=2: 'load' is given more than once");
    }

    #[test]
    fn dynamic_properties_take_the_declared_or_explicit_type() {
        let props = build(&[], &["load=http://127.0.0.1:7400", "queue:uint64=http://h:1"]).unwrap();
        let Some(Content::Dynamic(load)) = props[0].content.clone() else { panic!("not dynamic") };
        assert_eq!(load.evaluator, "http://127.0.0.1:7400");
        assert_eq!(load.value_type, ValueType::Double as i32);
        assert_eq!(load.max_age_ms, 500);
        assert_eq!(load.extra_info, None);
        let Some(Content::Dynamic(queue)) = props[1].content.clone() else { panic!("not dynamic") };
        assert_eq!(queue.value_type, ValueType::Uint64 as i32);
        let err = build(&[], &["queue=http://h:1"]).unwrap_err().to_string();
        assert_eq!(
            err,
            "--dynamic queue=http://h:1: type MediaServer does not declare 'queue'; give its value type as queue:TYPE=..."
        );
        let err = build(&["load=1"], &["load=http://h:1"]).unwrap_err().to_string();
        assert_eq!(err, "--dynamic load=http://h:1: 'load' is given more than once");
    }

    #[test]
    fn at_file_values_are_read_from_the_file() {
        let dir = std::env::temp_dir().join(format!("bourse-selector-values-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("movies.json");
        std::fs::write(&path, "[{\"name\":\"Casablanca\",\"duration\":6120}]\n").unwrap();
        let movies = format!("movies=@{}", path.display());
        let props = build(&[&movies, "note=@@home"], &[]).unwrap();
        let Some(Kind::RecordList(list)) = value_of(&props[0]).kind else { panic!("not a record list") };
        assert_eq!(list.records[0].fields[1].value, Some(Value::int64(6120)));
        assert_eq!(value_of(&props[1]), Value::string("@home"));

        let missing = dir.join("missing.json");
        let err = build(&[&format!("movies=@{}", missing.display())], &[]).unwrap_err().to_string();
        assert!(err.starts_with(&format!(
            "--prop movies=@{}: cannot read {}: ",
            missing.display(),
            missing.display()
        )));

        std::fs::write(&path, "not json").unwrap();
        let err = build(&[&movies], &[]).unwrap_err().to_string();
        assert!(err.starts_with(&format!("--prop {movies}: expected record_list (not JSON: ")), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn human_formatting() {
        assert_eq!(format_value(&Value::bool(true)), "true");
        assert_eq!(format_value(&Value::int64(-5)), "-5");
        assert_eq!(format_value(&Value::uint64(u64::MAX)), "18446744073709551615");
        assert_eq!(format_value(&Value::string("a b")), "a b");
        assert_eq!(format_value(&Value::string_seq(["h264", "vp9"])), "h264,vp9");
        let doubles = Value { kind: Some(Kind::DoubleSeq(DoubleSeq { values: vec![0.5, 1.0 / 3.0] })) };
        assert_eq!(format_value(&doubles), "0.5,0.333333");
        let records = parse(r#"[{"a":1},{"a":2}]"#, ValueType::RecordList);
        assert_eq!(format_value(&records), "2 records");
        assert_eq!(format_value(&Value::default()), "(no value)");
    }

    #[test]
    fn doubles_keep_six_significant_digits() {
        for (x, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (0.25, "0.25"),
            (1.0 / 3.0, "0.333333"),
            (2.0 / 3.0, "0.666667"),
            (1234.5678, "1234.57"),
            (123456.4, "123456"),
            (999999.7, "1e6"),
            (-12.5, "-12.5"),
            (0.0001234567, "0.000123457"),
            (0.00001, "1e-5"),
            (1.5e-7, "1.5e-7"),
            (2.5e12, "2.5e12"),
        ] {
            assert_eq!(format_double(x), text, "{x}");
        }
    }

    #[test]
    fn json_formatting() {
        assert_eq!(value_to_json(&Value::uint64(7)), serde_json::json!(7));
        assert_eq!(value_to_json(&Value::double(0.5)), serde_json::json!(0.5));
        assert_eq!(value_to_json(&Value::double(f64::NAN)), serde_json::Value::Null);
        assert_eq!(value_to_json(&Value::string_seq(["a"])), serde_json::json!(["a"]));
        let records = parse(r#"[{"name":"x","sizes":[1,2]}]"#, ValueType::RecordList);
        assert_eq!(value_to_json(&records), serde_json::json!([{"name": "x", "sizes": [1, 2]}]));
        assert_eq!(value_kind_name(&records), "record_list");
    }
}
