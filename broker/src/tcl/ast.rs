//! The parsed form of constraints and preferences.
//!
//! The AST is public so that the broker's index planner can look at a query
//! before it is compiled: [`conjuncts`] splits the top-level `and`s and the
//! variants are plain enums to match on, e.g.
//! `Expr::Compare { op: CompareOp::Eq, lhs, rhs, .. }` with `lhs` a
//! [`Expr::Prop`] and `rhs` an [`Expr::Literal`].
//!
//! Every node carries the byte [`Span`] of its source text, for error
//! messages. Equality ignores spans, so an expression that is printed (see
//! `print.rs`) and parsed again compares equal to the original.

use std::fmt;

/// A half-open byte range `start..end` of the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A literal value.
///
/// The parser normalises numbers: an integer literal is `Int` when it fits in
/// an `i64` and `UInt` only above `i64::MAX`, and a minus sign directly in
/// front of a number literal is folded into it (`-5` is `Int(-5)`, so
/// `-9223372036854775808` is `Int(i64::MIN)`). Doubles are always finite.
#[derive(Debug, Clone)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    String(String),
}

impl PartialEq for Literal {
    /// Doubles compare by bit pattern, so `0.0 != -0.0`: this is equality of
    /// source literals, not of numeric values.
    fn eq(&self, other: &Literal) -> bool {
        match (self, other) {
            (Literal::Bool(a), Literal::Bool(b)) => a == b,
            (Literal::Int(a), Literal::Int(b)) => a == b,
            (Literal::UInt(a), Literal::UInt(b)) => a == b,
            (Literal::Double(a), Literal::Double(b)) => a.to_bits() == b.to_bits(),
            (Literal::String(a), Literal::String(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Literal {}

/// `+ - * /`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl ArithOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

/// `== != < <= > >=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// Whether `a op b` holds given `a.cmp(b)`.
    #[inline]
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            CompareOp::Eq => ordering == Equal,
            CompareOp::Ne => ordering != Equal,
            CompareOp::Lt => ordering == Less,
            CompareOp::Le => ordering != Greater,
            CompareOp::Gt => ordering == Greater,
            CompareOp::Ge => ordering != Less,
        }
    }

    /// The operator with its operands swapped: `a < b` iff `b > a`.
    pub fn flipped(self) -> CompareOp {
        match self {
            CompareOp::Eq => CompareOp::Eq,
            CompareOp::Ne => CompareOp::Ne,
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::Le => CompareOp::Ge,
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::Ge => CompareOp::Le,
        }
    }

    /// Whether this is `==` or `!=`, the only comparisons defined on booleans.
    pub fn is_equality(self) -> bool {
        matches!(self, CompareOp::Eq | CompareOp::Ne)
    }
}

/// A constraint expression (or the argument of a preference).
///
/// `span` covers the node's source text, including the parentheses when the
/// node was written in parentheses.
#[derive(Debug, Clone)]
pub enum Expr {
    Literal {
        value: Literal,
        span: Span,
    },
    /// A property of the offer, by name.
    Prop {
        name: String,
        span: Span,
    },
    /// `exist name`: whether the offer carries the property.
    Exist {
        name: String,
        span: Span,
    },
    /// Unary minus on anything but a number literal (those are folded).
    Neg {
        operand: Box<Expr>,
        span: Span,
    },
    Not {
        operand: Box<Expr>,
        span: Span,
    },
    Arith {
        op: ArithOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Span,
    },
    /// `needle ~ haystack`: whether the string `needle` occurs in `haystack`.
    Substring {
        needle: Box<Expr>,
        haystack: Box<Expr>,
        span: Span,
    },
    /// `value in seq_prop`: whether the sequence property contains the value.
    In {
        value: Box<Expr>,
        seq_prop: String,
        seq_span: Span,
        span: Span,
    },
    Compare {
        op: CompareOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Span,
    },
    /// `a and b and ...`: at least two operands. An unparenthesised chain
    /// is one node (so long generated conjunctions make flat trees); a
    /// parenthesised `and` operand stays a nested node.
    And {
        operands: Vec<Expr>,
        span: Span,
    },
    /// `a or b or ...`, like `And`.
    Or {
        operands: Vec<Expr>,
        span: Span,
    },
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Literal { span, .. }
            | Expr::Prop { span, .. }
            | Expr::Exist { span, .. }
            | Expr::Neg { span, .. }
            | Expr::Not { span, .. }
            | Expr::Arith { span, .. }
            | Expr::Substring { span, .. }
            | Expr::In { span, .. }
            | Expr::Compare { span, .. }
            | Expr::And { span, .. }
            | Expr::Or { span, .. } => *span,
        }
    }

    pub(crate) fn span_mut(&mut self) -> &mut Span {
        match self {
            Expr::Literal { span, .. }
            | Expr::Prop { span, .. }
            | Expr::Exist { span, .. }
            | Expr::Neg { span, .. }
            | Expr::Not { span, .. }
            | Expr::Arith { span, .. }
            | Expr::Substring { span, .. }
            | Expr::In { span, .. }
            | Expr::Compare { span, .. }
            | Expr::And { span, .. }
            | Expr::Or { span, .. } => span,
        }
    }

    /// The literal, if this node is one.
    pub fn as_literal(&self) -> Option<&Literal> {
        match self {
            Expr::Literal { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The property name, if this node is a bare property.
    pub fn as_prop(&self) -> Option<&str> {
        match self {
            Expr::Prop { name, .. } => Some(name),
            _ => None,
        }
    }
}

impl PartialEq for Expr {
    /// Structural equality; spans are ignored.
    fn eq(&self, other: &Expr) -> bool {
        use Expr as E;
        match (self, other) {
            (E::Literal { value: a, .. }, E::Literal { value: b, .. }) => a == b,
            (E::Prop { name: a, .. }, E::Prop { name: b, .. })
            | (E::Exist { name: a, .. }, E::Exist { name: b, .. }) => a == b,
            (E::Neg { operand: a, .. }, E::Neg { operand: b, .. })
            | (E::Not { operand: a, .. }, E::Not { operand: b, .. }) => a == b,
            (E::Arith { op: o1, lhs: l1, rhs: r1, .. }, E::Arith { op: o2, lhs: l2, rhs: r2, .. }) => {
                o1 == o2 && l1 == l2 && r1 == r2
            }
            (E::Compare { op: o1, lhs: l1, rhs: r1, .. }, E::Compare { op: o2, lhs: l2, rhs: r2, .. }) => {
                o1 == o2 && l1 == l2 && r1 == r2
            }
            (
                E::Substring { needle: l1, haystack: r1, .. },
                E::Substring { needle: l2, haystack: r2, .. },
            ) => l1 == l2 && r1 == r2,
            (E::And { operands: a, .. }, E::And { operands: b, .. })
            | (E::Or { operands: a, .. }, E::Or { operands: b, .. }) => a == b,
            (E::In { value: v1, seq_prop: s1, .. }, E::In { value: v2, seq_prop: s2, .. }) => {
                v1 == v2 && s1 == s2
            }
            _ => false,
        }
    }
}

impl Eq for Expr {}

/// The top-level conjuncts of a constraint: `a and (b and c) and d` gives
/// `[a, b, c, d]`; anything else gives itself. An offer matches the
/// constraint iff it matches every conjunct, so the broker may answer any
/// one of them from an index and evaluate the rest per offer.
pub fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut pending = vec![expr];
    // An explicit stack, pushed in reverse, keeps the left-to-right order.
    while let Some(e) = pending.pop() {
        match e {
            Expr::And { operands, .. } => pending.extend(operands.iter().rev()),
            other => out.push(other),
        }
    }
    out
}

/// A parsed preference: how to order the matched offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preference {
    /// Ascending by a numeric expression.
    Min(Expr),
    /// Descending by a numeric expression.
    Max(Expr),
    /// Offers for which the boolean expression is TRUE first.
    With(Expr),
    /// A uniformly random order.
    Random,
    /// Discovery order; also what an empty preference means.
    First,
}
