//! Canonical text of expressions and preferences.
//!
//! Printing is the inverse of parsing: for any tree the parser can produce,
//! `parse(print(e)) == e`. Parentheses are written only where the grammar
//! needs them, which is decided by comparing grammar levels. Operators are
//! surrounded by single spaces.

use std::fmt::{self, Write as _};

use crate::tcl::{ArithOp, Expr, Literal, Preference};

/// Grammar levels, loosest first; a child printed where a tighter level is
/// required gets parentheses.
const OR: u8 = 1;
const AND: u8 = 2;
const COMPARE: u8 = 3;
const IN: u8 = 4;
const SUBSTRING: u8 = 5;
const ADDITIVE: u8 = 6;
const TERM: u8 = 7;
const FACTOR_NOT: u8 = 8;
const FACTOR: u8 = 9;

fn level(expr: &Expr) -> u8 {
    match expr {
        Expr::Or { .. } => OR,
        Expr::And { .. } => AND,
        Expr::Compare { .. } => COMPARE,
        Expr::In { .. } => IN,
        Expr::Substring { .. } => SUBSTRING,
        Expr::Arith { op: ArithOp::Add | ArithOp::Sub, .. } => ADDITIVE,
        Expr::Arith { op: ArithOp::Mul | ArithOp::Div, .. } => TERM,
        Expr::Not { .. } => FACTOR_NOT,
        Expr::Literal { .. } | Expr::Prop { .. } | Expr::Exist { .. } | Expr::Neg { .. } => FACTOR,
    }
}

/// Writes `expr` so that it parses at grammar level `required` or tighter.
fn write_at(f: &mut fmt::Formatter<'_>, expr: &Expr, required: u8) -> fmt::Result {
    if level(expr) < required {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}

fn write_binary(f: &mut fmt::Formatter<'_>, lhs: (&Expr, u8), op: &str, rhs: (&Expr, u8)) -> fmt::Result {
    write_at(f, lhs.0, lhs.1)?;
    write!(f, " {op} ")?;
    write_at(f, rhs.0, rhs.1)
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal { value, .. } => write!(f, "{value}"),
            Expr::Prop { name, .. } => f.write_str(name),
            Expr::Exist { name, .. } => write!(f, "exist {name}"),
            Expr::Neg { operand, .. } => {
                f.write_str("-")?;
                // `-5` would parse back as the literal -5, not as a negation.
                let numeric = matches!(
                    operand.as_literal(),
                    Some(Literal::Int(_) | Literal::UInt(_) | Literal::Double(_))
                );
                if numeric { write!(f, "({operand})") } else { write_at(f, operand, FACTOR) }
            }
            Expr::Not { operand, .. } => {
                f.write_str("not ")?;
                write_at(f, operand, FACTOR)
            }
            Expr::Arith { op, lhs, rhs, .. } => {
                let (left, right) = match op {
                    ArithOp::Add | ArithOp::Sub => (ADDITIVE, TERM),
                    ArithOp::Mul | ArithOp::Div => (TERM, FACTOR_NOT),
                };
                write_binary(f, (lhs, left), op.symbol(), (rhs, right))
            }
            Expr::Substring { needle, haystack, .. } => {
                write_binary(f, (needle, ADDITIVE), "~", (haystack, ADDITIVE))
            }
            Expr::In { value, seq_prop, .. } => {
                write_at(f, value, SUBSTRING)?;
                write!(f, " in {seq_prop}")
            }
            Expr::Compare { op, lhs, rhs, .. } => write_binary(f, (lhs, IN), op.symbol(), (rhs, IN)),
            Expr::And { lhs, rhs, .. } => write_binary(f, (lhs, AND), "and", (rhs, COMPARE)),
            Expr::Or { lhs, rhs, .. } => write_binary(f, (lhs, OR), "or", (rhs, AND)),
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Int(value) => write!(f, "{value}"),
            Literal::UInt(value) => write!(f, "{value}"),
            // `{:?}` is the shortest text that reads back to the same bits,
            // and always has a '.' or an exponent, so it lexes as a float.
            Literal::Double(value) => write!(f, "{value:?}"),
            Literal::String(value) => {
                f.write_char('\'')?;
                for c in value.chars() {
                    if c == '\'' || c == '\\' {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_char('\'')
            }
        }
    }
}

impl fmt::Display for Preference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Preference::Min(expr) => {
                f.write_str("min ")?;
                write_at(f, expr, ADDITIVE)
            }
            Preference::Max(expr) => {
                f.write_str("max ")?;
                write_at(f, expr, ADDITIVE)
            }
            Preference::With(expr) => write!(f, "with {expr}"),
            Preference::Random => f.write_str("random"),
            Preference::First => f.write_str("first"),
        }
    }
}
