//! Fuzzes the constraint and preference parsers: no input may panic, and
//! whatever parses must print to text that parses back to the same tree.
//! Accepted constraints are also compiled and evaluated against a small
//! schema, which must not panic either.

#![no_main]

use bourse_broker::tcl::{
    CompiledConstraint, CompiledPreference, Properties, Schema, parse_constraint, parse_preference,
};
use bourse_broker::value::{PropId, Value, ValueType};
use libfuzzer_sys::fuzz_target;

/// A few properties of each kind; names are one letter so that random
/// inputs hit them.
const PROPERTIES: &[(&str, ValueType)] = &[
    ("a", ValueType::Int),
    ("b", ValueType::Bool),
    ("d", ValueType::Double),
    ("s", ValueType::String),
    ("u", ValueType::UInt),
    ("S", ValueType::StringSeq),
    ("I", ValueType::IntSeq),
    ("B", ValueType::BoolSeq),
    ("D", ValueType::DoubleSeq),
    ("R", ValueType::Records),
    ("m", ValueType::Int),
];

struct FuzzSchema;

impl Schema for FuzzSchema {
    fn property(&self, name: &str) -> Option<(PropId, ValueType)> {
        let index = PROPERTIES.iter().position(|(n, _)| *n == name)?;
        Some((PropId(index as u32), PROPERTIES[index].1))
    }

    fn id_of(&self, name: &str) -> Option<PropId> {
        (name == "x").then_some(PropId(100))
    }
}

/// Values for every property but `m`, some of another type than declared.
struct FuzzOffer(Vec<Option<Value>>);

impl FuzzOffer {
    fn new() -> FuzzOffer {
        FuzzOffer(vec![
            Some(Value::Int(i64::MIN)),
            Some(Value::Bool(true)),
            Some(Value::Double(0.5)),
            Some(Value::String("abc".into())),
            Some(Value::String("not a number".into())),
            Some(Value::StringSeq(vec!["abc".into(), String::new()])),
            Some(Value::IntSeq(vec![0, -1, i64::MAX])),
            Some(Value::BoolSeq(vec![false])),
            Some(Value::DoubleSeq(vec![1e300, -0.0])),
            Some(Value::Records(Vec::new())),
            None,
        ])
    }
}

impl Properties for FuzzOffer {
    fn get(&self, id: PropId) -> Option<&Value> {
        self.0.get(id.0 as usize)?.as_ref()
    }

    fn exists(&self, id: PropId) -> bool {
        self.get(id).is_some() || id == PropId(100)
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(expr) = parse_constraint(text) {
        let printed = expr.to_string();
        let reparsed = parse_constraint(&printed).expect("a printed constraint parses");
        assert_eq!(reparsed, expr, "constraint {text:?} printed as {printed:?}");
        if let Ok(constraint) = CompiledConstraint::new(&expr, &FuzzSchema) {
            let _ = constraint.eval(&FuzzOffer::new());
        }
    }
    if let Ok(preference) = parse_preference(text) {
        let printed = preference.to_string();
        let reparsed = parse_preference(&printed).expect("a printed preference parses");
        assert_eq!(reparsed, preference, "preference {text:?} printed as {printed:?}");
        if let Ok(preference) = CompiledPreference::new(&preference, &FuzzSchema) {
            let offers = [FuzzOffer::new(), FuzzOffer(Vec::new())];
            let mut refs: Vec<&FuzzOffer> = offers.iter().collect();
            let mut rng = rand::rng();
            preference.order(&mut refs, |offer| *offer, &mut rng);
        }
    }
});
