//! Exact mixed-type arithmetic and comparison, on the boundaries where the
//! usual casts go wrong.

use std::cmp::Ordering::{self, Equal, Greater, Less};

use crate::tcl::ArithOp;
use crate::tcl::num::Num;

const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

#[track_caller]
fn cmp(a: Num, b: Num, want: Option<Ordering>) {
    assert_eq!(a.compare(b), want, "{a:?} vs {b:?}");
    assert_eq!(b.compare(a), want.map(Ordering::reverse), "{b:?} vs {a:?}");
}

#[test]
fn comparisons_across_types() {
    use Num::{Double as D, Int as I, UInt as U};
    cmp(I(-1), U(u64::MAX), Some(Less));
    cmp(I(-1), U(0), Some(Less));
    cmp(I(5), U(5), Some(Equal));
    cmp(I(i64::MAX), U(1 << 63), Some(Less));
    cmp(I(i64::MAX), D(TWO_POW_63), Some(Less));
    cmp(I(i64::MIN), D(-TWO_POW_63), Some(Equal));
    cmp(I(i64::MIN), D(-9.223_372_036_854_777e18), Some(Greater));
    cmp(U(u64::MAX), D(TWO_POW_64), Some(Less));
    cmp(U(u64::MAX), D(18_446_744_073_709_549_568.0), Some(Greater));
    cmp(U(1 << 63), D(TWO_POW_63), Some(Equal));
    cmp(U(0), D(-0.0), Some(Equal));
    cmp(I(0), D(-0.0), Some(Equal));
    cmp(I(-1), D(-0.5), Some(Less));
    cmp(I(-1), D(-1.5), Some(Greater));
    cmp(I(1), D(0.5), Some(Greater));
    cmp(I(1), D(1.5), Some(Less));
    cmp(I(9_007_199_254_740_993), D(9_007_199_254_740_992.0), Some(Greater));
    cmp(U(9_007_199_254_740_993), D(9_007_199_254_740_994.0), Some(Less));
    cmp(I(3), D(f64::INFINITY), Some(Less));
    cmp(U(u64::MAX), D(f64::INFINITY), Some(Less));
    cmp(I(i64::MIN), D(f64::NEG_INFINITY), Some(Greater));
    cmp(I(3), D(f64::NAN), None);
    cmp(U(3), D(f64::NAN), None);
    cmp(D(1.0), D(f64::NAN), None);
    cmp(D(1.0), D(2.0), Some(Less));
    cmp(D(-0.0), D(0.0), Some(Equal));
    cmp(D(5e-324), I(0), Some(Greater));
    cmp(D(-5e-324), U(0), Some(Less));
}

#[track_caller]
fn arith(op: ArithOp, a: Num, b: Num, want: Option<Num>) {
    let got = Num::arith(op, a, b);
    let same = match (got, want) {
        (Some(Num::Int(x)), Some(Num::Int(y))) => x == y,
        (Some(Num::UInt(x)), Some(Num::UInt(y))) => x == y,
        (Some(Num::Double(x)), Some(Num::Double(y))) => x.to_bits() == y.to_bits(),
        (None, None) => true,
        _ => false,
    };
    assert!(same, "{a:?} {} {b:?} = {got:?}, want {want:?}", op.symbol());
}

#[test]
fn integer_arithmetic_is_exact_and_picks_a_fitting_type() {
    use ArithOp::{Add, Div, Mul, Sub};
    use Num::{Int as I, UInt as U};
    arith(Add, I(i64::MAX), I(1), Some(U(1 << 63)));
    arith(Add, U(u64::MAX), I(-1), Some(U(u64::MAX - 1)));
    arith(Add, U(u64::MAX), U(1), None);
    arith(Sub, U(0), U(1), Some(I(-1)));
    arith(Sub, I(i64::MIN), I(1), None);
    arith(Sub, I(i64::MIN), U(u64::MAX), None);
    arith(Sub, U(1 << 63), U(1), Some(I(i64::MAX)));
    arith(Mul, I(i64::MIN), I(-1), Some(U(1 << 63)));
    arith(Mul, U(u64::MAX), U(u64::MAX), None);
    arith(Mul, I(i64::MIN), I(i64::MIN), None);
    arith(Mul, I(-3), U(4), Some(I(-12)));
    arith(Div, I(7), I(2), Some(I(3)));
    arith(Div, I(-7), I(2), Some(I(-3)));
    arith(Div, I(7), I(-2), Some(I(-3)));
    arith(Div, I(-7), I(-2), Some(I(3)));
    arith(Div, I(i64::MIN), I(-1), Some(U(1 << 63)));
    arith(Div, U(u64::MAX), I(-1), None);
    arith(Div, I(1), I(0), None);
    arith(Div, U(1), U(0), None);
    arith(Div, I(0), I(0), None);
}

#[test]
fn double_arithmetic_must_stay_finite() {
    use ArithOp::{Add, Div, Mul, Sub};
    use Num::{Double as D, Int as I, UInt as U};
    arith(Mul, I(2), D(0.5), Some(D(1.0)));
    arith(Add, U(u64::MAX), D(0.0), Some(D(TWO_POW_64)));
    arith(Sub, D(0.5), I(1), Some(D(-0.5)));
    arith(Div, I(7), D(2.0), Some(D(3.5)));
    arith(Div, D(1.0), D(0.0), None);
    arith(Div, D(0.0), D(0.0), None);
    arith(Div, D(1.0), I(0), None);
    arith(Mul, D(1e308), D(10.0), None);
    arith(Add, D(f64::MAX), D(f64::MAX), None);
    arith(Sub, D(-f64::MAX), D(f64::MAX), None);
}

#[test]
fn negation() {
    let neg = |n: Num| n.negate();
    assert!(matches!(neg(Num::Int(i64::MIN)), Some(Num::UInt(v)) if v == 1 << 63));
    assert!(matches!(neg(Num::UInt(1 << 63)), Some(Num::Int(i64::MIN))));
    assert!(neg(Num::UInt((1 << 63) + 1)).is_none());
    assert!(matches!(neg(Num::Int(5)), Some(Num::Int(-5))));
    assert!(matches!(neg(Num::UInt(0)), Some(Num::Int(0))));
    assert!(matches!(neg(Num::Double(0.0)), Some(Num::Double(v)) if v.to_bits() == (-0.0f64).to_bits()));
}
