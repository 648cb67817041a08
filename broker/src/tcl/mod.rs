//! The OMG trading constraint language (TCL) and preference language.
//!
//! Importers select offers with a *constraint* such as
//! `'h264' in video_formats and max_connections > 10 and load < 0.8` and order
//! them with a *preference* such as `min load`. A query's texts go through
//! three stages:
//!
//! 1. [`parse_constraint`] / [`parse_preference`] turn text into an AST
//!    ([`Expr`], [`Preference`]) or a [`TclError::Syntax`];
//! 2. [`CompiledConstraint::new`] / [`CompiledPreference::new`] check it
//!    against the queried type's [`Schema`] ([`TclError::Type`] for unknown
//!    properties and ill-typed operators) and lower it to a typed tree;
//! 3. [`CompiledConstraint::eval`] runs per offer through [`Properties`]
//!    without allocating; [`CompiledPreference::order`] sorts the matches.
//!
//! # Grammar
//!
//! Lowest precedence first (OMG Appendix B, as TAO and JTrader):
//!
//! ```text
//! constraint   ::= <empty> | bool_or                          (empty => TRUE)
//! preference   ::= <empty> | 'min' expr | 'max' expr | 'with' bool_or
//!                | 'random' | 'first'                         (empty => first)
//! bool_or      ::= bool_or 'or' bool_and | bool_and
//! bool_and     ::= bool_and 'and' compare | compare
//! compare      ::= expr_in (('=='|'!='|'<'|'<='|'>'|'>=') expr_in)?
//! expr_in      ::= expr_twiddle ('in' Ident)?
//! expr_twiddle ::= expr ('~' expr)?
//! expr         ::= expr ('+'|'-') term | term
//! term         ::= term ('*'|'/') factor_not | factor_not
//! factor_not   ::= 'not' factor | factor
//! factor       ::= '(' bool_or ')' | 'exist' Ident | Ident | Number
//!                | '-' factor | String | 'TRUE' | 'FALSE'
//! ```
//!
//! Comparisons, `in` and `~` are not associative. `not` binds to a factor,
//! so `not a == b` is `(not a) == b`. `A ~ B` is TRUE iff the string `A`
//! occurs in `B`. Keywords are lower case, booleans `TRUE`/`FALSE`; strings
//! are single-quoted with `\'` and `\\` as the only escapes; the minus sign is
//! its own token, so `Cost-1` is a subtraction.
//!
//! # Semantics
//!
//! Evaluation is three-valued ([`Truth`]): a sub-expression that cannot be
//! evaluated on an offer (missing property, value of an undeclared type,
//! division by zero, overflow) is Unknown, and an offer matches only if the
//! constraint is True. `exist p` is never Unknown. Numbers compare by
//! mathematical value across `i64`, `u64` and `f64`.
//!
//! # For the broker
//!
//! - Kleene logic is monotone: evaluate first without dynamic property
//!   values; True and False are final, Unknown means "fetch the properties
//!   in [`CompiledConstraint::referenced`] and evaluate again".
//! - [`conjuncts`] splits the top-level `and`s of a parsed constraint, for
//!   the index planner to pick `prop == literal`, `literal in prop` or
//!   `prop < literal` out of them.
//! - [`CompiledConstraint::constant`] recognises constraints that need no
//!   evaluation (the empty one, `TRUE`, `exist never_declared`).
//! - Nesting deeper than [`MAX_NESTING`] is a syntax error, so no input can
//!   exhaust the stack of the parser or of the passes over the tree.
//!
//! # Files
//!
//! `lexer.rs` tokens; `parser.rs` text to [`Expr`]; `ast.rs` the tree;
//! `print.rs` the tree back to canonical text; `compile.rs` schema checks
//! and lowering; `eval.rs` the lowered tree and its evaluation, with
//! `num.rs` (exact mixed-type arithmetic) and `text.rs` (string literals);
//! `pref.rs` preferences; `tests/` the table-driven and property tests.

mod ast;
mod compile;
mod error;
mod eval;
mod lexer;
mod num;
mod parser;
mod pref;
mod print;
mod text;

#[cfg(test)]
mod tests;

pub use ast::{ArithOp, CompareOp, Expr, Literal, Preference, Span, conjuncts};
pub use compile::{CompiledConstraint, Schema, compile_constraint};
pub use error::TclError;
pub use eval::{Properties, Truth};
pub use parser::{MAX_NESTING, parse_constraint, parse_preference};
pub use pref::{CompiledPreference, compile_preference};

/// Whether `name` can be written as a property name in a constraint: an
/// identifier that is not a keyword or boolean literal. Useful to validate
/// property names when a service type is declared.
pub fn is_property_name(name: &str) -> bool {
    lexer::is_identifier(name)
}
