//! Exact arithmetic and comparison across `i64`, `u64` and `f64`.
//!
//! Offers hold numbers of three types and a constraint may mix them freely,
//! so comparisons are done on the mathematical values: `u64::MAX > -1` and
//! `9007199254740993 > 9007199254740992.0` are both true, although the usual
//! casts would say otherwise. Integer arithmetic is exact (computed in
//! `i128`) and yields `None` when the result does not fit in `i64` or `u64`;
//! any double operand makes the arithmetic `f64`, and a result that is not
//! finite is `None`. `None` becomes Unknown in the constraint's logic.

use std::cmp::Ordering;

use crate::tcl::{ArithOp, Literal};
use crate::value::Value;

/// A number as the evaluator sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    UInt(u64),
    Double(f64),
}

/// 2^63 and 2^64 as doubles (both exact).
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

impl Num {
    /// The number an offer's value holds, if it is a number.
    #[inline]
    pub fn from_value(value: &Value) -> Option<Num> {
        match *value {
            Value::Int(v) => Some(Num::Int(v)),
            Value::UInt(v) => Some(Num::UInt(v)),
            Value::Double(v) => Some(Num::Double(v)),
            _ => None,
        }
    }

    pub fn from_literal(literal: &Literal) -> Option<Num> {
        match *literal {
            Literal::Int(v) => Some(Num::Int(v)),
            Literal::UInt(v) => Some(Num::UInt(v)),
            Literal::Double(v) => Some(Num::Double(v)),
            Literal::Bool(_) | Literal::String(_) => None,
        }
    }

    /// The integer, widened so that both integer types fit.
    #[inline]
    fn integer(self) -> Option<i128> {
        match self {
            Num::Int(v) => Some(i128::from(v)),
            Num::UInt(v) => Some(i128::from(v)),
            Num::Double(_) => None,
        }
    }

    /// The nearest double, for mixed arithmetic.
    fn to_f64(self) -> f64 {
        match self {
            Num::Int(v) => v as f64,
            Num::UInt(v) => v as f64,
            Num::Double(v) => v,
        }
    }

    /// The integer as an `Int` if it fits, else a `UInt` if it fits.
    fn from_i128(value: i128) -> Option<Num> {
        if let Ok(v) = i64::try_from(value) {
            Some(Num::Int(v))
        } else {
            u64::try_from(value).ok().map(Num::UInt)
        }
    }

    fn from_f64(value: f64) -> Option<Num> {
        value.is_finite().then_some(Num::Double(value))
    }

    /// Compares the mathematical values; `None` only when a NaN is involved.
    #[inline]
    pub fn compare(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (Num::UInt(a), Num::UInt(b)) => Some(a.cmp(&b)),
            (Num::Double(a), Num::Double(b)) => a.partial_cmp(&b),
            _ => self.compare_mixed(other),
        }
    }

    /// `compare` for operands of different types: rarer, and kept out of
    /// line so that the same-type comparisons inline.
    #[inline(never)]
    fn compare_mixed(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (Num::UInt(a), Num::UInt(b)) => Some(a.cmp(&b)),
            (Num::Double(a), Num::Double(b)) => a.partial_cmp(&b),
            (Num::Int(a), Num::UInt(b)) => Some(i128::from(a).cmp(&i128::from(b))),
            (Num::UInt(a), Num::Int(b)) => Some(i128::from(a).cmp(&i128::from(b))),
            (Num::Int(a), Num::Double(b)) => compare_integer_double(i128::from(a), b),
            (Num::UInt(a), Num::Double(b)) => compare_integer_double(i128::from(a), b),
            (Num::Double(a), Num::Int(b)) => compare_integer_double(i128::from(b), a).map(Ordering::reverse),
            (Num::Double(a), Num::UInt(b)) => compare_integer_double(i128::from(b), a).map(Ordering::reverse),
        }
    }

    /// Whether the two are the same number.
    #[inline]
    pub fn same(self, other: Num) -> bool {
        self.compare(other) == Some(Ordering::Equal)
    }

    pub fn negate(self) -> Option<Num> {
        match self {
            Num::Double(v) => Some(Num::Double(-v)),
            integer => Num::from_i128(-integer.integer()?),
        }
    }

    pub fn arith(op: ArithOp, lhs: Num, rhs: Num) -> Option<Num> {
        if let (Some(a), Some(b)) = (lhs.integer(), rhs.integer()) {
            // Operands are within [-2^63, 2^64), so only `*` can overflow
            // i128 (u64::MAX squared); `checked_*` covers every case anyway.
            let exact = match op {
                ArithOp::Add => a.checked_add(b),
                ArithOp::Sub => a.checked_sub(b),
                ArithOp::Mul => a.checked_mul(b),
                // Rust's integer division truncates toward zero, like C.
                ArithOp::Div => a.checked_div(b),
            };
            return Num::from_i128(exact?);
        }
        let (a, b) = (lhs.to_f64(), rhs.to_f64());
        Num::from_f64(match op {
            ArithOp::Add => a + b,
            ArithOp::Sub => a - b,
            ArithOp::Mul => a * b,
            ArithOp::Div => a / b,
        })
    }

    /// Whether this is zero, of any type.
    pub fn is_zero(self) -> bool {
        match self {
            Num::Int(v) => v == 0,
            Num::UInt(v) => v == 0,
            Num::Double(v) => v == 0.0,
        }
    }
}

/// Compares an integer in `[-2^63, 2^64)` with a double, exactly.
fn compare_integer_double(integer: i128, double: f64) -> Option<Ordering> {
    if double.is_nan() {
        return None;
    }
    if double >= TWO_POW_64 {
        return Some(Ordering::Less);
    }
    if double < -TWO_POW_63 {
        return Some(Ordering::Greater);
    }
    // Within these bounds the integral part of the double converts to i128
    // without loss, and the fractional part is exact in f64.
    let whole = double.trunc();
    match integer.cmp(&(whole as i128)) {
        Ordering::Equal => (0.0).partial_cmp(&(double - whole)),
        unequal => Some(unequal),
    }
}

/// Numbers ordered by value, for sorting by a preference. Callers keep NaN
/// out (it is an unevaluable preference), which makes the order total.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrderedNum(pub Num);

impl PartialEq for OrderedNum {
    fn eq(&self, other: &OrderedNum) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for OrderedNum {}

impl PartialOrd for OrderedNum {
    fn partial_cmp(&self, other: &OrderedNum) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedNum {
    fn cmp(&self, other: &OrderedNum) -> Ordering {
        self.0.compare(other.0).unwrap_or(Ordering::Equal)
    }
}
