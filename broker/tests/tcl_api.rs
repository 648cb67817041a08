//! The constraint language as the rest of the broker uses it: through the
//! public API only, with the schema and offer types implemented outside the
//! `tcl` module.

use std::collections::HashMap;

use bourse_broker::tcl::{
    CompareOp, Expr, Literal, Properties, Schema, TclError, Truth, compile_constraint, compile_preference,
    conjuncts, parse_constraint,
};
use bourse_broker::value::{PropId, Value, ValueType};

struct Printers {
    ids: HashMap<&'static str, (PropId, ValueType)>,
}

impl Printers {
    fn new() -> Printers {
        let declared = [
            ("colour", ValueType::Bool),
            ("ppm", ValueType::Int),
            ("location", ValueType::String),
            ("languages", ValueType::StringSeq),
            ("queue_length", ValueType::UInt),
        ];
        let ids =
            declared.iter().enumerate().map(|(i, (name, ty))| (*name, (PropId(i as u32), *ty))).collect();
        Printers { ids }
    }
}

impl Schema for Printers {
    fn property(&self, name: &str) -> Option<(PropId, ValueType)> {
        self.ids.get(name).copied()
    }

    fn id_of(&self, name: &str) -> Option<PropId> {
        (name == "duplex").then_some(PropId(99))
    }
}

/// An offer whose `queue_length` may be dynamic: present, but without a
/// value until the broker asks the exporter.
struct Printer {
    values: HashMap<PropId, Value>,
    dynamic: Vec<PropId>,
}

impl Properties for Printer {
    fn get(&self, id: PropId) -> Option<&Value> {
        self.values.get(&id)
    }

    fn exists(&self, id: PropId) -> bool {
        self.values.contains_key(&id) || self.dynamic.contains(&id)
    }
}

fn printer(ppm: i64, location: &str, queue_length: Option<u64>) -> Printer {
    let mut values = HashMap::from([
        (PropId(0), Value::Bool(true)),
        (PropId(1), Value::Int(ppm)),
        (PropId(2), Value::String(location.into())),
        (PropId(3), Value::StringSeq(vec!["postscript".into(), "pcl".into()])),
    ]);
    let mut dynamic = Vec::new();
    match queue_length {
        Some(length) => {
            values.insert(PropId(4), Value::UInt(length));
        }
        None => dynamic.push(PropId(4)),
    }
    Printer { values, dynamic }
}

#[test]
fn dynamic_properties_are_fetched_only_when_the_answer_is_unknown() {
    let schema = Printers::new();
    let constraint = compile_constraint("ppm > 10 and queue_length < 5", &schema).expect("compiles");
    assert_eq!(constraint.referenced(), [PropId(1), PropId(4)]);
    // Without the dynamic value a slow printer is already out...
    assert_eq!(constraint.eval(&printer(5, "lab", None)), Truth::False);
    // ...while a fast one needs its queue length,
    assert_eq!(constraint.eval(&printer(20, "lab", None)), Truth::Unknown);
    // which decides once fetched.
    assert_eq!(constraint.eval(&printer(20, "lab", Some(2))), Truth::True);
    assert_eq!(constraint.eval(&printer(20, "lab", Some(9))), Truth::False);
}

#[test]
fn the_planner_can_read_top_level_conjuncts() {
    let expr = parse_constraint("'pcl' in languages and location == 'lab' and ppm >= 20 and exist duplex")
        .expect("parses");
    let mut plan = Vec::new();
    for conjunct in conjuncts(&expr) {
        match conjunct {
            Expr::In { value, seq_prop, .. } => {
                plan.push(format!("{seq_prop} contains {:?}", value.as_literal()));
            }
            Expr::Compare { op: CompareOp::Eq, lhs, rhs, .. } => {
                if let (Some(prop), Some(Literal::String(text))) = (lhs.as_prop(), rhs.as_literal()) {
                    plan.push(format!("{prop} = {text}"));
                }
            }
            Expr::Compare { op, lhs, rhs, .. } => plan.push(format!("range {lhs} {} {rhs}", op.symbol())),
            other => plan.push(format!("filter {other}")),
        }
    }
    assert_eq!(
        plan,
        [
            "languages contains Some(String(\"pcl\"))",
            "location = lab",
            "range ppm >= 20",
            "filter exist duplex"
        ]
    );
}

#[test]
fn errors_point_at_the_culprit() {
    let schema = Printers::new();
    let error = compile_constraint("ppm > 10 and colour == 'red'", &schema).expect_err("ill-typed");
    assert_eq!(error.pos(), 13);
    assert_eq!(
        error.to_string(),
        "at byte 13..28: '==' needs two numbers, two strings or two booleans, found a boolean and a string"
    );
    let error = compile_preference("max ppm ppm", &schema).expect_err("bad syntax");
    assert!(matches!(error, TclError::Syntax { pos: 8, .. }), "{error:?}");
}

#[test]
fn preferences_order_offers() {
    let schema = Printers::new();
    let offers = [printer(10, "a", Some(3)), printer(30, "b", None), printer(20, "c", Some(1))];
    let mut refs: Vec<&Printer> = offers.iter().collect();
    let preference = compile_preference("min queue_length", &schema).expect("compiles");
    preference.order(&mut refs, |offer| *offer, &mut rand::rng());
    let order: Vec<i64> = refs
        .iter()
        .map(|offer| match offer.get(PropId(1)) {
            Some(Value::Int(ppm)) => *ppm,
            _ => 0,
        })
        .collect();
    // The printer whose queue length is not known yet goes last.
    assert_eq!(order, [20, 10, 30]);
}
