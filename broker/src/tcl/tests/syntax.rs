//! Parsing and printing: tree shapes (precedence and associativity), spans,
//! canonical text, and syntax errors with their exact positions.

use crate::tcl::{
    Expr, Literal, MAX_NESTING, Preference, Span, TclError, conjuncts, is_property_name, parse_constraint,
    parse_preference,
};

/// A fully parenthesised prefix form of the tree, to assert shapes.
pub(super) fn sexpr(expr: &Expr) -> String {
    match expr {
        Expr::Literal { value: Literal::String(s), .. } => format!("{:?}", s),
        Expr::Literal { value: Literal::UInt(v), .. } => format!("{v}u"),
        Expr::Literal { value, .. } => value.to_string(),
        Expr::Prop { name, .. } => name.clone(),
        Expr::Exist { name, .. } => format!("(exist {name})"),
        Expr::Neg { operand, .. } => format!("(neg {})", sexpr(operand)),
        Expr::Not { operand, .. } => format!("(not {})", sexpr(operand)),
        Expr::Arith { op, lhs, rhs, .. } => format!("({} {} {})", op.symbol(), sexpr(lhs), sexpr(rhs)),
        Expr::Substring { needle, haystack, .. } => format!("(~ {} {})", sexpr(needle), sexpr(haystack)),
        Expr::In { value, seq_prop, .. } => format!("(in {} {seq_prop})", sexpr(value)),
        Expr::Compare { op, lhs, rhs, .. } => format!("({} {} {})", op.symbol(), sexpr(lhs), sexpr(rhs)),
        Expr::And { operands, .. } => {
            format!("(and {})", operands.iter().map(sexpr).collect::<Vec<_>>().join(" "))
        }
        Expr::Or { operands, .. } => {
            format!("(or {})", operands.iter().map(sexpr).collect::<Vec<_>>().join(" "))
        }
    }
}

#[track_caller]
fn shape(input: &str, want: &str) {
    let expr = parse_constraint(input).unwrap_or_else(|e| panic!("{input:?} does not parse: {e}"));
    assert_eq!(sexpr(&expr), want, "shape of {input:?}");
}

/// `input` parses, prints as `canonical`, and the canonical text parses
/// back to the same tree.
#[track_caller]
fn prints(input: &str, canonical: &str) {
    let expr = parse_constraint(input).unwrap_or_else(|e| panic!("{input:?} does not parse: {e}"));
    assert_eq!(expr.to_string(), canonical, "printing {input:?}");
    let again = parse_constraint(canonical).unwrap_or_else(|e| panic!("{canonical:?} does not parse: {e}"));
    assert_eq!(again, expr, "round trip of {input:?}");
}

#[track_caller]
fn fails(input: &str, pos: usize, expected: &str, found: &str) {
    let want = TclError::Syntax { pos, expected: expected.into(), found: found.into() };
    assert_eq!(parse_constraint(input), Err(want), "parsing {input:?}");
}

#[track_caller]
fn pref_fails(input: &str, pos: usize, expected: &str, found: &str) {
    let want = TclError::Syntax { pos, expected: expected.into(), found: found.into() };
    assert_eq!(parse_preference(input), Err(want), "parsing preference {input:?}");
}

#[test]
fn precedence_of_every_level() {
    shape("a or b and c", "(or a (and b c))");
    shape("a and b or c", "(or (and a b) c)");
    shape("a or b or c", "(or a b c)");
    shape("a and b and c", "(and a b c)");
    shape("a and b or c and d or e", "(or (and a b) (and c d) e)");
    shape("(a and b) and c", "(and (and a b) c)");
    shape("a and (b and c)", "(and a (and b c))");
    shape("a or (b or c) or d", "(or a (or b c) d)");
    shape("a == b and c", "(and (== a b) c)");
    shape("a and b == c", "(and a (== b c))");
    shape("a == b or c != d", "(or (== a b) (!= c d))");
    shape("a in S == b", "(== (in a S) b)");
    shape("b == a in S", "(== b (in a S))");
    shape("a ~ b in S", "(in (~ a b) S)");
    shape("a + b in S", "(in (+ a b) S)");
    shape("a + b ~ c * d", "(~ (+ a b) (* c d))");
    shape("a + b * c", "(+ a (* b c))");
    shape("a * b + c", "(+ (* a b) c)");
    shape("a - b - c", "(- (- a b) c)");
    shape("a / b / c", "(/ (/ a b) c)");
    shape("a * b / c", "(/ (* a b) c)");
    shape("a + b - c", "(- (+ a b) c)");
    shape("a * not b", "(* a (not b))");
    shape("not a == b", "(== (not a) b)");
    shape("not a and b", "(and (not a) b)");
    shape("not (a and b)", "(not (and a b))");
    shape("not exist a", "(not (exist a))");
    shape("-a * b", "(* (neg a) b)");
    shape("- - a", "(neg (neg a))");
    shape("-(a + b)", "(neg (+ a b))");
    shape("(a or b) and c", "(and (or a b) c)");
    shape("a == (b == c)", "(== a (== b c))");
    shape("(a == b) == c", "(== (== a b) c)");
    shape("(a in S) in T", "(in (in a S) T)");
    shape("(a ~ b) ~ c", "(~ (~ a b) c)");
    shape("a < b", "(< a b)");
    shape("a <= b", "(<= a b)");
    shape("a > b", "(> a b)");
    shape("a >= b", "(>= a b)");
    shape("a != b", "(!= a b)");
}

#[test]
fn minus_is_its_own_token() {
    shape("x-1", "(- x 1)");
    shape("x - 1", "(- x 1)");
    shape("x+1", "(+ x 1)");
    shape("x - -1", "(- x -1)");
    shape("x--1", "(- x -1)");
    shape("x*-1", "(* x -1)");
    shape("-1", "-1");
    shape("- 1", "-1");
    shape("-2 * x", "(* -2 x)");
    shape("--1", "(neg -1)");
    shape("-(1)", "(neg 1)");
    shape("-x", "(neg x)");
    shape("-9223372036854775808", "-9223372036854775808");
    shape("9223372036854775808", "9223372036854775808u");
    shape("-9223372036854775807", "-9223372036854775807");
    shape("-1.5", "-1.5");
    shape("-0.0", "-0.0");
    shape("Cost-1 < 5", "(< (- Cost 1) 5)");
}

#[test]
fn literal_forms() {
    shape("0", "0");
    shape("007", "7");
    shape("18446744073709551615", "18446744073709551615u");
    shape("9223372036854775807", "9223372036854775807");
    shape("1.5", "1.5");
    shape("1.", "1.0");
    shape(".5", "0.5");
    shape("1e3", "1000.0");
    shape("1E3", "1000.0");
    shape("1e+3", "1000.0");
    shape("1e-3", "0.001");
    shape("1.5e2", "150.0");
    shape(".5e1", "5.0");
    shape("5.e-1", "0.5");
    shape("1e300", "1e300");
    shape("TRUE", "TRUE");
    shape("FALSE", "FALSE");
    shape("'x'", "\"x\"");
    shape("''", "\"\"");
    shape("'it\\'s'", "\"it's\"");
    shape("'a\\\\b'", "\"a\\\\b\"");
    shape("'\\\\\\''", "\"\\\\'\"");
    shape("'and or not'", "\"and or not\"");
    shape("'\u{1F600}'", "\"\u{1F600}\"");
    shape("_x1", "_x1");
    shape("A_b_9", "A_b_9");
    shape("exist _", "(exist _)");
}

#[test]
fn keywords_are_case_sensitive() {
    shape("AND", "AND");
    shape("Or", "Or");
    shape("true", "true");
    shape("False", "False");
    shape("NOT", "NOT");
    shape("IN", "IN");
    shape("Exist", "Exist");
    shape("andy", "andy");
    shape("notx", "notx");
    shape("TRUEx", "TRUEx");
    shape("in_x", "in_x");
}

#[test]
fn whitespace() {
    shape(" \t\r\na\n==\t1 ", "(== a 1)");
    shape("a==1", "(== a 1)");
    shape("(a)and(b)", "(and a b)");
    shape("'x'in S", "(in \"x\" S)");
    shape("not(a)", "(not a)");
}

#[test]
fn spans() {
    let expr = parse_constraint("  a == (b + 1)").expect("parses");
    assert_eq!(expr.span(), Span::new(2, 14));
    let Expr::Compare { lhs, rhs, .. } = &expr else { panic!("a comparison: {expr:?}") };
    assert_eq!(lhs.span(), Span::new(2, 3));
    assert_eq!(rhs.span(), Span::new(7, 14));
    let expr = parse_constraint("-5 in S").expect("parses");
    let Expr::In { value, seq_span, span, .. } = &expr else { panic!("an in: {expr:?}") };
    assert_eq!((value.span(), *seq_span, *span), (Span::new(0, 2), Span::new(6, 7), Span::new(0, 7)));
    assert_eq!(parse_constraint("exist  x").expect("parses").span(), Span::new(0, 8));
    assert_eq!(parse_constraint("not  x").expect("parses").span(), Span::new(0, 6));
    assert_eq!(parse_constraint("'it\\'s'").expect("parses").span(), Span::new(0, 7));
    assert_eq!(parse_constraint("  ").expect("parses").span(), Span::new(0, 2));
}

#[test]
fn equality_ignores_spans_but_not_literal_types() {
    assert_eq!(
        parse_constraint("a==1").expect("parses"),
        parse_constraint(" a  ==  ( 1 ) ").expect("parses")
    );
    assert_ne!(parse_constraint("a == 1").expect("parses"), parse_constraint("a == 1.0").expect("parses"));
    assert_ne!(parse_constraint("a == 0.0").expect("parses"), parse_constraint("a == -0.0").expect("parses"));
    assert_ne!(parse_constraint("a == b").expect("parses"), parse_constraint("b == a").expect("parses"));
    assert_ne!(parse_constraint("-x").expect("parses"), parse_constraint("x").expect("parses"));
}

#[test]
fn canonical_printing() {
    prints("a+b*c", "a + b * c");
    prints("(a+b)*c", "(a + b) * c");
    prints("a-(b-c)", "a - (b - c)");
    prints("(a-b)-c", "a - b - c");
    prints("a/(b*c)", "a / (b * c)");
    prints("a*(b/c)", "a * (b / c)");
    prints("not (a == b)", "not (a == b)");
    prints("(not a) == b", "not a == b");
    prints("not(not a)", "not (not a)");
    prints("a * (not b)", "a * not b");
    prints("-(-5)", "-(-5)");
    prints("--5", "-(-5)");
    prints("-(5)", "-(5)");
    prints("-(5.5)", "-(5.5)");
    prints("- - x", "--x");
    prints("-x", "-x");
    prints("-(a+b)", "-(a + b)");
    prints("-(not a)", "-(not a)");
    prints("x in S", "x in S");
    prints("(x ~ y) in S", "x ~ y in S");
    prints("x ~ (y in S)", "x ~ (y in S)");
    prints("(x in S) == TRUE", "x in S == TRUE");
    prints("(x in S) in T", "(x in S) in T");
    prints("x == (y == z)", "x == (y == z)");
    prints("(x == y) == z", "(x == y) == z");
    prints("(x ~ y) ~ z", "(x ~ y) ~ z");
    prints("(a or b) and c", "(a or b) and c");
    prints("a or (b or c)", "a or (b or c)");
    prints("(a or b) or c", "(a or b) or c");
    prints("a or b or c", "a or b or c");
    prints("a and b or c and (d or e)", "a and b or c and (d or e)");
    prints("a and (b and c)", "a and (b and c)");
    prints("a or b and c", "a or b and c");
    prints("((a))", "a");
    prints("exist  x", "exist x");
    prints("'it\\'s'", "'it\\'s'");
    prints("'a\\\\b'", "'a\\\\b'");
    prints("1.0", "1.0");
    prints("1e300", "1e300");
    prints("1.5e-7", "1.5e-7");
    prints(".5", "0.5");
    prints("3.", "3.0");
    prints("1E5", "100000.0");
    prints("5e-324", "5e-324");
    prints("-9223372036854775808", "-9223372036854775808");
    prints("18446744073709551615", "18446744073709551615");
    prints("x - -1", "x - -1");
    prints("x-1", "x - 1");
    prints("", "TRUE");
    prints("FALSE", "FALSE");
}

#[test]
fn canonical_printing_of_preferences() {
    let cases = [
        ("", "first"),
        ("  ", "first"),
        ("first", "first"),
        ("random", "random"),
        ("min a+b", "min a + b"),
        ("max (a)", "max a"),
        ("max -a", "max -a"),
        ("min (a == b)", "min (a == b)"),
        ("min (a ~ b)", "min (a ~ b)"),
        ("with a==b", "with a == b"),
        ("with a or b", "with a or b"),
        ("with (a)", "with a"),
    ];
    for (input, canonical) in cases {
        let preference = parse_preference(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(preference.to_string(), canonical, "printing {input:?}");
        assert_eq!(parse_preference(canonical), Ok(preference), "round trip of {input:?}");
    }
}

#[test]
fn preference_forms() {
    let prop = |name: &str| Expr::Prop { name: name.into(), span: Span::default() };
    assert_eq!(parse_preference(""), Ok(Preference::First));
    assert_eq!(parse_preference("\t"), Ok(Preference::First));
    assert_eq!(parse_preference("first"), Ok(Preference::First));
    assert_eq!(parse_preference(" random "), Ok(Preference::Random));
    assert_eq!(parse_preference("min cost"), Ok(Preference::Min(prop("cost"))));
    assert_eq!(parse_preference("max cost"), Ok(Preference::Max(prop("cost"))));
    assert_eq!(parse_preference("with ok"), Ok(Preference::With(prop("ok"))));
}

#[test]
fn preference_syntax_errors() {
    pref_fails("min", 3, "an expression after 'min'", "end of input");
    pref_fails("max", 3, "an expression after 'max'", "end of input");
    pref_fails("with", 4, "an expression after 'with'", "end of input");
    pref_fails("min )", 4, "an expression after 'min'", "')'");
    pref_fails("random 1", 7, "end of input after 'random'", "'1'");
    pref_fails("first first", 6, "end of input after 'first'", "'first'");
    pref_fails("min i == 1", 6, "an arithmetic operator or end of input", "'=='");
    pref_fails("min a ~ b", 6, "an arithmetic operator or end of input", "'~'");
    pref_fails("min a in S", 6, "an arithmetic operator or end of input", "'in'");
    pref_fails("max a and b", 6, "an arithmetic operator or end of input", "'and'");
    pref_fails("with a b", 7, "an operator or end of input", "'b'");
    pref_fails("foo", 0, "'min', 'max', 'with', 'random', 'first' or nothing", "'foo'");
    pref_fails("MIN i", 0, "'min', 'max', 'with', 'random', 'first' or nothing", "'MIN'");
    pref_fails("Random", 0, "'min', 'max', 'with', 'random', 'first' or nothing", "'Random'");
    pref_fails("(min i)", 0, "'min', 'max', 'with', 'random', 'first' or nothing", "'('");
    pref_fails("min 'a", 6, "a closing quote", "end of input (unterminated string starting at byte 4)");
    pref_fails("# min", 0, "a property name, literal, operator or parenthesis", "'#'");
}

#[test]
fn syntax_errors_name_what_was_expected() {
    fails("i ==", 4, "a comparison operand", "end of input");
    fails("i == and", 5, "a comparison operand", "'and'");
    fails("i < )", 4, "a comparison operand", "')'");
    fails("== 1", 0, "an expression", "'=='");
    fails(")", 0, "an expression", "')'");
    fails("and", 0, "an expression", "'and'");
    fails("min i", 0, "an expression", "'min'");
    fails("random", 0, "an expression", "'random'");
    fails("(i == 1", 7, "')' to close '(' at byte 0", "end of input");
    fails("((i == 1)", 9, "')' to close '(' at byte 0", "end of input");
    fails("(a or (b and c)", 15, "')' to close '(' at byte 0", "end of input");
    fails("a and (b c)", 9, "')' to close '(' at byte 6", "'c'");
    fails("(i == 1))", 8, "an operator or end of input", "')'");
    fails("i == 1 x", 7, "an operator or end of input", "'x'");
    fails("i == 1 AND i == 2", 7, "an operator or end of input", "'AND'");
    fails("12abc == 1", 2, "an operator or end of input", "'abc'");
    fails("1.2.3 == 1", 3, "an operator or end of input", "'.3'");
    fails("a 'b'", 2, "an operator or end of input", "''b''");
    fails("a exist b", 2, "an operator or end of input", "'exist'");
    fails("i and", 5, "an operand after 'and'", "end of input");
    fails("i or or", 5, "an operand after 'or'", "'or'");
    fails("i +", 3, "an operand after '+'", "end of input");
    fails("i - * 2", 4, "an operand after '-'", "'*'");
    fails("i * / 2", 4, "an operand after '*'", "'/'");
    fails("i / )", 4, "an operand after '/'", "')'");
    fails("'x' ~", 5, "an operand after '~'", "end of input");
    fails("'x' ~ in", 6, "an operand after '~'", "'in'");
    fails("not", 3, "an operand after 'not'", "end of input");
    fails("not not a", 4, "an operand after 'not'", "'not'");
    fails("not )", 4, "an operand after 'not'", "')'");
    fails("-", 1, "an operand after '-'", "end of input");
    fails("- not a", 2, "an operand after '-'", "'not'");
    fails("()", 1, "an expression after '('", "')'");
    fails("( or a)", 2, "an expression after '('", "'or'");
    fails("1 in", 4, "a property name after 'in'", "end of input");
    fails("1 in 2", 5, "a property name after 'in'", "'2'");
    fails("1 in (S)", 5, "a property name after 'in'", "'('");
    fails("1 in 'S'", 5, "a property name after 'in'", "''S''");
    fails("1 in TRUE", 5, "a property name after 'in'", "'TRUE'");
    fails("1 in first", 5, "a property name after 'in'", "'first'");
    fails("exist", 5, "a property name after 'exist'", "end of input");
    fails("exist 1", 6, "a property name after 'exist'", "'1'");
    fails("exist TRUE", 6, "a property name after 'exist'", "'TRUE'");
    fails("exist and", 6, "a property name after 'exist'", "'and'");
    fails("exist (a)", 6, "a property name after 'exist'", "'('");
    fails("exist exist a", 6, "a property name after 'exist'", "'exist'");
}

#[test]
fn non_associative_operators() {
    let compare = "(comparison operators are not associative; use parentheses)";
    fails("i == 1 == 1", 7, "'and', 'or' or end of input", &format!("'==' {compare}"));
    fails("a < b > c", 6, "'and', 'or' or end of input", &format!("'>' {compare}"));
    fails("a != b <= c", 7, "'and', 'or' or end of input", &format!("'<=' {compare}"));
    fails("(i == 1 == 1)", 8, "'and', 'or' or ')'", &format!("'==' {compare}"));
    fails("x and (a < b < c)", 13, "'and', 'or' or ')'", &format!("'<' {compare}"));
    fails(
        "1 in is in is",
        8,
        "a comparison operator, 'and', 'or' or end of input",
        "'in' ('in' is not associative; use parentheses)",
    );
    fails(
        "'a' ~ s ~ s",
        8,
        "'in', a comparison operator, 'and', 'or' or end of input",
        "'~' ('~' is not associative; use parentheses)",
    );
    fails(
        "('a' ~ s ~ s)",
        9,
        "'in', a comparison operator, 'and', 'or' or ')'",
        "'~' ('~' is not associative; use parentheses)",
    );
}

#[test]
fn an_in_test_is_not_an_operand_of_tighter_operators() {
    let hint = "(put the 'in' test in parentheses)";
    fails("x in S ~ y", 7, "a comparison operator, 'and', 'or' or end of input", &format!("'~' {hint}"));
    fails("x in S + 1 == 2", 7, "a comparison operator, 'and', 'or' or end of input", &format!("'+' {hint}"));
    fails("(x in S * 2)", 8, "a comparison operator, 'and', 'or' or ')'", &format!("'*' {hint}"));
    shape("(x in S) ~ y", "(~ (in x S) y)");
    shape("(x in S) + 1 == 2", "(== (+ (in x S) 1) 2)");
    shape("not -a", "(not (neg a))");
    shape("-(not a)", "(neg (not a))");
    shape("not (a) + 1", "(+ (not a) 1)");
    shape("- (a) * b", "(* (neg a) b)");
}

#[test]
fn lexical_errors() {
    let escapes = "\\' or \\\\ (the only escapes in a string)";
    fails("i = 1", 2, "'=='", "'=' (equality is written '==')");
    fails("i ! 1", 2, "'!='", "'!' (negation is written 'not')");
    fails("!i", 0, "'!='", "'!' (negation is written 'not')");
    fails("i # 1", 2, "a property name, literal, operator or parenthesis", "'#'");
    fails("i == \u{e9}", 5, "a property name, literal, operator or parenthesis", "'\u{e9}'");
    fails("\"s\" == s", 0, "a property name, literal, operator or parenthesis", "'\"'");
    fails(".", 0, "a property name, literal, operator or parenthesis", "'.'");
    fails("a.b", 1, "a property name, literal, operator or parenthesis", "'.'");
    fails("i == 'abc", 9, "a closing quote", "end of input (unterminated string starting at byte 5)");
    fails("'", 1, "a closing quote", "end of input (unterminated string starting at byte 0)");
    fails("s == 'a\\", 8, "a closing quote", "end of input (unterminated string starting at byte 5)");
    fails("s == 'a\\'", 9, "a closing quote", "end of input (unterminated string starting at byte 5)");
    fails("s == 'a\\nb'", 7, escapes, "'\\n'");
    fails("s == 'a\\\"'", 7, escapes, "'\\\"'");
    fails("s == '\\\u{e9}'", 6, escapes, "'\\\u{e9}'");
    fails(
        "99999999999999999999 > 0",
        0,
        "an integer of at most 18446744073709551615",
        "'99999999999999999999' (integer literal out of range)",
    );
    fails(
        "x > 18446744073709551616",
        4,
        "an integer of at most 18446744073709551615",
        "'18446744073709551616' (integer literal out of range)",
    );
    fails(
        "-9223372036854775809 < 0",
        0,
        "an integer of at least -9223372036854775808",
        "'-9223372036854775809' (integer literal out of range)",
    );
    fails(
        "x < - 18446744073709551615",
        4,
        "an integer of at least -9223372036854775808",
        "'- 18446744073709551615' (integer literal out of range)",
    );
    fails(
        "1e400 > 0",
        0,
        "a number of at most 1.7976931348623157e308",
        "'1e400' (float literal out of range)",
    );
    fails(
        "x < -1.8e308",
        5,
        "a number of at most 1.7976931348623157e308",
        "'1.8e308' (float literal out of range)",
    );
    fails("1e > 0", 2, "digits in the exponent starting at byte 1", "' '");
    fails("1e+ > 0", 3, "digits in the exponent starting at byte 1", "' '");
    fails("1.5e", 4, "digits in the exponent starting at byte 3", "end of input");
    fails("1ex", 2, "digits in the exponent starting at byte 1", "'x'");
    // The leftmost error wins, lexical or not.
    fails("( # 'unterminated", 2, "a property name, literal, operator or parenthesis", "'#'");
    fails("== 'unterminated", 0, "an expression", "'=='");
}

#[test]
fn long_found_text_is_shortened() {
    let long = "x".repeat(100);
    fails(&format!("a {long}"), 2, "an operator or end of input", &format!("'{}...'", "x".repeat(32)));
}

fn nested_parens(levels: usize) -> String {
    format!("{}a{}", "(".repeat(levels), ")".repeat(levels))
}

#[test]
fn nesting_is_bounded() {
    let too_deep = |pos: usize, token: &str| TclError::Syntax {
        pos,
        expected: format!("at most {MAX_NESTING} levels of nesting"),
        found: format!("'{token}' (nesting too deep)"),
    };
    assert!(parse_constraint(&nested_parens(MAX_NESTING)).is_ok());
    assert_eq!(parse_constraint(&nested_parens(MAX_NESTING + 1)), Err(too_deep(MAX_NESTING, "(")));
    assert_eq!(parse_constraint(&nested_parens(100_000)), Err(too_deep(MAX_NESTING, "(")));

    let nots = |n: usize| format!("{}a", "not (".repeat(n)) + &")".repeat(n);
    assert!(parse_constraint(&nots(MAX_NESTING / 2)).is_ok());
    assert!(parse_constraint(&nots(100_000)).is_err());

    assert!(parse_constraint(&format!("{}a", "-".repeat(MAX_NESTING - 1))).is_ok());
    assert_eq!(
        parse_constraint(&format!("{}a", "-".repeat(MAX_NESTING))),
        Err(too_deep(MAX_NESTING - 1, "-"))
    );
    assert_eq!(parse_constraint(&format!("{}a", "-".repeat(100_000))), Err(too_deep(MAX_NESTING - 1, "-")));
    let negated_parens = |n: usize| format!("{}a{}", "-(".repeat(n), ")".repeat(n));
    assert!(parse_constraint(&negated_parens(MAX_NESTING - 1)).is_ok());
    assert_eq!(parse_constraint(&negated_parens(MAX_NESTING)), Err(too_deep(0, "-")));

    // Operator chains loop rather than recurse, but build deep trees.
    let chain = |n: usize| vec!["a"; n].join(" + ");
    assert!(parse_constraint(&chain(MAX_NESTING)).is_ok());
    assert_eq!(parse_constraint(&chain(MAX_NESTING + 1)), Err(too_deep(4 * MAX_NESTING - 2, "+")));
    assert!(parse_constraint(&chain(100_000)).is_err());
    // A long chain of `or`s (or `and`s) is one flat node, not a deep tree.
    assert!(parse_constraint(&vec!["a"; 100_000].join(" or ")).is_ok());
    assert!(parse_constraint(&vec!["a"; 100_000].join(" and ")).is_ok());
    assert!(parse_preference(&format!("min {}", chain(100_000))).is_err());
    assert!(parse_preference(&format!("with {}", nested_parens(100_000))).is_err());
}

#[test]
fn deep_but_accepted_expressions_compile_evaluate_and_print() {
    let schema = super::TestSchema;
    let offer = super::offer();
    let deep = format!("{}i{} == 42", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    assert!(crate::tcl::compile_constraint(&deep, &schema).expect("compiles").matches(&offer));
    // The tallest tree accepted, through every pass that recurses.
    let tallest = format!("{} == -254", vec!["i"; MAX_NESTING - 1].join(" - "));
    let constraint = crate::tcl::compile_constraint(&tallest, &schema).expect("compiles");
    assert_eq!(constraint.eval(&offer), crate::tcl::Truth::False);
    let expr = parse_constraint(&tallest).expect("parses");
    assert_eq!(parse_constraint(&expr.to_string()), Ok(expr.clone()));
    assert_eq!(expr.clone(), expr);
    let sum = format!("{} == {}", vec!["1"; 200].join(" + "), 200);
    assert!(crate::tcl::compile_constraint(&sum, &schema).expect("compiles").matches(&offer));
    let disjunction = (0..10_000).map(|n| format!("i == {n}")).collect::<Vec<_>>().join(" or ");
    let constraint = crate::tcl::compile_constraint(&disjunction, &schema).expect("compiles");
    assert!(constraint.matches(&offer));
    assert_eq!(parse_constraint(&disjunction).expect("parses").to_string(), disjunction);
    let negations = format!("{}i == -42", "-".repeat(254));
    let expr = parse_constraint(&negations).expect("parses");
    assert_eq!(parse_constraint(&expr.to_string()), Ok(expr));
}

#[test]
fn conjuncts_flatten_top_level_ands() {
    let expr = parse_constraint("a == 1 and ('x' in S and (b < 2)) and not c").expect("parses");
    let printed: Vec<String> = conjuncts(&expr).iter().map(|e| e.to_string()).collect();
    assert_eq!(printed, ["a == 1", "'x' in S", "b < 2", "not c"]);
    let expr = parse_constraint("a or b and c").expect("parses");
    assert_eq!(conjuncts(&expr).len(), 1);
    let expr = parse_constraint("not (a and b)").expect("parses");
    assert_eq!(conjuncts(&expr).len(), 1);
}

#[test]
fn the_ast_is_easy_to_match() {
    use crate::tcl::CompareOp;
    let expr = parse_constraint("colour == 'red' and 'h264' in formats and load < -0.5").expect("parses");
    let parts = conjuncts(&expr);
    let Expr::Compare { op: CompareOp::Eq, lhs, rhs, .. } = parts[0] else { panic!("{:?}", parts[0]) };
    assert_eq!((lhs.as_prop(), rhs.as_literal()), (Some("colour"), Some(&Literal::String("red".into()))));
    let Expr::In { value, seq_prop, .. } = parts[1] else { panic!("{:?}", parts[1]) };
    assert_eq!((value.as_literal(), seq_prop.as_str()), (Some(&Literal::String("h264".into())), "formats"));
    let Expr::Compare { op: CompareOp::Lt, lhs, rhs, .. } = parts[2] else { panic!("{:?}", parts[2]) };
    assert_eq!((lhs.as_prop(), rhs.as_literal()), (Some("load"), Some(&Literal::Double(-0.5))));
}

#[test]
fn property_names() {
    for good in ["a", "_", "_a9", "Cost", "AND", "True", "firstly"] {
        assert!(is_property_name(good), "{good}");
    }
    for bad in ["", "9a", "a-b", "a b", "and", "first", "TRUE", "FALSE", "exist", "\u{e9}"] {
        assert!(!is_property_name(bad), "{bad}");
    }
}

#[test]
fn error_display() {
    let error = parse_constraint("a == 1 and and").expect_err("fails");
    assert_eq!(error.to_string(), "at byte 11: expected an operand after 'and', found 'and'");
    assert_eq!(error.pos(), 11);
    let error = crate::tcl::compile_constraint("a == colour", &super::TestSchema).expect_err("fails");
    assert_eq!(error.to_string(), "at byte 0..1: unknown property 'a'");
    assert_eq!(error.pos(), 0);
}
