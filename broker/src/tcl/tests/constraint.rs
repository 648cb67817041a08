//! Constraint evaluation and static checking, one case per line, against the
//! fixture schema and offer of `tests/mod.rs`.

use super::{F, T, U, check, check_on, offer, syntax, type_error};
use crate::tcl::Truth;

#[test]
fn empty_constraint_is_true() {
    check("", T);
    check("   ", T);
    check("\t\r\n ", T);
}

#[test]
fn boolean_literals_and_properties() {
    check("TRUE", T);
    check("FALSE", F);
    check("(TRUE)", T);
    check("((FALSE))", F);
    check("b_true", T);
    check("b_false", F);
    check("missing_b", U);
    check("dyn_i == 1", U);
}

#[test]
fn integer_literals() {
    check("i == 42", T);
    check("42 == i", T);
    check("00042 == i", T);
    check("0 == zero", T);
    check("-0 == zero", T);
    check("neg == -7", T);
    check("neg == - 7", T);
    check("imax == 9223372036854775807", T);
    check("imin == -9223372036854775808", T);
    check("-9223372036854775808 == imin", T);
    check("imin == -9223372036854775807 - 1", T);
    check("ubig == 9223372036854775808", T);
    check("umax == 18446744073709551615", T);
    check("18446744073709551615 == umax", T);
    check("umax == 18446744073709551614", F);
}

#[test]
fn float_literals() {
    check("d == 2.5", T);
    check("d == 2.50", T);
    check("d == 25e-1", T);
    check("d == 25E-1", T);
    check("d == .25e1", T);
    check("d == 0.25E+1", T);
    check("d == 250e-2", T);
    check("3. == 3", T);
    check(".5 == 0.5", T);
    check("1e3 == 1000", T);
    check("1E3 == 1000", T);
    check("1e+3 == 1000", T);
    check("1.e2 == 100", T);
    check("1e-2 == 0.01", T);
    check("0.0 == 0", T);
    check("-0.0 == 0", T);
    check("-2.5 == -d", T);
    check("1e-400 == 0", T);
    check("1.7976931348623157e308 > 1e308", T);
    check("0.1 + 0.2 == 0.3", F);
}

#[test]
fn string_literals() {
    check("s == 'hello'", T);
    check("'hello' == s", T);
    check("s == 'Hello'", F);
    check("empty == ''", T);
    check("'' == empty", T);
    check("'a b' == 'a b'", T);
    check("'it\\'s' in ss", T);
    check("'back\\\\slash' in ss", T);
    check("'back\\slash' in ss", syntax(5, "\\' or \\\\ (the only escapes in a string)", "'\\s'"));
    check("'\u{e9}t\u{e9}' == '\u{e9}t\u{e9}'", T);
    check("'and' == 'and'", T);
    check("'TRUE' == 'TRUE'", T);
}

#[test]
fn arithmetic() {
    check("1 + 2 == 3", T);
    check("i - 2 == 40", T);
    check("i-2 == 40", T);
    check("i+1 == 43", T);
    check("i*2 == 84", T);
    check("2 * 3 + 1 == 7", T);
    check("1 + 2 * 3 == 7", T);
    check("2 + 3 * 4 == 14", T);
    check("(2 + 3) * 4 == 20", T);
    check("10 - 2 - 3 == 5", T);
    check("10 - (2 - 3) == 11", T);
    check("100 / 10 / 5 == 2", T);
    check("100 / (10 / 5) == 50", T);
    check("7 / 2 == 3", T);
    check("-7 / 2 == -3", T);
    check("7 / -2 == -3", T);
    check("neg / 2 == -3", T);
    check("7.0 / 2 == 3.5", T);
    check("7 / 2.0 == 3.5", T);
    check("d * 2 == 5", T);
    check("d + u == 9.5", T);
    check("d / 0.5 == 5", T);
    check("u - 8 == -1", T);
    check("u - u == zero", T);
    check("umax - umax == 0", T);
    check("umax - 1 == 18446744073709551614", T);
    check("imax + 1 == 9223372036854775808", T);
    check("imax + imax + 1 == umax", T);
    check("imin * -1 == 9223372036854775808", T);
    check("imin / -1 == ubig", T);
    check("-imin == ubig", T);
    check("-ubig == imin", T);
    check("-umax < 0", U);
    check("--5 == 5", T);
    check("- -5 == 5", T);
    check("-(-5) == 5", T);
    check("-(2 + 3) == -5", T);
    check("-d == -2.5", T);
    check("- - d == d", T);
    check("-neg == 7", T);
}

#[test]
fn arithmetic_overflow_and_division_by_zero_are_unknown() {
    check("umax + 1 > 0", U);
    check("umax * 2 > 0", U);
    check("umax * umax > 0", U);
    check("imin - 1 < 0", U);
    check("imin - umax < 0", U);
    check("imin * imin > 0", U);
    check("i / zero == 0", U);
    check("zero / zero == 0", U);
    check("i / (zero * 2) == 0", U);
    check("d / zero > 0", U);
    check("i / (d - 2.5) > 0", U);
    check("1e308 * 10 > 0", U);
    check("-1e308 * 10 < 0", U);
    check("1 / (1 - 1) == 0", U);
    check("1 / (1 - 1) == 0 or TRUE", T);
    check("18446744073709551615 + 1 > 0", U);
    check("umax + 1 > 0 or i == 42", T);
    check("not (umax + 1 > 0)", U);
}

#[test]
fn literal_division_by_zero_is_rejected() {
    check("i / 0 == 0", type_error(4, 5, "division by zero"));
    check("i / 0.0 > 1", type_error(4, 7, "division by zero"));
    check("i / -0 > 1", type_error(4, 6, "division by zero"));
    check("i / (0) > 1", type_error(4, 7, "division by zero"));
    check("i / 0e5 > 1", type_error(4, 7, "division by zero"));
}

#[test]
fn mixed_numeric_comparisons_are_exact() {
    check("umax > -1", T);
    check("-1 < 18446744073709551615", T);
    check("-1 < umax", T);
    check("umax > imax", T);
    check("imin < umax", T);
    check("imin < 0", T);
    check("imin < u", T);
    check("u > neg", T);
    check("neg < u", T);
    check("ubig > imax", T);
    check("ubig == imax + 1", T);
    check("9007199254740993 > 9007199254740992.0", T);
    check("9007199254740993 > big", T);
    check("9007199254740993 != big", T);
    check("9007199254740993 == big", F);
    check("9007199254740992 == big", T);
    check("big < 9007199254740993", T);
    check("big + 1 == big", T);
    check("18446744073709551615 < 18446744073709551616.0", T);
    check("umax < 1.8446744073709552e19", T);
    check("umax == 1.8446744073709552e19", F);
    check("umax < 1e20", T);
    check("imin == -9.223372036854775808e18", T);
    check("imin > -1e19", T);
    check("imin < -9.2e18", T);
    check("imax < 9223372036854775808.0", T);
    check("imax == 9223372036854775807.0", F);
    check("ubig == 9223372036854775808.0", T);
    check("u == 7.0", T);
    check("u < 7.5", T);
    check("u > 6.999", T);
    check("u >= 7", T);
    check("u <= 7", T);
    check("u != 7.0", F);
    check("neg < -6.5", T);
    check("neg > -7.5", T);
    check("neg == -7.0", T);
    check("neg <= -7.0", T);
    check("zero == -0.0", T);
    check("d > 2", T);
    check("d < 3", T);
    check("2 < d", T);
    check("d >= 2.5", T);
    check("d <= 2.5", T);
    check("d < 2.5", F);
    check("d != 2.5", F);
}

#[test]
fn string_comparisons_are_bytewise() {
    check("s < 'help'", T);
    check("s > 'hell'", T);
    check("s >= 'hello'", T);
    check("s <= 'hello'", T);
    check("s < 'hello'", F);
    check("s != 'hello'", F);
    check("s != 'world'", T);
    check("'B' < 'a'", T);
    check("'' < s", T);
    check("empty < 'a'", T);
    check("'\u{e9}' > 'z'", T);
    check("missing_s < 'a'", U);
    check("missing_s == missing_s", U);
}

#[test]
fn boolean_equality() {
    check("b_true == TRUE", T);
    check("TRUE == b_true", T);
    check("b_true != b_false", T);
    check("b_false == FALSE", T);
    check("TRUE == FALSE", F);
    check("TRUE != FALSE", T);
    check("missing_b == TRUE", U);
    check("missing_b != missing_b", U);
    check("(i == 42) == (s == 'hello')", T);
    check("(i == 42) != (s == 'x')", T);
    check("b_true < b_false", type_error(0, 16, "'<' is not defined on booleans; only '==' and '!=' are"));
    check("TRUE >= FALSE", type_error(0, 13, "'>=' is not defined on booleans; only '==' and '!=' are"));
}

#[test]
fn substring() {
    check("'ell' ~ s", T);
    check("'hello' ~ s", T);
    check("'h' ~ s", T);
    check("'o' ~ s", T);
    check("'' ~ s", T);
    check("'' ~ empty", T);
    check("'x' ~ empty", F);
    check("'Ell' ~ s", F);
    check("'hello!' ~ s", F);
    check("s ~ 'ell'", F);
    check("s ~ 'say hello!'", T);
    check("'a' ~ 'cat'", T);
    check("'x' ~ missing_s", U);
    check("missing_s ~ s", U);
    check("'ell' ~ s == TRUE", T);
    check("not ('ell' ~ s)", F);
}

#[test]
fn membership_in_sequences() {
    check("1 in is", T);
    check("-2 in is", T);
    check("2 in is", F);
    check("-9223372036854775808 in is", T);
    check("imin in is", T);
    check("1.0 in is", T);
    check("1.5 in is", F);
    check("ubig in is", F);
    check("3 in ds", F);
    check("1 in ds", T);
    check("0.5 in ds", T);
    check("d in ds", F);
    check("18446744073709551615 in us", T);
    check("umax in us", T);
    check("5 in us", T);
    check("5.0 in us", T);
    check("-1 in us", F);
    check("u in us", F);
    check("u - 2 in us", T);
    check("i in empty_seq", F);
    check("'a' in ss", T);
    check("'b' in ss", F);
    check("'b c' in ss", T);
    check("s in ss", F);
    check("empty in ss", F);
    check("TRUE in bs", T);
    check("FALSE in bs", F);
    check("b_false in bs", F);
    check("b_true in bs", T);
    check("(i == 42) in bs", T);
    check("missing_b in bs", U);
    check("missing_i in is", U);
    check("'a' in missing_seq", U);
    check("'a' in bad_seq", U);
    check("1 in is == TRUE", T);
    check("(1 in is) == (2 in is)", F);
    check("not ('zz' in ss)", T);
    check("not ('a' in ss)", F);
}

#[test]
fn membership_type_errors() {
    check("1 in s", type_error(5, 6, "'in' needs a sequence property on the right; 's' has type string"));
    check("1 in i", type_error(5, 6, "'in' needs a sequence property on the right; 'i' has type int64"));
    check(
        "1 in rec",
        type_error(5, 8, "'in' needs a sequence property on the right; 'rec' has type record_list"),
    );
    check("1 in nope", type_error(5, 9, "unknown property 'nope'"));
    check("1 in extra", type_error(5, 10, "unknown property 'extra'"));
    check("'a' in is", type_error(0, 9, "cannot look for a string in the int64_seq 'is'"));
    check("TRUE in ds", type_error(0, 10, "cannot look for a boolean in the double_seq 'ds'"));
    check("1 in bs", type_error(0, 7, "cannot look for a number in the bool_seq 'bs'"));
    check("1 in missing_seq", type_error(0, 16, "cannot look for a number in the string_seq 'missing_seq'"));
    check("'a' in us", type_error(0, 9, "cannot look for a string in the uint64_seq 'us'"));
    check("nope in ss", type_error(0, 4, "unknown property 'nope'"));
    check("not 'a' in ss", type_error(4, 7, "'not' needs a boolean operand, found a string"));
}

#[test]
fn missing_properties_make_the_offer_fail() {
    check("missing_i == 1", U);
    check("missing_i != 1", U);
    check("missing_i < 1", U);
    check("not (missing_i == 1)", U);
    check("missing_i + 1 > 0", U);
    check("missing_i * 0 == 0", U);
    check("-missing_i == 0", U);
    check("missing_i == missing_i", U);
    check("1 in is and missing_i == 1", U);
}

#[test]
fn kleene_logic() {
    check("missing_i == 1 or TRUE", T);
    check("TRUE or missing_i == 1", T);
    check("missing_i == 1 and FALSE", F);
    check("FALSE and missing_i == 1", F);
    check("missing_i == 1 and TRUE", U);
    check("TRUE and missing_i == 1", U);
    check("missing_i == 1 or FALSE", U);
    check("FALSE or missing_i == 1", U);
    check("missing_i == 1 or i == 42", T);
    check("i == 42 or missing_i == 1", T);
    check("missing_i == 1 and i == 0", F);
    check("i == 0 and missing_i == 1", F);
    check("missing_i == 1 or missing_s == 'x'", U);
    check("missing_i == 1 and missing_s == 'x'", U);
    check("not missing_b", U);
    check("not missing_b or b_true", T);
    check("not missing_b and b_false", F);
    check("(missing_b or TRUE) and (missing_b or b_true)", T);
    check("missing_b == missing_b or TRUE", T);
}

#[test]
fn exist() {
    check("exist i", T);
    check("exist missing_i", F);
    check("not exist missing_i", T);
    check("exist missing_i and missing_i > 1", F);
    check("not exist missing_i or missing_i > 1", T);
    check("exist dyn_i", T);
    check("exist rec", T);
    check("exist is", T);
    check("exist missing_seq", F);
    check("exist clash", T);
    check("exist extra", T);
    check("exist ghost", F);
    check("exist nowhere", F);
    check("not exist nowhere", T);
    check("exist nowhere or exist i", T);
    check("exist i == TRUE", T);
    check("exist i and exist s and exist d", T);
}

#[test]
fn values_of_another_type_than_declared_are_unknown() {
    check("clash == 42", U);
    check("clash != 42", U);
    check("clash + 1 > 0", U);
    check("clash in is", U);
    check("clash == 42 or TRUE", T);
    check("'a' in bad_seq", U);
    check_on(&offer().with("s", crate::value::Value::Int(1)), "s == 'hello'", U);
    check_on(&offer().with("s", crate::value::Value::Int(1)), "'h' ~ s", U);
    check_on(&offer().with("b_true", crate::value::Value::Int(1)), "b_true", U);
    check_on(&offer().with("b_true", crate::value::Value::String("TRUE".into())), "b_true == TRUE", U);
    check_on(&offer().with("ss", crate::value::Value::String("a".into())), "'a' in ss", U);
    check_on(&offer().with("bs", crate::value::Value::IntSeq(vec![1])), "TRUE in bs", U);
    check_on(&offer().with("is", crate::value::Value::StringSeq(vec![])), "1 in is", U);
}

#[test]
fn numeric_properties_accept_any_numeric_value() {
    // The type declares int64, the offer holds another numeric type: the
    // value is still a number and compares by value.
    check_on(&offer().with("i", crate::value::Value::UInt(42)), "i == 42", T);
    check_on(&offer().with("i", crate::value::Value::Double(42.0)), "i == 42", T);
    check_on(&offer().with("i", crate::value::Value::Double(42.5)), "i > 42", T);
    check_on(&offer().with("is", crate::value::Value::DoubleSeq(vec![1.5])), "1.5 in is", T);
    check_on(&offer().with("is", crate::value::Value::UIntSeq(vec![u64::MAX])), "umax in is", T);
}

#[test]
fn nan_in_an_offer_compares_as_unknown() {
    let nan = crate::value::Value::Double(f64::NAN);
    check_on(&offer().with("d", nan.clone()), "d == d", U);
    check_on(&offer().with("d", nan.clone()), "d < 1", U);
    check_on(&offer().with("d", nan.clone()), "i > d", U);
    check_on(&offer().with("d", nan), "d in ds", F);
}

#[test]
fn logic_and_precedence() {
    check("TRUE and TRUE", T);
    check("TRUE and FALSE", F);
    check("FALSE and TRUE", F);
    check("FALSE or TRUE", T);
    check("FALSE or FALSE", F);
    check("not TRUE", F);
    check("not FALSE", T);
    check("not b_true", F);
    check("not (not TRUE)", T);
    check("TRUE or FALSE and FALSE", T);
    check("(TRUE or FALSE) and FALSE", F);
    check("FALSE and FALSE or TRUE", T);
    check("FALSE and (FALSE or TRUE)", F);
    check("not b_true == FALSE", T);
    check("not b_true or b_true", T);
    check("not (b_true or b_true)", F);
    check("i == 42 and s == 'hello' and d > 2 and 'a' in ss and 'ell' ~ s", T);
    check("i == 42 and s == 'hello' and d > 2 and 'a' in ss and 'elk' ~ s", F);
    check("i == 1 or i == 2 or i == 42", T);
    check("i + 1 * 2 == 44 and 1 + 1 in is == FALSE", T);
}

#[test]
fn operand_type_errors() {
    check("1 + 'a' == 2", type_error(4, 7, "'+' needs numeric operands, found a string"));
    check("'a' - 1 == 2", type_error(0, 3, "'-' needs numeric operands, found a string"));
    check("TRUE * 2 == 2", type_error(0, 4, "'*' needs numeric operands, found a boolean"));
    check("2 / s == 2", type_error(4, 5, "'/' needs numeric operands, found a string"));
    check("-'a' == 1", type_error(1, 4, "unary '-' needs a numeric operand, found a string"));
    check("-b_true == 1", type_error(1, 7, "unary '-' needs a numeric operand, found a boolean"));
    check("not i == 42", type_error(4, 5, "'not' needs a boolean operand, found a number"));
    check("not (i)", type_error(4, 7, "'not' needs a boolean operand, found a number"));
    check("1 and TRUE", type_error(0, 1, "'and' needs boolean operands, found a number"));
    check("TRUE or 's'", type_error(8, 11, "'or' needs boolean operands, found a string"));
    check("TRUE and (1 + 2)", type_error(9, 16, "'and' needs boolean operands, found a number"));
    check("1 ~ s", type_error(0, 1, "'~' needs string operands, found a number"));
    check("s ~ TRUE", type_error(4, 8, "'~' needs string operands, found a boolean"));
    check(
        "i == 's'",
        type_error(0, 8, "'==' needs two numbers, two strings or two booleans, found a number and a string"),
    );
    check(
        "b_true != 1",
        type_error(
            0,
            11,
            "'!=' needs two numbers, two strings or two booleans, found a boolean and a number",
        ),
    );
    check("s < 1", type_error(0, 5, "'<' needs two numbers or two strings, found a string and a number"));
    check(
        "(1 < 2) <= 3",
        type_error(0, 12, "'<=' needs two numbers or two strings, found a boolean and a number"),
    );
    check(
        "clash == '42'",
        type_error(0, 13, "'==' needs two numbers, two strings or two booleans, found a number and a string"),
    );
}

#[test]
fn the_constraint_must_be_boolean() {
    check("i", type_error(0, 1, "a constraint must be a boolean expression, found a number"));
    check("s", type_error(0, 1, "a constraint must be a boolean expression, found a string"));
    check("1 + 2", type_error(0, 5, "a constraint must be a boolean expression, found a number"));
    check(" (i * 2) ", type_error(1, 8, "a constraint must be a boolean expression, found a number"));
    check("'x'", type_error(0, 3, "a constraint must be a boolean expression, found a string"));
}

#[test]
fn properties_must_be_declared_and_usable() {
    check("nope == 1", type_error(0, 4, "unknown property 'nope'"));
    check("i == 1 and nope", type_error(11, 15, "unknown property 'nope'"));
    check("extra == 1", type_error(0, 5, "unknown property 'extra'"));
    check("ghost == 1", type_error(0, 5, "unknown property 'ghost'"));
    check("AND", type_error(0, 3, "unknown property 'AND'"));
    check("true", type_error(0, 4, "unknown property 'true'"));
    check("True == 1", type_error(0, 4, "unknown property 'True'"));
    check("Exist i", syntax(6, "an operator or end of input", "'i'"));
    check("Exist", type_error(0, 5, "unknown property 'Exist'"));
    check(
        "rec == 1",
        type_error(0, 3, "property 'rec' holds records, which can only be tested with 'exist'"),
    );
    check(
        "is == 1",
        type_error(
            0,
            2,
            "property 'is' is a sequence (int64_seq); a sequence can only be the right operand of 'in'",
        ),
    );
    check(
        "'a' ~ ss",
        type_error(
            6,
            8,
            "property 'ss' is a sequence (string_seq); a sequence can only be the right operand of 'in'",
        ),
    );
    // The first error, left to right, is the one reported.
    check("nope1 == nope2", type_error(0, 5, "unknown property 'nope1'"));
}

#[test]
fn truth_table_helpers() {
    use Truth::{False as F_, True as T_, Unknown as U_};
    let all = [T_, F_, U_];
    for a in all {
        assert_eq!(!!a, a);
        for b in all {
            assert_eq!(a.and(b), b.and(a), "and commutes");
            assert_eq!(a.or(b), b.or(a), "or commutes");
            assert_eq!(!(a.and(b)), (!a).or(!b), "De Morgan");
        }
    }
    assert_eq!(T_.and(U_), U_);
    assert_eq!(F_.and(U_), F_);
    assert_eq!(T_.or(U_), T_);
    assert_eq!(F_.or(U_), U_);
    assert_eq!(!U_, U_);
    assert!(T_.is_true() && !F_.is_true() && !U_.is_true());
}

#[test]
fn matches_is_true_only() {
    let schema = super::TestSchema;
    let offer = offer();
    let matching = crate::tcl::compile_constraint("i == 42", &schema).expect("compiles");
    let failing = crate::tcl::compile_constraint("i == 41", &schema).expect("compiles");
    let unknown = crate::tcl::compile_constraint("missing_i == 41", &schema).expect("compiles");
    assert!(matching.matches(&offer));
    assert!(!failing.matches(&offer));
    assert!(!unknown.matches(&offer));
}

#[test]
fn referenced_lists_the_properties_whose_values_are_read() {
    let schema = super::TestSchema;
    let constraint = crate::tcl::compile_constraint(
        "i > 1 and 's' ~ s and exist extra and exist d and 1 in is and i < 5 and -neg > 0 and b_true",
        &schema,
    )
    .expect("compiles");
    let want: Vec<_> = ["b_true", "i", "neg", "s", "is"].map(super::id).into_iter().collect();
    let mut want = want;
    want.sort();
    assert_eq!(constraint.referenced(), want.as_slice());
    let constant = crate::tcl::compile_constraint("TRUE or i == 1", &schema).expect("compiles");
    assert!(constant.referenced().is_empty(), "folded away: {:?}", constant.referenced());
}

#[test]
fn syntax_errors_surface_through_compilation() {
    check("i ==", syntax(4, "a comparison operand", "end of input"));
    check(
        "i == 1 == 1",
        syntax(
            7,
            "'and', 'or' or end of input",
            "'==' (comparison operators are not associative; use parentheses)",
        ),
    );
}

#[test]
fn constant_constraints_are_recognised() {
    let constant =
        |text: &str| crate::tcl::compile_constraint(text, &super::TestSchema).expect("compiles").constant();
    assert_eq!(constant(""), Some(Truth::True));
    assert_eq!(constant("TRUE"), Some(Truth::True));
    assert_eq!(constant("1 + 1 == 2"), Some(Truth::True));
    assert_eq!(constant("'a' ~ 'cat' and not FALSE"), Some(Truth::True));
    assert_eq!(constant("exist nowhere"), Some(Truth::False));
    assert_eq!(constant("i == 1 and FALSE"), Some(Truth::False));
    assert_eq!(constant("i == 1 or TRUE"), Some(Truth::True));
    assert_eq!(constant("1 / (1 - 1) == 0"), Some(Truth::Unknown));
    assert_eq!(constant("i == 1"), None);
    assert_eq!(constant("exist ghost"), None);
}
