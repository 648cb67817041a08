//! Canonical text of expressions and preferences.
//!
//! Printing is the inverse of parsing: for any tree the parser can produce,
//! `parse(print(e)) == e`. Parentheses are written only where the grammar
//! needs them, which is decided by comparing grammar levels. Operators are
//! surrounded by single spaces.

use std::fmt::{self, Write as _};

use crate::tcl::parser::Level;
use crate::tcl::{ArithOp, Expr, Literal, Preference};

fn level(expr: &Expr) -> Level {
    match expr {
        Expr::Or { .. } => Level::Or,
        Expr::And { .. } => Level::And,
        Expr::Compare { .. } => Level::Compare,
        Expr::In { .. } => Level::In,
        Expr::Substring { .. } => Level::Substring,
        Expr::Arith { op: ArithOp::Add | ArithOp::Sub, .. } => Level::Additive,
        Expr::Arith { op: ArithOp::Mul | ArithOp::Div, .. } => Level::Term,
        Expr::Not { .. } => Level::FactorNot,
        Expr::Literal { .. } | Expr::Prop { .. } | Expr::Exist { .. } | Expr::Neg { .. } => Level::Factor,
    }
}

/// Writes `expr` so that it parses at grammar level `required` or tighter:
/// a child at a looser level than its place needs gets parentheses.
fn write_at(f: &mut fmt::Formatter<'_>, expr: &Expr, required: Level) -> fmt::Result {
    if level(expr) < required { write!(f, "({expr})") } else { write!(f, "{expr}") }
}

fn write_chain(f: &mut fmt::Formatter<'_>, operands: &[Expr], op: &str, required: Level) -> fmt::Result {
    for (index, operand) in operands.iter().enumerate() {
        if index > 0 {
            write!(f, " {op} ")?;
        }
        write_at(f, operand, required)?;
    }
    Ok(())
}

fn write_binary(
    f: &mut fmt::Formatter<'_>,
    lhs: (&Expr, Level),
    op: &str,
    rhs: (&Expr, Level),
) -> fmt::Result {
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
                if numeric { write!(f, "({operand})") } else { write_at(f, operand, Level::Factor) }
            }
            Expr::Not { operand, .. } => {
                f.write_str("not ")?;
                write_at(f, operand, Level::Factor)
            }
            Expr::Arith { op, lhs, rhs, .. } => {
                let (left, right) = match op {
                    ArithOp::Add | ArithOp::Sub => (Level::Additive, Level::Term),
                    ArithOp::Mul | ArithOp::Div => (Level::Term, Level::FactorNot),
                };
                write_binary(f, (lhs, left), op.symbol(), (rhs, right))
            }
            Expr::Substring { needle, haystack, .. } => {
                write_binary(f, (needle, Level::Additive), "~", (haystack, Level::Additive))
            }
            Expr::In { value, seq_prop, .. } => {
                write_at(f, value, Level::Substring)?;
                write!(f, " in {seq_prop}")
            }
            Expr::Compare { op, lhs, rhs, .. } => {
                write_binary(f, (lhs, Level::In), op.symbol(), (rhs, Level::In))
            }
            // A nested chain is parenthesised: it was written so.
            Expr::And { operands, .. } => write_chain(f, operands, "and", Level::Compare),
            Expr::Or { operands, .. } => write_chain(f, operands, "or", Level::And),
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
                write_at(f, expr, Level::Additive)
            }
            Preference::Max(expr) => {
                f.write_str("max ")?;
                write_at(f, expr, Level::Additive)
            }
            Preference::With(expr) => write!(f, "with {expr}"),
            Preference::Random => f.write_str("random"),
            Preference::First => f.write_str("first"),
        }
    }
}
