//! Tests of the constraint and preference languages, and the fixture they
//! share: a service type declaring one property of each kind and an offer
//! whose values exercise the edge cases (extreme integers, a double beyond
//! 2^53, missing, dynamic and mistyped properties).

use std::collections::{HashMap, HashSet};

use crate::tcl::{Properties, Schema, TclError, Truth, compile_constraint};
use crate::value::{PropId, Record, Value, ValueType};

mod constraint;
mod num;
mod pref;
mod props;
mod syntax;

/// The declared properties of the test type; a property's id is its index.
pub(super) const DECLARED: &[(&str, ValueType)] = &[
    ("b_true", ValueType::Bool),
    ("b_false", ValueType::Bool),
    ("i", ValueType::Int),
    ("neg", ValueType::Int),
    ("imin", ValueType::Int),
    ("imax", ValueType::Int),
    ("u", ValueType::UInt),
    ("umax", ValueType::UInt),
    ("d", ValueType::Double),
    ("big", ValueType::Double),
    ("s", ValueType::String),
    ("empty", ValueType::String),
    ("bs", ValueType::BoolSeq),
    ("is", ValueType::IntSeq),
    ("us", ValueType::UIntSeq),
    ("ds", ValueType::DoubleSeq),
    ("ss", ValueType::StringSeq),
    ("rec", ValueType::Records),
    ("missing_i", ValueType::Int),
    ("missing_s", ValueType::String),
    ("missing_b", ValueType::Bool),
    ("missing_seq", ValueType::StringSeq),
    ("clash", ValueType::Int),
    ("dyn_i", ValueType::Int),
    ("empty_seq", ValueType::IntSeq),
    ("ubig", ValueType::UInt),
    ("zero", ValueType::Int),
    ("bad_seq", ValueType::StringSeq),
];

/// Names the type does not declare but that offers may carry (ids 100+).
pub(super) const UNDECLARED: &[&str] = &["extra", "ghost"];

pub(super) struct TestSchema;

impl Schema for TestSchema {
    fn property(&self, name: &str) -> Option<(PropId, ValueType)> {
        let index = DECLARED.iter().position(|(n, _)| *n == name)?;
        Some((PropId(index as u32), DECLARED[index].1))
    }

    fn id_of(&self, name: &str) -> Option<PropId> {
        let index = UNDECLARED.iter().position(|n| *n == name)?;
        Some(PropId(100 + index as u32))
    }
}

pub(super) fn id(name: &str) -> PropId {
    TestSchema.property(name).map(|(id, _)| id).or_else(|| TestSchema.id_of(name)).expect("a fixture name")
}

/// An offer: concrete values plus properties that exist without a value
/// (unevaluated dynamic properties).
#[derive(Debug, Clone, Default)]
pub(super) struct Offer {
    pub values: HashMap<PropId, Value>,
    pub dynamic: HashSet<PropId>,
}

impl Offer {
    pub fn with(mut self, name: &str, value: Value) -> Offer {
        self.values.insert(id(name), value);
        self
    }
}

impl Properties for Offer {
    fn get(&self, id: PropId) -> Option<&Value> {
        self.values.get(&id)
    }

    fn exists(&self, id: PropId) -> bool {
        self.values.contains_key(&id) || self.dynamic.contains(&id)
    }
}

/// The offer most cases run against.
pub(super) fn offer() -> Offer {
    let mut offer = Offer::default()
        .with("b_true", Value::Bool(true))
        .with("b_false", Value::Bool(false))
        .with("i", Value::Int(42))
        .with("neg", Value::Int(-7))
        .with("imin", Value::Int(i64::MIN))
        .with("imax", Value::Int(i64::MAX))
        .with("u", Value::UInt(7))
        .with("umax", Value::UInt(u64::MAX))
        .with("d", Value::Double(2.5))
        .with("big", Value::Double(9_007_199_254_740_992.0))
        .with("s", Value::String("hello".into()))
        .with("empty", Value::String(String::new()))
        .with("bs", Value::BoolSeq(vec![true]))
        .with("is", Value::IntSeq(vec![1, -2, 3, i64::MIN]))
        .with("us", Value::UIntSeq(vec![5, u64::MAX]))
        .with("ds", Value::DoubleSeq(vec![0.5, 1.0]))
        .with("ss", Value::StringSeq(vec!["a".into(), "b c".into(), "it's".into(), "back\\slash".into()]))
        .with("rec", Value::Records(vec![Record { fields: vec![("x".into(), Value::Int(1))] }]))
        .with("clash", Value::String("42".into()))
        .with("empty_seq", Value::IntSeq(vec![]))
        .with("ubig", Value::UInt(1 << 63))
        .with("zero", Value::Int(0))
        .with("bad_seq", Value::IntSeq(vec![1]))
        .with("extra", Value::Int(1));
    offer.dynamic.insert(id("dyn_i"));
    offer
}

/// What a constraint should come to on the fixture offer.
#[derive(Debug)]
pub(super) enum Expect {
    Is(Truth),
    Fails(TclError),
}

pub(super) const T: Expect = Expect::Is(Truth::True);
pub(super) const F: Expect = Expect::Is(Truth::False);
pub(super) const U: Expect = Expect::Is(Truth::Unknown);

pub(super) fn syntax(pos: usize, expected: &str, found: &str) -> Expect {
    Expect::Fails(TclError::Syntax { pos, expected: expected.into(), found: found.into() })
}

pub(super) fn type_error(pos: usize, end: usize, message: &str) -> Expect {
    Expect::Fails(TclError::Type { pos, end, message: message.into() })
}

/// Compiles `input` against the fixture schema and evaluates it on
/// `offer`, or checks the error.
#[track_caller]
pub(super) fn check_on(offer: &Offer, input: &str, expected: Expect) {
    let actual = compile_constraint(input, &TestSchema).map(|constraint| constraint.eval(offer));
    match (actual, expected) {
        (Ok(truth), Expect::Is(want)) => assert_eq!(truth, want, "constraint {input:?}"),
        (Err(error), Expect::Fails(want)) => assert_eq!(error, want, "constraint {input:?}"),
        (actual, want) => panic!("constraint {input:?}: got {actual:?}, want {want:?}"),
    }
}

#[track_caller]
pub(super) fn check(input: &str, expected: Expect) {
    check_on(&offer(), input, expected);
}
