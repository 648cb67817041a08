//! Preferences: ordering, stability, unevaluable offers last, a real shuffle.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Expect, Offer, TestSchema, id, type_error};
use crate::tcl::{TclError, compile_preference};
use crate::value::Value;

/// Orders offers whose `i` holds the given values (None: absent) and
/// returns their original positions in the new order.
#[track_caller]
fn order(preference: &str, values: &[Option<Value>]) -> Vec<usize> {
    let mut items: Vec<(usize, Offer)> = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let mut offer = Offer::default().with("zero", Value::Int(0));
            if let Some(value) = value {
                offer = offer.with("i", value.clone());
            }
            (index, offer)
        })
        .collect();
    let compiled =
        compile_preference(preference, &TestSchema).unwrap_or_else(|e| panic!("{preference}: {e}"));
    compiled.order(&mut items, |(_, offer)| offer, &mut StdRng::seed_from_u64(7));
    items.into_iter().map(|(index, _)| index).collect()
}

fn int(v: i64) -> Option<Value> {
    Some(Value::Int(v))
}

#[test]
fn min_ascends_and_max_descends_with_unevaluable_last() {
    let values = [int(3), None, int(1), Some(Value::Double(2.5)), Some(Value::UInt(1)), int(-1)];
    assert_eq!(order("min i", &values), [5, 2, 4, 3, 0, 1]);
    assert_eq!(order("max i", &values), [0, 3, 2, 4, 5, 1]);
    assert_eq!(order("min -i", &values), [0, 3, 2, 4, 5, 1]);
    assert_eq!(order("max i * 0 + 1", &values), [0, 2, 3, 4, 5, 1]);
}

#[test]
fn min_and_max_order_exactly_across_types() {
    let values = [
        Some(Value::UInt(u64::MAX)),
        Some(Value::Double(18_446_744_073_709_551_616.0)),
        int(i64::MAX),
        Some(Value::Double(9_223_372_036_854_775_808.0)),
        int(i64::MIN),
    ];
    assert_eq!(order("max i", &values), [1, 0, 3, 2, 4]);
    assert_eq!(order("min i", &values), [4, 2, 3, 0, 1]);
}

#[test]
fn ties_keep_discovery_order() {
    let values = [int(1), Some(Value::Double(1.0)), Some(Value::UInt(1)), int(0), int(1)];
    assert_eq!(order("min i", &values), [3, 0, 1, 2, 4]);
    assert_eq!(order("max i", &values), [0, 1, 2, 4, 3]);
    assert_eq!(order("max 5", &values), [0, 1, 2, 3, 4]);
}

#[test]
fn offers_that_cannot_be_evaluated_go_last_in_discovery_order() {
    let values = [
        Some(Value::String("x".into())),
        int(5),
        Some(Value::Double(f64::NAN)),
        None,
        int(2),
        Some(Value::Bool(true)),
    ];
    assert_eq!(order("min i", &values), [4, 1, 0, 2, 3, 5]);
    assert_eq!(order("max i", &values), [1, 4, 0, 2, 3, 5]);
    assert_eq!(order("min i / zero", &values), [0, 1, 2, 3, 4, 5]);
    assert_eq!(order("max i + 18446744073709551615", &[int(1), int(0), int(-1)]), [1, 2, 0]);
}

#[test]
fn with_puts_true_first_then_false_and_unknown_in_discovery_order() {
    let values = [int(2), int(0), None, int(5), int(1), Some(Value::String("9".into()))];
    assert_eq!(order("with i > 1", &values), [0, 3, 1, 2, 4, 5]);
    assert_eq!(order("with i <= 1", &values), [1, 4, 0, 2, 3, 5]);
    assert_eq!(order("with exist i", &values), [0, 1, 3, 4, 5, 2]);
    assert_eq!(order("with FALSE", &values), [0, 1, 2, 3, 4, 5]);
    assert_eq!(order("with i > 1 or TRUE", &values), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn first_and_empty_keep_discovery_order() {
    let values = [int(3), None, int(1), int(2)];
    assert_eq!(order("first", &values), [0, 1, 2, 3]);
    assert_eq!(order("", &values), [0, 1, 2, 3]);
    assert_eq!(order("  ", &values), [0, 1, 2, 3]);
}

#[test]
fn random_is_a_uniform_permutation() {
    const N: usize = 6;
    const RUNS: usize = 1200;
    let preference = compile_preference("random", &TestSchema).expect("compiles");
    let offer = Offer::default();
    let mut rng = StdRng::seed_from_u64(2024);
    let mut first_counts = [0usize; N];
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..RUNS {
        let mut items: Vec<(usize, &Offer)> = (0..N).map(|index| (index, &offer)).collect();
        preference.order(&mut items, |(_, offer)| *offer, &mut rng);
        let items: Vec<usize> = items.into_iter().map(|(index, _)| index).collect();
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..N).collect::<Vec<_>>(), "a permutation");
        first_counts[items[0]] += 1;
        distinct.insert(items);
    }
    // 720 orders exist; 1200 uniform draws see most of them.
    assert!(distinct.len() > 500, "only {} distinct orders", distinct.len());
    // Each item leads about RUNS / N = 200 times.
    for (item, count) in first_counts.iter().enumerate() {
        assert!((140..=260).contains(count), "item {item} led {count} times of {RUNS}");
    }
}

#[test]
fn an_empty_or_single_list_is_fine() {
    let offer = Offer::default();
    for text in ["min i", "max i", "with b_true", "random", "first"] {
        let preference = compile_preference(text, &TestSchema).expect("compiles");
        let mut rng = StdRng::seed_from_u64(1);
        let mut empty: Vec<&Offer> = Vec::new();
        preference.order(&mut empty, |offer| *offer, &mut rng);
        let mut one = vec![&offer];
        preference.order(&mut one, |offer| *offer, &mut rng);
        assert_eq!(one.len(), 1);
    }
}

#[track_caller]
fn pref_check(text: &str, expected: Expect) {
    let Expect::Fails(want) = expected else { panic!("only errors here") };
    let got: Result<_, TclError> = compile_preference(text, &TestSchema).map(|_| ());
    assert_eq!(got, Err(want), "preference {text:?}");
}

#[test]
fn preference_type_errors() {
    pref_check("min s", type_error(4, 5, "'min' needs a numeric expression, found a string"));
    pref_check("max b_true", type_error(4, 10, "'max' needs a numeric expression, found a boolean"));
    pref_check("max (i > 1)", type_error(4, 11, "'max' needs a numeric expression, found a boolean"));
    pref_check("with i", type_error(5, 6, "'with' needs a boolean expression, found a number"));
    pref_check("with 'x'", type_error(5, 8, "'with' needs a boolean expression, found a string"));
    pref_check("min nope", type_error(4, 8, "unknown property 'nope'"));
    pref_check("with nope == 1", type_error(5, 9, "unknown property 'nope'"));
    pref_check("min 1 / 0", type_error(8, 9, "division by zero"));
    pref_check(
        "min is",
        type_error(
            4,
            6,
            "property 'is' is a sequence (int64_seq); a sequence can only be the right operand of 'in'",
        ),
    );
    pref_check("min", super::syntax(3, "an expression after 'min'", "end of input"));
}

#[test]
fn preference_referenced_properties() {
    let referenced =
        |text: &str| compile_preference(text, &TestSchema).expect("compiles").referenced().to_vec();
    let mut want = vec![id("i"), id("d")];
    want.sort();
    assert_eq!(referenced("min i + d * i"), want);
    assert_eq!(referenced("with 'a' in ss"), [id("ss")]);
    assert_eq!(referenced("with exist extra"), []);
    assert_eq!(referenced("random"), []);
    assert_eq!(referenced("first"), []);
    assert_eq!(referenced("max 1 + 2"), []);
}
