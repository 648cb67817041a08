//! The compiled form of expressions and its evaluation against one offer.
//!
//! Compilation (`compile.rs`) has already checked types, so the tree here is
//! split by static type (booleans, numbers, strings) and has nodes for the
//! common shapes (`prop op literal`, `literal in prop`). Evaluation reads
//! values through [`Properties`], borrows strings and sequences from the
//! offer and never allocates.
//!
//! Logic is three-valued (Kleene): anything that cannot be evaluated on this
//! offer (a missing or not yet evaluated property, a value of another type
//! than declared, division by zero, overflow) is [`Truth::Unknown`] and
//! propagates through comparisons and arithmetic; `and`/`or` absorb it when
//! the other side decides (`FALSE and U` is FALSE, `TRUE or U` is TRUE).

use crate::tcl::num::Num;
use crate::tcl::text::StrConst;
use crate::tcl::{ArithOp, CompareOp};
use crate::value::{PropId, Value};

/// Read access to one offer's properties, implemented by the broker.
pub trait Properties {
    /// The concrete value of a property, `None` if absent or not (yet)
    /// evaluated (e.g. an unevaluated dynamic property).
    fn get(&self, id: PropId) -> Option<&Value>;

    /// Whether the offer carries the property at all (value or dynamic
    /// descriptor).
    fn exists(&self, id: PropId) -> bool;
}

/// The outcome of a constraint on one offer.
///
/// The logic is monotone: giving an offer more property values (say, the
/// results of dynamic properties) can turn `Unknown` into `True` or `False`
/// but never changes `True` or `False`. So a caller may evaluate first
/// without the dynamic values and fetch them only when the answer is
/// `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    /// Kleene conjunction.
    #[must_use]
    pub fn and(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::False, _) | (_, Truth::False) => Truth::False,
            (Truth::True, Truth::True) => Truth::True,
            _ => Truth::Unknown,
        }
    }

    /// Kleene disjunction.
    #[must_use]
    pub fn or(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::True, _) | (_, Truth::True) => Truth::True,
            (Truth::False, Truth::False) => Truth::False,
            _ => Truth::Unknown,
        }
    }

    /// Whether this is `True`: an offer matches only then.
    #[inline]
    pub fn is_true(self) -> bool {
        self == Truth::True
    }

    #[inline]
    fn from_option(value: Option<bool>) -> Truth {
        match value {
            Some(true) => Truth::True,
            Some(false) => Truth::False,
            None => Truth::Unknown,
        }
    }
}

impl std::ops::Not for Truth {
    type Output = Truth;

    /// Kleene negation: `not Unknown` is `Unknown`.
    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }
}

impl From<bool> for Truth {
    #[inline]
    fn from(value: bool) -> Truth {
        if value { Truth::True } else { Truth::False }
    }
}

/// A boolean-typed expression.
#[derive(Debug, Clone)]
pub(crate) enum BoolNode {
    Const(Truth),
    Prop(PropId),
    /// `exist p`; an id the schema does not know compiles to `Const(False)`.
    Exist(PropId),
    Not(Box<BoolNode>),
    /// n-ary, flattened: `a and b and c` is one node.
    And(Vec<BoolNode>),
    Or(Vec<BoolNode>),
    /// `==` / `!=` on booleans; `equal` is false for `!=`.
    EqBool {
        equal: bool,
        lhs: Box<BoolNode>,
        rhs: Box<BoolNode>,
    },
    CmpNum {
        op: CompareOp,
        lhs: NumNode,
        rhs: NumNode,
    },
    /// `prop op constant`, the most common numeric test.
    CmpPropNum {
        op: CompareOp,
        prop: PropId,
        constant: Num,
    },
    CmpStr {
        op: CompareOp,
        lhs: StrNode,
        rhs: StrNode,
    },
    /// `prop op 'constant'`.
    CmpPropStr {
        op: CompareOp,
        prop: PropId,
        constant: StrConst,
    },
    Substring {
        needle: StrNode,
        haystack: StrNode,
    },
    InNum {
        value: NumNode,
        seq: PropId,
    },
    InStr {
        value: StrNode,
        seq: PropId,
    },
    InBool {
        value: Box<BoolNode>,
        seq: PropId,
    },
}

/// A number-typed expression.
#[derive(Debug, Clone)]
pub(crate) enum NumNode {
    Const(Num),
    /// A constant expression that cannot be evaluated (e.g. `1 / (1 - 1)`).
    Unknown,
    Prop(PropId),
    Neg(Box<NumNode>),
    Arith {
        op: ArithOp,
        lhs: Box<NumNode>,
        rhs: Box<NumNode>,
    },
}

/// A string-typed expression: the language has no string operators, so
/// this is a literal or a property.
#[derive(Debug, Clone)]
pub(crate) enum StrNode {
    Const(StrConst),
    Prop(PropId),
}

impl BoolNode {
    /// The node's value on one offer.
    pub fn eval<P: Properties + ?Sized>(&self, props: &P) -> Truth {
        match self {
            // The operands of `and`/`or` are mostly tests on one property:
            // evaluating them inline saves a call per operand, which is a
            // good part of the cost of such a test.
            BoolNode::And(operands) => {
                let mut result = Truth::True;
                for operand in operands {
                    match operand.eval_inline(props) {
                        Truth::False => return Truth::False,
                        Truth::Unknown => result = Truth::Unknown,
                        Truth::True => {}
                    }
                }
                result
            }
            BoolNode::Or(operands) => {
                let mut result = Truth::False;
                for operand in operands {
                    match operand.eval_inline(props) {
                        Truth::True => return Truth::True,
                        Truth::Unknown => result = Truth::Unknown,
                        Truth::False => {}
                    }
                }
                result
            }
            other => other.eval_inline(props),
        }
    }

    /// Evaluates every kind of node but `and`/`or`, which go through
    /// [`BoolNode::eval`] (so the recursion is not inlined into itself).
    #[inline(always)]
    fn eval_inline<P: Properties + ?Sized>(&self, props: &P) -> Truth {
        match self {
            BoolNode::And(_) | BoolNode::Or(_) => self.eval(props),
            BoolNode::Const(truth) => *truth,
            BoolNode::Prop(id) => match props.get(*id) {
                Some(Value::Bool(value)) => Truth::from(*value),
                _ => Truth::Unknown,
            },
            BoolNode::Exist(id) => Truth::from(props.exists(*id)),
            BoolNode::Not(operand) => !operand.eval(props),
            BoolNode::EqBool { equal, lhs, rhs } => match (lhs.eval(props), rhs.eval(props)) {
                (Truth::Unknown, _) | (_, Truth::Unknown) => Truth::Unknown,
                (a, b) => Truth::from((a == b) == *equal),
            },
            BoolNode::CmpNum { op, lhs, rhs } => {
                let ordering = lhs.eval(props).zip(rhs.eval(props)).and_then(|(a, b)| a.compare(b));
                Truth::from_option(ordering.map(|o| op.holds(o)))
            }
            BoolNode::CmpPropNum { op, prop, constant } => {
                let ordering = match (props.get(*prop), constant) {
                    // The value usually has the literal's type.
                    (Some(Value::Int(value)), Num::Int(constant)) => Some(value.cmp(constant)),
                    (Some(Value::Double(value)), Num::Double(constant)) => value.partial_cmp(constant),
                    (Some(value), _) => Num::from_value(value).and_then(|value| value.compare(*constant)),
                    (None, _) => None,
                };
                Truth::from_option(ordering.map(|ordering| op.holds(ordering)))
            }
            BoolNode::CmpStr { op, lhs, rhs } => match (lhs.eval(props), rhs.eval(props)) {
                // str's order is byte-wise, as the language wants.
                (Some(a), Some(b)) => Truth::from(op.holds(a.cmp(b))),
                _ => Truth::Unknown,
            },
            BoolNode::CmpPropStr { op, prop, constant } => match (op, props.get(*prop)) {
                (CompareOp::Eq, Some(Value::String(value))) => Truth::from(constant.equals(value)),
                (CompareOp::Ne, Some(Value::String(value))) => Truth::from(!constant.equals(value)),
                (_, Some(Value::String(value))) => {
                    Truth::from(op.holds(value.as_str().cmp(constant.as_str())))
                }
                _ => Truth::Unknown,
            },
            BoolNode::Substring { needle, haystack } => match (needle, haystack.eval(props)) {
                (StrNode::Const(needle), Some(haystack)) => Truth::from(needle.occurs_in(haystack)),
                (StrNode::Prop(_), Some(haystack)) => match needle.eval(props) {
                    Some(needle) => Truth::from(haystack.contains(needle)),
                    None => Truth::Unknown,
                },
                _ => Truth::Unknown,
            },
            BoolNode::InNum { value, seq } => {
                let Some(value) = value.eval(props) else { return Truth::Unknown };
                match props.get(*seq) {
                    Some(Value::IntSeq(items)) => match value {
                        // Same-type membership is the common case; no need
                        // for the mixed-type comparison per element.
                        Num::Int(v) => Truth::from(items.contains(&v)),
                        _ => Truth::from(items.iter().any(|&item| Num::Int(item).same(value))),
                    },
                    Some(Value::UIntSeq(items)) => match value {
                        Num::UInt(v) => Truth::from(items.contains(&v)),
                        _ => Truth::from(items.iter().any(|&item| Num::UInt(item).same(value))),
                    },
                    Some(Value::DoubleSeq(items)) => {
                        Truth::from(items.iter().any(|&item| Num::Double(item).same(value)))
                    }
                    _ => Truth::Unknown,
                }
            }
            BoolNode::InStr { value, seq } => match (value, props.get(*seq)) {
                (StrNode::Const(needle), Some(Value::StringSeq(items))) => {
                    Truth::from(items.iter().any(|item| needle.equals(item)))
                }
                (StrNode::Prop(_), Some(Value::StringSeq(items))) => match value.eval(props) {
                    Some(value) => Truth::from(items.iter().any(|item| item == value)),
                    None => Truth::Unknown,
                },
                _ => Truth::Unknown,
            },
            BoolNode::InBool { value, seq } => match (value.eval(props), props.get(*seq)) {
                (Truth::Unknown, _) => Truth::Unknown,
                (value, Some(Value::BoolSeq(items))) => Truth::from(items.contains(&value.is_true())),
                _ => Truth::Unknown,
            },
        }
    }

    /// A rough relative cost of evaluating the node. The operands of
    /// `and`/`or` are evaluated cheapest first, so that an offer is rejected
    /// (or accepted) by a numeric comparison before a scan of a sequence or
    /// a substring search is paid for; the logic is commutative, so the
    /// order does not change the result.
    pub fn cost(&self) -> u32 {
        match self {
            BoolNode::Const(_) => 0,
            BoolNode::Prop(_) | BoolNode::Exist(_) => 1,
            BoolNode::CmpPropNum { .. } => 2,
            BoolNode::CmpPropStr { .. } => 3,
            BoolNode::CmpStr { .. } => 4,
            BoolNode::Substring { .. } | BoolNode::InStr { .. } => 8,
            BoolNode::Not(operand) => operand.cost().saturating_add(1),
            BoolNode::EqBool { lhs, rhs, .. } => lhs.cost().saturating_add(rhs.cost()).saturating_add(1),
            BoolNode::InBool { value, .. } => value.cost().saturating_add(8),
            BoolNode::CmpNum { lhs, rhs, .. } => lhs.cost().saturating_add(rhs.cost()).saturating_add(2),
            BoolNode::InNum { value, .. } => value.cost().saturating_add(8),
            BoolNode::And(operands) | BoolNode::Or(operands) => {
                operands.iter().fold(0, |total, operand| total.saturating_add(operand.cost()))
            }
        }
    }

    /// Calls `f` on every property whose value evaluation may read.
    pub fn visit_props(&self, f: &mut impl FnMut(PropId)) {
        match self {
            BoolNode::Const(_) | BoolNode::Exist(_) => {}
            BoolNode::Prop(id) => f(*id),
            BoolNode::Not(operand) => operand.visit_props(f),
            BoolNode::And(operands) | BoolNode::Or(operands) => {
                operands.iter().for_each(|operand| operand.visit_props(f));
            }
            BoolNode::EqBool { lhs, rhs, .. } => {
                lhs.visit_props(f);
                rhs.visit_props(f);
            }
            BoolNode::CmpNum { lhs, rhs, .. } => {
                lhs.visit_props(f);
                rhs.visit_props(f);
            }
            BoolNode::CmpPropNum { prop, .. } | BoolNode::CmpPropStr { prop, .. } => f(*prop),
            BoolNode::CmpStr { lhs, rhs, .. } => {
                lhs.visit_props(f);
                rhs.visit_props(f);
            }
            BoolNode::Substring { needle, haystack } => {
                needle.visit_props(f);
                haystack.visit_props(f);
            }
            BoolNode::InNum { value, seq } => {
                value.visit_props(f);
                f(*seq);
            }
            BoolNode::InStr { value, seq } => {
                value.visit_props(f);
                f(*seq);
            }
            BoolNode::InBool { value, seq } => {
                value.visit_props(f);
                f(*seq);
            }
        }
    }
}

impl NumNode {
    fn cost(&self) -> u32 {
        match self {
            NumNode::Const(_) | NumNode::Unknown => 0,
            NumNode::Prop(_) => 1,
            NumNode::Neg(operand) => operand.cost().saturating_add(1),
            NumNode::Arith { lhs, rhs, .. } => lhs.cost().saturating_add(rhs.cost()).saturating_add(2),
        }
    }

    /// The value, or `None` for Unknown.
    pub fn eval<P: Properties + ?Sized>(&self, props: &P) -> Option<Num> {
        match self {
            NumNode::Const(value) => Some(*value),
            NumNode::Unknown => None,
            NumNode::Prop(id) => props.get(*id).and_then(Num::from_value),
            NumNode::Neg(operand) => operand.eval(props)?.negate(),
            NumNode::Arith { op, lhs, rhs } => Num::arith(*op, lhs.eval(props)?, rhs.eval(props)?),
        }
    }

    pub fn visit_props(&self, f: &mut impl FnMut(PropId)) {
        match self {
            NumNode::Const(_) | NumNode::Unknown => {}
            NumNode::Prop(id) => f(*id),
            NumNode::Neg(operand) => operand.visit_props(f),
            NumNode::Arith { lhs, rhs, .. } => {
                lhs.visit_props(f);
                rhs.visit_props(f);
            }
        }
    }
}

impl StrNode {
    /// The string, borrowed from the node or the offer, or `None` for
    /// Unknown.
    #[inline]
    pub fn eval<'a, P: Properties + ?Sized>(&'a self, props: &'a P) -> Option<&'a str> {
        match self {
            StrNode::Const(value) => Some(value.as_str()),
            StrNode::Prop(id) => match props.get(*id) {
                Some(Value::String(value)) => Some(value),
                _ => None,
            },
        }
    }

    pub fn visit_props(&self, f: &mut impl FnMut(PropId)) {
        if let StrNode::Prop(id) = self {
            f(*id);
        }
    }
}
