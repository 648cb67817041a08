//! The Bourse gRPC contract: package `bourse.v1`, generated from the
//! `.proto` files beside this crate, plus small constructors for values.
//!
//! Every program and outside user of Bourse speaks this contract; the
//! `.proto` files are the documentation of record.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("bourse.v1");

    /// Encoded descriptor set of all Bourse protos, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("bourse_descriptor");
}

pub use v1::*;

pub mod typefile;

/// Where a broker listens, and where its clients look for it, when nothing
/// else is said (and, for clients, mDNS discovery is off).
pub const DEFAULT_BROKER_ADDRESS: &str = "127.0.0.1:7300";

#[cfg(feature = "discovery")]
pub mod discovery;

impl Value {
    pub fn bool(v: bool) -> Self {
        Value { kind: Some(value::Kind::BoolValue(v)) }
    }
    pub fn int64(v: i64) -> Self {
        Value { kind: Some(value::Kind::Int64Value(v)) }
    }
    pub fn uint64(v: u64) -> Self {
        Value { kind: Some(value::Kind::Uint64Value(v)) }
    }
    pub fn double(v: f64) -> Self {
        Value { kind: Some(value::Kind::DoubleValue(v)) }
    }
    pub fn string(v: impl Into<String>) -> Self {
        Value { kind: Some(value::Kind::StringValue(v.into())) }
    }
    pub fn string_seq<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Value {
            kind: Some(value::Kind::StringSeq(StringSeq {
                values: values.into_iter().map(Into::into).collect(),
            })),
        }
    }
}

impl Property {
    /// A property holding a concrete value.
    pub fn value(name: impl Into<String>, value: Value) -> Self {
        Property { name: name.into(), content: Some(property::Content::Value(value)) }
    }
    /// A dynamic property evaluated by calling `evaluator` back.
    pub fn dynamic(name: impl Into<String>, dynamic: DynamicProp) -> Self {
        Property { name: name.into(), content: Some(property::Content::Dynamic(dynamic)) }
    }
}

impl Policy {
    pub fn new(name: impl Into<String>, value: Value) -> Self {
        Policy { name: name.into(), value: Some(value) }
    }
}
