//! Static checking of constraints against the queried service type, and
//! lowering to the typed tree that `eval.rs` runs.
//!
//! Checking happens once per query; everything that can be decided then is:
//! property names are resolved to ids, types are checked (so evaluation never
//! meets an operator applied to the wrong kind of operand, only values that
//! differ from what the type declared), constant sub-expressions are folded
//! and common shapes get specialised nodes.

use crate::tcl::eval::{BoolNode, NumNode, Properties, StrNode, Truth};
use crate::tcl::num::Num;
use crate::tcl::text::StrConst;
use crate::tcl::{ArithOp, CompareOp, Expr, Literal, Span, TclError, parse_constraint};
use crate::value::{PropId, ValueType};

/// The property declarations of the queried service type, implemented by
/// the broker.
pub trait Schema {
    /// Declared (id, type) of a property of the queried service type, or
    /// `None` if not declared.
    fn property(&self, name: &str) -> Option<(PropId, ValueType)>;

    /// An id for a name that is not declared but may appear under `exist`
    /// (`None`: no offer can have it, so `exist` is FALSE).
    fn id_of(&self, name: &str) -> Option<PropId>;
}

/// A constraint checked against a schema, ready to be evaluated per offer.
#[derive(Debug, Clone)]
pub struct CompiledConstraint {
    root: BoolNode,
    referenced: Vec<PropId>,
}

impl CompiledConstraint {
    /// Checks `expr` against `schema` and compiles it.
    pub fn new<S: Schema + ?Sized>(expr: &Expr, schema: &S) -> Result<CompiledConstraint, TclError> {
        let compiler = Compiler { schema };
        let root = match compiler.expr(expr)? {
            Typed::Bool(node) => node,
            other => {
                return Err(TclError::type_error(
                    expr.span(),
                    format!("a constraint must be a boolean expression, found {}", other.kind()),
                ));
            }
        };
        let mut referenced = Vec::new();
        root.visit_props(&mut |id| referenced.push(id));
        referenced.sort_unstable();
        referenced.dedup();
        Ok(CompiledConstraint { root, referenced })
    }

    /// The constraint's value on one offer.
    pub fn eval<P: Properties + ?Sized>(&self, props: &P) -> Truth {
        self.root.eval(props)
    }

    /// Whether the offer matches: only a `True` constraint does.
    pub fn matches<P: Properties + ?Sized>(&self, props: &P) -> bool {
        self.eval(props).is_true()
    }

    /// The constraint's value when it is the same for every offer (`TRUE`,
    /// the empty constraint, `1 == 1`, `exist undeclared_everywhere`), so
    /// the broker can skip evaluating it, or answer without scanning.
    pub fn constant(&self) -> Option<Truth> {
        match self.root {
            BoolNode::Const(truth) => Some(truth),
            _ => None,
        }
    }

    /// The properties whose values evaluation may read, sorted and without
    /// duplicates. Operands of `exist` are not included: existence is known
    /// without evaluating a dynamic property.
    pub fn referenced(&self) -> &[PropId] {
        &self.referenced
    }
}

/// Parses and compiles a constraint in one step.
pub fn compile_constraint<S: Schema + ?Sized>(
    text: &str,
    schema: &S,
) -> Result<CompiledConstraint, TclError> {
    CompiledConstraint::new(&parse_constraint(text)?, schema)
}

/// A checked expression, by static type.
pub(crate) enum Typed {
    Bool(BoolNode),
    Num(NumNode),
    Str(StrNode),
}

impl Typed {
    /// The type with an article, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Typed::Bool(_) => "a boolean",
            Typed::Num(_) => "a number",
            Typed::Str(_) => "a string",
        }
    }
}

pub(crate) struct Compiler<'a, S: ?Sized> {
    pub schema: &'a S,
}

impl<S: Schema + ?Sized> Compiler<'_, S> {
    /// Checks and lowers one node. Kept to a bare dispatch: it is on every
    /// level of the recursion, so its stack frame should stay small.
    pub fn expr(&self, expr: &Expr) -> Result<Typed, TclError> {
        match expr {
            Expr::Literal { value, .. } => Ok(literal(value)),
            Expr::Prop { name, span } => self.prop(name, *span),
            Expr::Exist { name, .. } => Ok(self.exist(name)),
            Expr::Not { operand, .. } => self.not(operand),
            Expr::Neg { operand, .. } => self.neg(operand),
            Expr::Arith { op, lhs, rhs, .. } => self.arith(*op, lhs, rhs),
            Expr::Substring { needle, haystack, .. } => self.substring(needle, haystack),
            Expr::In { value, seq_prop, seq_span, span } => {
                self.membership(value, seq_prop, *seq_span, *span)
            }
            Expr::Compare { op, lhs, rhs, span } => self.compare(*op, lhs, rhs, *span),
            Expr::And { operands, .. } => self.junction(operands, Junction::And),
            Expr::Or { operands, .. } => self.junction(operands, Junction::Or),
        }
    }

    fn exist(&self, name: &str) -> Typed {
        let id = self.schema.property(name).map(|(id, _)| id).or_else(|| self.schema.id_of(name));
        Typed::Bool(id.map_or(BoolNode::Const(Truth::False), BoolNode::Exist))
    }

    fn not(&self, operand: &Expr) -> Result<Typed, TclError> {
        Ok(Typed::Bool(match self.boolean(operand, "'not' needs a boolean operand")? {
            BoolNode::Const(truth) => BoolNode::Const(!truth),
            other => BoolNode::Not(Box::new(other)),
        }))
    }

    fn neg(&self, operand: &Expr) -> Result<Typed, TclError> {
        Ok(Typed::Num(match self.number(operand, "unary '-' needs a numeric operand")? {
            NumNode::Const(value) => value.negate().map_or(NumNode::Unknown, NumNode::Const),
            NumNode::Unknown => NumNode::Unknown,
            other => NumNode::Neg(Box::new(other)),
        }))
    }

    fn substring(&self, needle: &Expr, haystack: &Expr) -> Result<Typed, TclError> {
        let needle = self.string(needle, "'~' needs string operands")?;
        let haystack = self.string(haystack, "'~' needs string operands")?;
        Ok(Typed::Bool(match (&needle, &haystack) {
            (StrNode::Const(n), StrNode::Const(h)) => {
                BoolNode::Const(Truth::from(h.as_str().contains(n.as_str())))
            }
            _ => BoolNode::Substring { needle, haystack },
        }))
    }

    fn prop(&self, name: &str, span: Span) -> Result<Typed, TclError> {
        let Some((id, value_type)) = self.schema.property(name) else {
            return Err(TclError::type_error(span, format!("unknown property '{name}'")));
        };
        match value_type {
            ValueType::Bool => Ok(Typed::Bool(BoolNode::Prop(id))),
            ValueType::Int | ValueType::UInt | ValueType::Double => Ok(Typed::Num(NumNode::Prop(id))),
            ValueType::String => Ok(Typed::Str(StrNode::Prop(id))),
            ValueType::Records => Err(TclError::type_error(
                span,
                format!("property '{name}' holds records, which can only be tested with 'exist'"),
            )),
            sequence => Err(TclError::type_error(
                span,
                format!(
                    "property '{name}' is a sequence ({sequence}); a sequence can only be the right operand of 'in'"
                ),
            )),
        }
    }

    /// Compiles `expr`, which must be boolean; `context` starts the message
    /// otherwise.
    pub fn boolean(&self, expr: &Expr, context: &str) -> Result<BoolNode, TclError> {
        match self.expr(expr)? {
            Typed::Bool(node) => Ok(node),
            other => Err(TclError::type_error(expr.span(), format!("{context}, found {}", other.kind()))),
        }
    }

    pub fn number(&self, expr: &Expr, context: &str) -> Result<NumNode, TclError> {
        match self.expr(expr)? {
            Typed::Num(node) => Ok(node),
            other => Err(TclError::type_error(expr.span(), format!("{context}, found {}", other.kind()))),
        }
    }

    fn string(&self, expr: &Expr, context: &str) -> Result<StrNode, TclError> {
        match self.expr(expr)? {
            Typed::Str(node) => Ok(node),
            other => Err(TclError::type_error(expr.span(), format!("{context}, found {}", other.kind()))),
        }
    }

    fn arith(&self, op: ArithOp, lhs: &Expr, rhs: &Expr) -> Result<Typed, TclError> {
        let context = format!("'{}' needs numeric operands", op.symbol());
        let lhs_node = self.number(lhs, &context)?;
        let rhs_node = self.number(rhs, &context)?;
        let literal_zero = rhs.as_literal().and_then(Num::from_literal).is_some_and(Num::is_zero);
        if op == ArithOp::Div && literal_zero {
            return Err(TclError::type_error(rhs.span(), "division by zero"));
        }
        Ok(Typed::Num(match (lhs_node, rhs_node) {
            (NumNode::Const(a), NumNode::Const(b)) => {
                Num::arith(op, a, b).map_or(NumNode::Unknown, NumNode::Const)
            }
            (NumNode::Unknown, _) | (_, NumNode::Unknown) => NumNode::Unknown,
            (lhs, rhs) => NumNode::Arith { op, lhs: Box::new(lhs), rhs: Box::new(rhs) },
        }))
    }

    fn membership(
        &self,
        value: &Expr,
        seq_prop: &str,
        seq_span: Span,
        span: Span,
    ) -> Result<Typed, TclError> {
        let value = self.expr(value)?;
        let Some((seq, seq_type)) = self.schema.property(seq_prop) else {
            return Err(TclError::type_error(seq_span, format!("unknown property '{seq_prop}'")));
        };
        let node = match (value, seq_type) {
            (Typed::Bool(value), ValueType::BoolSeq) => BoolNode::InBool { value: Box::new(value), seq },
            (Typed::Num(value), ValueType::IntSeq | ValueType::UIntSeq | ValueType::DoubleSeq) => {
                BoolNode::InNum { value, seq }
            }
            (Typed::Str(value), ValueType::StringSeq) => BoolNode::InStr { value, seq },
            (_, not_sequence) if !not_sequence.is_sequence() => {
                return Err(TclError::type_error(
                    seq_span,
                    format!(
                        "'in' needs a sequence property on the right; '{seq_prop}' has type {not_sequence}"
                    ),
                ));
            }
            (value, sequence) => {
                return Err(TclError::type_error(
                    span,
                    format!("cannot look for {} in the {sequence} '{seq_prop}'", value.kind()),
                ));
            }
        };
        Ok(Typed::Bool(node))
    }

    fn compare(&self, op: CompareOp, lhs: &Expr, rhs: &Expr, span: Span) -> Result<Typed, TclError> {
        let node = match (self.expr(lhs)?, self.expr(rhs)?) {
            (Typed::Num(a), Typed::Num(b)) => compare_numbers(op, a, b),
            (Typed::Str(a), Typed::Str(b)) => compare_strings(op, a, b),
            (Typed::Bool(a), Typed::Bool(b)) if op.is_equality() => match (a, b) {
                (BoolNode::Const(Truth::Unknown), _) | (_, BoolNode::Const(Truth::Unknown)) => {
                    BoolNode::Const(Truth::Unknown)
                }
                (BoolNode::Const(a), BoolNode::Const(b)) => {
                    BoolNode::Const(Truth::from((a == b) == (op == CompareOp::Eq)))
                }
                (a, b) => BoolNode::EqBool { equal: op == CompareOp::Eq, lhs: Box::new(a), rhs: Box::new(b) },
            },
            (Typed::Bool(_), Typed::Bool(_)) => {
                return Err(TclError::type_error(
                    span,
                    format!("'{}' is not defined on booleans; only '==' and '!=' are", op.symbol()),
                ));
            }
            (a, b) => {
                let allowed = if op.is_equality() {
                    "two numbers, two strings or two booleans"
                } else {
                    "two numbers or two strings"
                };
                return Err(TclError::type_error(
                    span,
                    format!("'{}' needs {allowed}, found {} and {}", op.symbol(), a.kind(), b.kind()),
                ));
            }
        };
        Ok(Typed::Bool(node))
    }

    fn junction(&self, operands: &[Expr], junction: Junction) -> Result<Typed, TclError> {
        let context = match junction {
            Junction::And => "'and' needs boolean operands",
            Junction::Or => "'or' needs boolean operands",
        };
        // The value that decides the junction whatever the other operands
        // are (FALSE for 'and'), and the one that is neutral in it.
        let (absorbing, neutral) = match junction {
            Junction::And => (Truth::False, Truth::True),
            Junction::Or => (Truth::True, Truth::False),
        };
        let mut nodes = Vec::with_capacity(operands.len());
        let mut decided = false;
        // Every operand is checked, even after a constant decided the result.
        for operand in operands {
            match self.boolean(operand, context)? {
                BoolNode::Const(truth) if truth == absorbing => decided = true,
                BoolNode::Const(truth) if truth == neutral => {}
                BoolNode::And(nested) if junction == Junction::And => nodes.extend(nested),
                BoolNode::Or(nested) if junction == Junction::Or => nodes.extend(nested),
                other => nodes.push(other),
            }
        }
        nodes.sort_by_cached_key(BoolNode::cost);
        let node = if decided {
            BoolNode::Const(absorbing)
        } else if nodes.len() <= 1 {
            nodes.pop().unwrap_or(BoolNode::Const(neutral))
        } else if junction == Junction::And {
            BoolNode::And(nodes)
        } else {
            BoolNode::Or(nodes)
        };
        Ok(Typed::Bool(node))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Junction {
    And,
    Or,
}

fn literal(value: &Literal) -> Typed {
    match value {
        Literal::Bool(value) => Typed::Bool(BoolNode::Const(Truth::from(*value))),
        Literal::Int(value) => Typed::Num(NumNode::Const(Num::Int(*value))),
        Literal::UInt(value) => Typed::Num(NumNode::Const(Num::UInt(*value))),
        Literal::Double(value) => Typed::Num(NumNode::Const(Num::Double(*value))),
        Literal::String(value) => Typed::Str(StrNode::Const(StrConst::new(value))),
    }
}

fn compare_numbers(op: CompareOp, lhs: NumNode, rhs: NumNode) -> BoolNode {
    match (lhs, rhs) {
        (NumNode::Unknown, _) | (_, NumNode::Unknown) => BoolNode::Const(Truth::Unknown),
        (NumNode::Const(a), NumNode::Const(b)) => {
            BoolNode::Const(a.compare(b).map_or(Truth::Unknown, |o| Truth::from(op.holds(o))))
        }
        (NumNode::Prop(prop), NumNode::Const(constant)) => BoolNode::CmpPropNum { op, prop, constant },
        (NumNode::Const(constant), NumNode::Prop(prop)) => {
            BoolNode::CmpPropNum { op: op.flipped(), prop, constant }
        }
        (lhs, rhs) => BoolNode::CmpNum { op, lhs, rhs },
    }
}

fn compare_strings(op: CompareOp, lhs: StrNode, rhs: StrNode) -> BoolNode {
    match (lhs, rhs) {
        (StrNode::Const(a), StrNode::Const(b)) => {
            BoolNode::Const(Truth::from(op.holds(a.as_str().cmp(b.as_str()))))
        }
        (StrNode::Prop(prop), StrNode::Const(constant)) => BoolNode::CmpPropStr { op, prop, constant },
        (StrNode::Const(constant), StrNode::Prop(prop)) => {
            BoolNode::CmpPropStr { op: op.flipped(), prop, constant }
        }
        (lhs, rhs) => BoolNode::CmpStr { op, lhs, rhs },
    }
}
