//! Property tests: printing round-trips, evaluation and parsing never panic,
//! and the evaluation laws the broker relies on (monotonicity when dynamic
//! values arrive, commutative `and`/`or`).

use proptest::prelude::*;
use proptest::sample::select;

use super::{DECLARED, Offer, TestSchema, UNDECLARED};
use crate::tcl::{
    ArithOp, CompareOp, CompiledConstraint, Expr, Literal, Preference, Span, Truth, compile_constraint,
    compile_preference, parse_constraint, parse_preference,
};
use crate::value::{PropId, Record, Value};

const NUM_PROPS: &[&str] =
    &["i", "neg", "imin", "imax", "u", "umax", "d", "big", "missing_i", "clash", "dyn_i", "ubig", "zero"];
const STR_PROPS: &[&str] = &["s", "empty", "missing_s"];
const BOOL_PROPS: &[&str] = &["b_true", "b_false", "missing_b"];
const NUM_SEQS: &[&str] = &["is", "us", "ds", "empty_seq"];
const STR_SEQS: &[&str] = &["ss", "missing_seq", "bad_seq"];

fn names(extra: &[&'static str]) -> Vec<&'static str> {
    DECLARED
        .iter()
        .map(|(name, _)| *name)
        .chain(UNDECLARED.iter().copied())
        .chain(extra.iter().copied())
        .collect()
}

fn span() -> Span {
    Span::default()
}

fn literal(value: Literal) -> Expr {
    Expr::Literal { value, span: span() }
}

fn prop(name: &str) -> Expr {
    Expr::Prop { name: name.into(), span: span() }
}

fn exist(name: &str) -> Expr {
    Expr::Exist { name: name.into(), span: span() }
}

fn neg(operand: Expr) -> Expr {
    Expr::Neg { operand: Box::new(operand), span: span() }
}

fn not(operand: Expr) -> Expr {
    Expr::Not { operand: Box::new(operand), span: span() }
}

fn arith((op, lhs, rhs): (ArithOp, Expr, Expr)) -> Expr {
    Expr::Arith { op, lhs: Box::new(lhs), rhs: Box::new(rhs), span: span() }
}

fn compare((op, lhs, rhs): (CompareOp, Expr, Expr)) -> Expr {
    Expr::Compare { op, lhs: Box::new(lhs), rhs: Box::new(rhs), span: span() }
}

fn substring((needle, haystack): (Expr, Expr)) -> Expr {
    Expr::Substring { needle: Box::new(needle), haystack: Box::new(haystack), span: span() }
}

fn member((value, seq): (Expr, &str)) -> Expr {
    Expr::In { value: Box::new(value), seq_prop: seq.into(), seq_span: span(), span: span() }
}

fn and(operands: Vec<Expr>) -> Expr {
    Expr::And { operands, span: span() }
}

fn or(operands: Vec<Expr>) -> Expr {
    Expr::Or { operands, span: span() }
}

/// Operands of an n-ary `and`/`or`: at least two.
fn operands(inner: BoxedStrategy<Expr>) -> impl Strategy<Value = Vec<Expr>> {
    prop::collection::vec(inner, 2..4)
}

/// Numbers as the parser produces them: `UInt` only above `i64::MAX`,
/// doubles finite.
fn number() -> impl Strategy<Value = Literal> {
    prop_oneof![
        (0i64..10).prop_map(Literal::Int),
        any::<i64>().prop_map(Literal::Int),
        ((1u64 << 63)..=u64::MAX).prop_map(Literal::UInt),
        any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(Literal::Double),
        select(vec![0.5, -0.0, 0.0, 1e300, 5e-324, 9_007_199_254_740_992.0]).prop_map(Literal::Double),
    ]
}

fn any_literal() -> impl Strategy<Value = Literal> {
    prop_oneof![number(), any::<bool>().prop_map(Literal::Bool), any::<String>().prop_map(Literal::String)]
}

fn arith_op() -> impl Strategy<Value = ArithOp> {
    select(vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div])
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    select(vec![CompareOp::Eq, CompareOp::Ne, CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge])
}

/// A literal zero divisor is a static error; well-typed trees avoid it.
fn no_literal_zero_divisor((op, lhs, rhs): (ArithOp, Expr, Expr)) -> (ArithOp, Expr, Expr) {
    let zero =
        matches!(rhs.as_literal(), Some(Literal::Int(0) | Literal::UInt(0)) | Some(Literal::Double(0.0)));
    if op == ArithOp::Div && zero { (op, lhs, literal(Literal::Int(1))) } else { (op, lhs, rhs) }
}

fn num_expr() -> BoxedStrategy<Expr> {
    let leaf = prop_oneof![number().prop_map(literal), select(NUM_PROPS).prop_map(prop)];
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(neg),
            (arith_op(), inner.clone(), inner).prop_map(no_literal_zero_divisor).prop_map(arith),
        ]
    })
    .boxed()
}

fn str_expr() -> BoxedStrategy<Expr> {
    prop_oneof![any::<String>().prop_map(|s| literal(Literal::String(s))), select(STR_PROPS).prop_map(prop)]
        .boxed()
}

/// Well-typed boolean expressions over the fixture schema.
fn bool_expr() -> BoxedStrategy<Expr> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(|b| literal(Literal::Bool(b))),
        select(BOOL_PROPS).prop_map(prop),
        select(names(&["nowhere"])).prop_map(exist),
        (compare_op(), num_expr(), num_expr()).prop_map(compare),
        (compare_op(), str_expr(), str_expr()).prop_map(compare),
        (str_expr(), str_expr()).prop_map(substring),
        (num_expr(), select(NUM_SEQS)).prop_map(member),
        (str_expr(), select(STR_SEQS)).prop_map(member),
    ];
    leaf.prop_recursive(4, 32, 2, |inner| {
        prop_oneof![
            operands(inner.clone()).prop_map(and),
            operands(inner.clone()).prop_map(or),
            inner.clone().prop_map(not),
            (select(vec![CompareOp::Eq, CompareOp::Ne]), inner.clone(), inner.clone()).prop_map(compare),
            (inner, Just("bs")).prop_map(member),
        ]
    })
    .boxed()
}

/// Any tree the parser can produce, typed or not.
fn any_expr() -> BoxedStrategy<Expr> {
    let all_names = names(&["nowhere", "x", "_"]);
    let leaf = prop_oneof![
        any_literal().prop_map(literal),
        select(all_names.clone()).prop_map(prop),
        select(all_names.clone()).prop_map(exist),
    ];
    leaf.prop_recursive(4, 32, 2, move |inner| {
        prop_oneof![
            inner.clone().prop_map(neg),
            inner.clone().prop_map(not),
            (arith_op(), inner.clone(), inner.clone()).prop_map(arith),
            (inner.clone(), inner.clone()).prop_map(substring),
            (inner.clone(), select(all_names.clone())).prop_map(member),
            (compare_op(), inner.clone(), inner.clone()).prop_map(compare),
            operands(inner.clone()).prop_map(and),
            operands(inner).prop_map(or),
        ]
    })
    .boxed()
}

fn any_value() -> impl Strategy<Value = Value> {
    let small = || prop::collection::vec(any::<i64>(), 0..4);
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-3i64..3).prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        any::<f64>().prop_map(Value::Double),
        select(vec!["", "a", "hello", "b c"]).prop_map(|s| Value::String(s.into())),
        any::<String>().prop_map(Value::String),
        prop::collection::vec(any::<bool>(), 0..3).prop_map(Value::BoolSeq),
        small().prop_map(Value::IntSeq),
        prop::collection::vec(any::<u64>(), 0..4).prop_map(Value::UIntSeq),
        prop::collection::vec(any::<f64>(), 0..4).prop_map(Value::DoubleSeq),
        prop::collection::vec(select(vec!["a", "b c", "x"]).prop_map(String::from), 0..4)
            .prop_map(Value::StringSeq),
        Just(Value::Records(vec![Record { fields: vec![] }])),
    ]
}

/// How an offer holds one property.
#[derive(Debug, Clone)]
enum Slot {
    Absent,
    /// A dynamic property not evaluated yet.
    Dynamic,
    Value(Value),
}

fn slot() -> impl Strategy<Value = Slot> {
    prop_oneof![1 => Just(Slot::Absent), 1 => Just(Slot::Dynamic), 4 => any_value().prop_map(Slot::Value)]
}

fn all_ids() -> Vec<PropId> {
    (0..DECLARED.len() as u32)
        .map(PropId)
        .chain((0..UNDECLARED.len() as u32).map(|i| PropId(100 + i)))
        .collect()
}

fn any_offer() -> impl Strategy<Value = Offer> {
    prop::collection::vec(slot(), all_ids().len()).prop_map(|slots| {
        let mut offer = Offer::default();
        for (id, slot) in all_ids().into_iter().zip(slots) {
            match slot {
                Slot::Absent => {}
                Slot::Dynamic => {
                    offer.dynamic.insert(id);
                }
                Slot::Value(value) => {
                    offer.values.insert(id, value);
                }
            }
        }
        offer
    })
}

/// The same offer before its dynamic properties are evaluated: each value
/// kept or turned into an unevaluated dynamic property.
fn partial_of(offer: &Offer, keep: &[bool]) -> Offer {
    let mut partial = offer.clone();
    for (index, id) in all_ids().into_iter().enumerate() {
        if !keep.get(index).copied().unwrap_or(true) && partial.values.remove(&id).is_some() {
            partial.dynamic.insert(id);
        }
    }
    partial
}

/// Tokens to glue into nearly-valid texts, so that random inputs get past
/// the first token.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "a",
        "i",
        "s",
        "is",
        "ss",
        "(",
        ")",
        "and",
        "or",
        "not",
        "exist",
        "in",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "~",
        "0",
        "1",
        "2.5",
        ".5",
        "1e5",
        "3.",
        "'x'",
        "'it\\'s'",
        "TRUE",
        "FALSE",
        "min",
        "max",
        "with",
        "random",
        "first",
        "-",
        "9223372036854775808",
        "18446744073709551616",
        "'",
        "\\",
        "=",
        "!",
        "1e",
        "\u{e9}",
    ];
    (prop::collection::vec(select(tokens), 0..24), any::<bool>())
        .prop_map(|(parts, spaced)| parts.join(if spaced { " " } else { "" }))
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn well_typed_trees_print_parse_and_compile(expr in bool_expr()) {
        let text = expr.to_string();
        let parsed = parse_constraint(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&expr), "text: {}", text);
        // Well-typed by construction, so the checker must accept it.
        let compiled = compile_constraint(&text, &TestSchema);
        prop_assert!(compiled.is_ok(), "{} does not compile: {:?}", text, compiled.err());
    }

    #[test]
    fn any_tree_prints_and_parses_back(expr in any_expr()) {
        let text = expr.to_string();
        prop_assert_eq!(parse_constraint(&text), Ok(expr), "text: {}", text);
    }

    #[test]
    fn preferences_print_and_parse_back(expr in num_expr(), test in bool_expr(), kind in 0..5u8) {
        let preference = match kind {
            0 => Preference::Min(expr),
            1 => Preference::Max(expr),
            2 => Preference::With(test),
            3 => Preference::Random,
            _ => Preference::First,
        };
        let text = preference.to_string();
        prop_assert_eq!(parse_preference(&text), Ok(preference), "text: {}", text);
        prop_assert!(compile_preference(&text, &TestSchema).is_ok());
    }

    #[test]
    fn evaluation_never_panics(expr in any_expr(), typed in bool_expr(), offer in any_offer()) {
        for expr in [expr, typed] {
            if let Ok(constraint) = CompiledConstraint::new(&expr, &TestSchema) {
                let _ = constraint.eval(&offer);
            }
            for preference in [Preference::Min(expr.clone()), Preference::Max(expr.clone()), Preference::With(expr)] {
                if let Ok(preference) = crate::tcl::CompiledPreference::new(&preference, &TestSchema) {
                    let mut items = vec![offer.clone(), Offer::default(), offer.clone()];
                    preference.order(&mut items, |offer| offer, &mut rand::rng());
                }
            }
        }
    }

    #[test]
    fn evaluation_is_monotone_in_dynamic_values(
        expr in bool_expr(),
        offer in any_offer(),
        keep in prop::collection::vec(any::<bool>(), 32),
    ) {
        let constraint = CompiledConstraint::new(&expr, &TestSchema).expect("well-typed");
        let partial = partial_of(&offer, &keep);
        let before = constraint.eval(&partial);
        let after = constraint.eval(&offer);
        if before != Truth::Unknown {
            prop_assert_eq!(before, after, "{}", expr);
        }
    }

    #[test]
    fn and_or_commute(lhs in bool_expr(), rhs in bool_expr(), offer in any_offer()) {
        let eval = |expr: Expr| CompiledConstraint::new(&expr, &TestSchema).expect("well-typed").eval(&offer);
        prop_assert_eq!(eval(and(vec![lhs.clone(), rhs.clone()])), eval(and(vec![rhs.clone(), lhs.clone()])));
        prop_assert_eq!(eval(or(vec![lhs.clone(), rhs.clone()])), eval(or(vec![rhs, lhs])));
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse_constraint(&text);
        let _ = parse_preference(&text);
        let _ = compile_constraint(&text, &TestSchema);
    }

    #[test]
    fn parsed_token_soup_round_trips(text in token_soup()) {
        if let Ok(expr) = parse_constraint(&text) {
            prop_assert_eq!(parse_constraint(&expr.to_string()), Ok(expr));
        }
        if let Ok(preference) = parse_preference(&text) {
            prop_assert_eq!(parse_preference(&preference.to_string()), Ok(preference));
        }
        if let Ok(constraint) = compile_constraint(&text, &TestSchema) {
            let _ = constraint.eval(&super::offer());
        }
    }

    #[test]
    fn integer_double_comparison_agrees_with_exact_references(n in any::<i64>(), d in any::<f64>()) {
        use crate::tcl::num::Num;
        let got = Num::Int(n).compare(Num::Double(d));
        if d.is_nan() {
            prop_assert_eq!(got, None);
        } else if n.unsigned_abs() <= 1 << 53 {
            // Exactly representable: the double comparison is exact.
            prop_assert_eq!(got, (n as f64).partial_cmp(&d));
        }
        if d.fract() == 0.0 && d.abs() < 1e18 {
            prop_assert_eq!(got, Some(i128::from(n).cmp(&(d as i128))));
        }
        let u = n as u64;
        if d.fract() == 0.0 && d.abs() < 1e19 {
            prop_assert_eq!(Num::UInt(u).compare(Num::Double(d)), Some(i128::from(u).cmp(&(d as i128))));
        }
    }
}

/// Escapes a string for a TCL literal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

proptest! {
    #![proptest_config(config())]

    /// The string nodes specialised for literals (packed short strings, the
    /// direct substring scan) agree with the standard library.
    #[test]
    fn string_literal_tests_agree_with_std(
        needle in "[ab\u{e9}]{0,10}",
        haystack in "[ab\u{e9}]{0,80}",
        items in prop::collection::vec("[ab]{0,9}", 0..4),
    ) {
        let offer = super::offer()
            .with("s", Value::String(haystack.clone()))
            .with("ss", Value::StringSeq(items.clone()));
        let eval = |text: String| compile_constraint(&text, &TestSchema).expect("compiles").eval(&offer);
        let literal = quoted(&needle);
        prop_assert_eq!(eval(format!("{literal} ~ s")), Truth::from(haystack.contains(needle.as_str())));
        prop_assert_eq!(eval(format!("s == {literal}")), Truth::from(haystack == needle));
        prop_assert_eq!(eval(format!("{literal} != s")), Truth::from(haystack != needle));
        prop_assert_eq!(eval(format!("s < {literal}")), Truth::from(haystack < needle));
        prop_assert_eq!(eval(format!("{literal} in ss")), Truth::from(items.contains(&needle)));
        prop_assert_eq!(eval("s in ss".to_owned()), Truth::from(items.contains(&haystack)));
        prop_assert_eq!(eval(format!("s ~ {literal}")), Truth::from(needle.contains(haystack.as_str())));
    }
}
