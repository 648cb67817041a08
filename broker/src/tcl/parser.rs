//! Parser for constraints and preferences.
//!
//! The grammar (see the module docs of `tcl`) is a classic precedence
//! ladder, so it is parsed by operator precedence with an explicit stack
//! rather than by one recursive function per level: nesting then costs heap,
//! not call stack, and no input can overflow the stack however deeply it
//! nests. The grammar's irregularities are checked where operators meet:
//! comparisons, `in` and `~` do not associate, `in` takes a property name,
//! and `not` and unary minus apply to a single factor.
//!
//! The parser only checks syntax; types and property names are checked when
//! compiling against a schema. It bounds the height of the tree it builds
//! (and the nesting of parentheses) by [`MAX_NESTING`], so that the passes
//! over the tree, which do recurse, are safe too.

use std::borrow::Cow;

use crate::tcl::lexer::{Found, Keyword, Lexer, Token, TokenKind, shorten};
use crate::tcl::{ArithOp, CompareOp, Expr, Literal, Preference, Span, TclError};

/// The deepest accepted nesting: the height of the expression tree (a chain
/// of `and`s or of `or`s is one level) and the depth of parentheses.
pub const MAX_NESTING: usize = 256;

/// Parses a constraint. Empty text (or only whitespace) is the constraint
/// `TRUE`, which every offer satisfies.
pub fn parse_constraint(text: &str) -> Result<Expr, TclError> {
    let mut parser = Parser::new(text)?;
    if parser.tok.kind == TokenKind::Eof {
        return Ok(Expr::Literal { value: Literal::Bool(true), span: Span::new(0, text.len()) });
    }
    let expr = parser.expression(Level::Or, "an expression")?;
    parser.expect_end("an operator or end of input")?;
    Ok(expr)
}

/// Parses a preference. Empty text (or only whitespace) is `first`.
pub fn parse_preference(text: &str) -> Result<Preference, TclError> {
    let mut parser = Parser::new(text)?;
    let keyword = match parser.tok.kind {
        TokenKind::Eof => return Ok(Preference::First),
        TokenKind::Keyword(
            keyword @ (Keyword::Min | Keyword::Max | Keyword::With | Keyword::Random | Keyword::First),
        ) => keyword,
        _ => return Err(parser.error("'min', 'max', 'with', 'random', 'first' or nothing")),
    };
    parser.advance()?;
    let arithmetic_end = "an arithmetic operator or end of input";
    let (preference, end_expected) = match keyword {
        // `min` and `max` take an `expr`: arithmetic, not a comparison.
        Keyword::Min => (
            Preference::Min(parser.expression(Level::Additive, "an expression after 'min'")?),
            arithmetic_end,
        ),
        Keyword::Max => (
            Preference::Max(parser.expression(Level::Additive, "an expression after 'max'")?),
            arithmetic_end,
        ),
        Keyword::With => (
            Preference::With(parser.expression(Level::Or, "an expression after 'with'")?),
            "an operator or end of input",
        ),
        Keyword::Random => (Preference::Random, "end of input after 'random'"),
        _ => (Preference::First, "end of input after 'first'"),
    };
    parser.expect_end(end_expected)?;
    Ok(preference)
}

/// Grammar levels, loosest first. Binary operators sit on levels `Or` to
/// `Term`; `FactorNot` and `Factor` are the operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Or,
    And,
    Compare,
    In,
    Substring,
    Additive,
    Term,
    FactorNot,
    Factor,
}

/// A binary operator (`in` included, although its right side is a name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binary {
    Or,
    And,
    Compare(CompareOp),
    In,
    Substring,
    Arith(ArithOp),
}

impl Binary {
    fn of(kind: &TokenKind<'_>) -> Option<Binary> {
        Some(match kind {
            TokenKind::Keyword(Keyword::Or) => Binary::Or,
            TokenKind::Keyword(Keyword::And) => Binary::And,
            TokenKind::Eq => Binary::Compare(CompareOp::Eq),
            TokenKind::Ne => Binary::Compare(CompareOp::Ne),
            TokenKind::Lt => Binary::Compare(CompareOp::Lt),
            TokenKind::Le => Binary::Compare(CompareOp::Le),
            TokenKind::Gt => Binary::Compare(CompareOp::Gt),
            TokenKind::Ge => Binary::Compare(CompareOp::Ge),
            TokenKind::Keyword(Keyword::In) => Binary::In,
            TokenKind::Tilde => Binary::Substring,
            TokenKind::Plus => Binary::Arith(ArithOp::Add),
            TokenKind::Minus => Binary::Arith(ArithOp::Sub),
            TokenKind::Star => Binary::Arith(ArithOp::Mul),
            TokenKind::Slash => Binary::Arith(ArithOp::Div),
            _ => return None,
        })
    }

    fn level(self) -> Level {
        match self {
            Binary::Or => Level::Or,
            Binary::And => Level::And,
            Binary::Compare(_) => Level::Compare,
            Binary::In => Level::In,
            Binary::Substring => Level::Substring,
            Binary::Arith(ArithOp::Add | ArithOp::Sub) => Level::Additive,
            Binary::Arith(ArithOp::Mul | ArithOp::Div) => Level::Term,
        }
    }

    /// Left-associative operators chain (`a - b - c`); the others do not.
    fn chains(self) -> bool {
        matches!(self, Binary::Or | Binary::And | Binary::Arith(_))
    }

    /// The error for a second non-associative operator, e.g. `a < b < c`:
    /// what could follow instead, and why this one cannot.
    fn not_associative(self) -> (&'static str, &'static str) {
        match self {
            Binary::In => ("a comparison operator, 'and', 'or'", "'in' is not associative"),
            Binary::Substring => ("'in', a comparison operator, 'and', 'or'", "'~' is not associative"),
            _ => ("'and', 'or'", "comparison operators are not associative"),
        }
    }
}

/// A parsed sub-expression with what the grammar needs to know about it.
struct Operand {
    expr: Expr,
    /// The level it was parsed at; parenthesised expressions are factors.
    level: Level,
    /// The height of its tree (a leaf is 1).
    height: usize,
}

/// Work waiting on the stack for the operand being parsed.
enum Pending<'s> {
    /// `lhs op` waiting for its right operand.
    Binary { op: Binary, token: Token<'s>, lhs: Operand },
    /// `not` or unary minus waiting for its factor.
    Prefix { token: Token<'s> },
    /// An open parenthesis.
    Paren,
}

struct Parser<'s> {
    src: &'s str,
    lexer: Lexer<'s>,
    /// The lookahead token.
    tok: Token<'s>,
}

type Parsed<T> = Result<T, TclError>;

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Parsed<Parser<'s>> {
        let mut lexer = Lexer::new(src);
        let tok = lexer.next_token()?;
        Ok(Parser { src, lexer, tok })
    }

    /// Moves to the next token and returns the one that was current.
    fn advance(&mut self) -> Parsed<Token<'s>> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    fn found(&self) -> String {
        Found(self.src, &self.tok).to_string()
    }

    /// A syntax error at the current token.
    fn error(&self, expected: impl Into<String>) -> TclError {
        TclError::syntax(self.tok.span.start, expected, self.found())
    }

    fn expect_end(&self, expected: &str) -> Parsed<()> {
        if self.tok.kind == TokenKind::Eof { Ok(()) } else { Err(self.error(expected)) }
    }

    fn too_deep(&self, at: &Token<'s>) -> TclError {
        TclError::syntax(
            at.span.start,
            format!("at most {MAX_NESTING} levels of nesting"),
            format!("{} (nesting too deep)", Found(self.src, at)),
        )
    }

    /// Parses an expression whose operators are at `floor` or tighter
    /// outside parentheses (`Or` for a whole constraint, `Additive` for the
    /// argument of `min`). Stops before the first token that cannot continue
    /// it, for the caller to judge. `expected` names the missing first
    /// operand in messages.
    fn expression(&mut self, floor: Level, expected: &'static str) -> Parsed<Expr> {
        let mut stack: Vec<Pending<'s>> = Vec::new();
        // Where the open parentheses are, innermost last.
        let mut open_parens: Vec<Span> = Vec::new();
        let mut expected = Cow::Borrowed(expected);
        loop {
            let factor = self.operand(&mut stack, &mut open_parens, &mut expected)?;
            let mut operand = self.apply_prefixes(&mut stack, factor)?;
            // Operator position: take operators until one needs an operand.
            loop {
                let floor = if open_parens.is_empty() { floor } else { Level::Or };
                if let Some(op) = Binary::of(&self.tok.kind).filter(|op| op.level() >= floor) {
                    operand = self.reduce(&mut stack, operand, op.level())?;
                    self.check_left_operand(op, &operand, &open_parens)?;
                    let token = self.advance()?;
                    if op == Binary::In {
                        operand = self.membership(operand, &token)?;
                        continue;
                    }
                    expected = match op {
                        Binary::Compare(_) => Cow::Borrowed("a comparison operand"),
                        _ => Cow::Owned(format!("an operand after {}", Found(self.src, &token))),
                    };
                    stack.push(Pending::Binary { op, token, lhs: operand });
                    break;
                }
                let Some(open) = open_parens.last().copied() else {
                    return self.reduce(&mut stack, operand, Level::Or).map(|operand| operand.expr);
                };
                if self.tok.kind != TokenKind::RParen {
                    return Err(self.error(format!("')' to close '(' at byte {}", open.start)));
                }
                let close = self.advance()?;
                let mut inner = self.reduce(&mut stack, operand, Level::Or)?;
                if !matches!(stack.pop(), Some(Pending::Paren)) {
                    // `reduce` stops only at a parenthesis, and one is open.
                    return Err(TclError::syntax(close.span.start, "a matching '('", "')'"));
                }
                open_parens.pop();
                *inner.expr.span_mut() = open.to(close.span);
                inner.level = Level::Factor;
                operand = self.apply_prefixes(&mut stack, inner)?;
            }
        }
    }

    /// Operand position: pushes any parentheses and prefix operators, then
    /// returns the factor that follows.
    fn operand(
        &mut self,
        stack: &mut Vec<Pending<'s>>,
        open_parens: &mut Vec<Span>,
        expected: &mut Cow<'static, str>,
    ) -> Parsed<Operand> {
        // Prefix operators apply to a factor, which cannot start with `not`.
        let mut prefixes = 0;
        let leaf = |expr| Ok(Operand { expr, level: Level::Factor, height: 1 });
        loop {
            let expr = match self.tok.kind {
                TokenKind::LParen => {
                    if open_parens.len() == MAX_NESTING {
                        return Err(self.too_deep(&self.tok));
                    }
                    let open = self.advance()?;
                    open_parens.push(open.span);
                    stack.push(Pending::Paren);
                    *expected = Cow::Borrowed("an expression after '('");
                    prefixes = 0;
                    continue;
                }
                TokenKind::Keyword(Keyword::Not) if prefixes == 0 => {
                    let token = self.advance()?;
                    stack.push(Pending::Prefix { token });
                    *expected = Cow::Borrowed("an operand after 'not'");
                    prefixes += 1;
                    continue;
                }
                TokenKind::Minus => {
                    let minus = self.advance()?;
                    if let Some(literal) = self.negative_literal(&minus)? {
                        return leaf(literal);
                    }
                    // Each prefix adds a level to the tree: refuse early.
                    if prefixes + 1 >= MAX_NESTING {
                        return Err(self.too_deep(&minus));
                    }
                    stack.push(Pending::Prefix { token: minus });
                    *expected = Cow::Borrowed("an operand after '-'");
                    prefixes += 1;
                    continue;
                }
                TokenKind::Keyword(Keyword::Exist) => {
                    let exist = self.advance()?;
                    let TokenKind::Ident(name) = self.tok.kind else {
                        return Err(self.error("a property name after 'exist'"));
                    };
                    Expr::Exist { name: name.to_owned(), span: exist.span.to(self.tok.span) }
                }
                TokenKind::Ident(name) => Expr::Prop { name: name.to_owned(), span: self.tok.span },
                TokenKind::Int(value) => Expr::Literal { value: int_literal(value), span: self.tok.span },
                TokenKind::Float(value) => {
                    Expr::Literal { value: Literal::Double(value), span: self.tok.span }
                }
                TokenKind::Bool(value) => Expr::Literal { value: Literal::Bool(value), span: self.tok.span },
                TokenKind::Str(ref value) => {
                    Expr::Literal { value: Literal::String(value.clone()), span: self.tok.span }
                }
                _ => return Err(self.error(expected.as_ref())),
            };
            self.advance()?;
            return leaf(expr);
        }
    }

    /// After a unary minus: folds `- <number>` into a negative literal, which
    /// is how `-9223372036854775808` can be written.
    fn negative_literal(&mut self, minus: &Token<'s>) -> Parsed<Option<Expr>> {
        let value = match self.tok.kind {
            TokenKind::Int(magnitude) => match 0i64.checked_sub_unsigned(magnitude) {
                Some(value) => Literal::Int(value),
                None => {
                    let text = self.src.get(minus.span.start..self.tok.span.end).unwrap_or("");
                    return Err(TclError::syntax(
                        minus.span.start,
                        format!("an integer of at least {}", i64::MIN),
                        format!("'{}' (integer literal out of range)", shorten(text)),
                    ));
                }
            },
            TokenKind::Float(magnitude) => Literal::Double(-magnitude),
            _ => return Ok(None),
        };
        let number = self.advance()?;
        Ok(Some(Expr::Literal { value, span: minus.span.to(number.span) }))
    }

    /// Applies the prefix operators waiting on top of the stack to a factor.
    fn apply_prefixes(&self, stack: &mut Vec<Pending<'s>>, mut operand: Operand) -> Parsed<Operand> {
        while let Some(Pending::Prefix { .. }) = stack.last() {
            let Some(Pending::Prefix { token }) = stack.pop() else { break };
            let height = operand.height + 1;
            if height > MAX_NESTING {
                return Err(self.too_deep(&token));
            }
            let span = token.span.to(operand.expr.span());
            let operand_expr = Box::new(operand.expr);
            operand = match token.kind {
                TokenKind::Keyword(Keyword::Not) => Operand {
                    expr: Expr::Not { operand: operand_expr, span },
                    level: Level::FactorNot,
                    height,
                },
                _ => {
                    Operand { expr: Expr::Neg { operand: operand_expr, span }, level: Level::Factor, height }
                }
            };
        }
        Ok(operand)
    }

    /// Completes the binary operators on the stack that bind at least as
    /// tightly as `level`, with `rhs` as the rightmost operand.
    fn reduce(&self, stack: &mut Vec<Pending<'s>>, mut rhs: Operand, level: Level) -> Parsed<Operand> {
        while let Some(Pending::Binary { op, .. }) = stack.last() {
            if op.level() < level {
                break;
            }
            let Some(Pending::Binary { op, token, lhs }) = stack.pop() else { break };
            rhs = self.combine(op, &token, lhs, rhs)?;
        }
        Ok(rhs)
    }

    fn combine(&self, op: Binary, token: &Token<'s>, lhs: Operand, rhs: Operand) -> Parsed<Operand> {
        // An unparenthesised chain of `and`s (or `or`s) is one n-ary node,
        // as high as its highest operand plus one.
        let extends_chain = matches!(op, Binary::And | Binary::Or) && lhs.level == op.level();
        let height =
            if extends_chain { lhs.height.max(rhs.height + 1) } else { 1 + lhs.height.max(rhs.height) };
        if height > MAX_NESTING {
            return Err(self.too_deep(token));
        }
        let span = lhs.expr.span().to(rhs.expr.span());
        let (lhs_expr, rhs_expr) = (lhs.expr, rhs.expr);
        let expr = match op {
            Binary::And | Binary::Or if extends_chain => {
                let mut chain = lhs_expr;
                if let Expr::And { operands, span: chain_span } | Expr::Or { operands, span: chain_span } =
                    &mut chain
                {
                    operands.push(rhs_expr);
                    *chain_span = span;
                }
                chain
            }
            Binary::And => Expr::And { operands: vec![lhs_expr, rhs_expr], span },
            Binary::Or => Expr::Or { operands: vec![lhs_expr, rhs_expr], span },
            Binary::Compare(op) => {
                Expr::Compare { op, lhs: Box::new(lhs_expr), rhs: Box::new(rhs_expr), span }
            }
            Binary::Substring => {
                Expr::Substring { needle: Box::new(lhs_expr), haystack: Box::new(rhs_expr), span }
            }
            Binary::Arith(op) => Expr::Arith { op, lhs: Box::new(lhs_expr), rhs: Box::new(rhs_expr), span },
            // `in` is built by `membership`, never pushed.
            Binary::In => {
                return Err(TclError::syntax(
                    token.span.start,
                    "a property name after 'in'",
                    "an expression",
                ));
            }
        };
        Ok(Operand { expr, level: op.level(), height })
    }

    /// Checks that the completed `left` may be the left operand of `op`.
    fn check_left_operand(&self, op: Binary, left: &Operand, open_parens: &[Span]) -> Parsed<()> {
        let closer = if open_parens.is_empty() { "end of input" } else { "')'" };
        if op.level() == left.level && !op.chains() {
            let (instead, why) = op.not_associative();
            return Err(TclError::syntax(
                self.tok.span.start,
                format!("{instead} or {closer}"),
                format!("{} ({why}; use parentheses)", self.found()),
            ));
        }
        // Only an `in` test can be followed by a tighter operator, since
        // its right side is a name rather than an operand that would have
        // taken the operator: `x in S ~ y`.
        if op.level() > left.level {
            return Err(TclError::syntax(
                self.tok.span.start,
                format!("a comparison operator, 'and', 'or' or {closer}"),
                format!("{} (put the 'in' test in parentheses)", self.found()),
            ));
        }
        Ok(())
    }

    /// `value in Ident`, after the `in`.
    fn membership(&mut self, value: Operand, in_token: &Token<'s>) -> Parsed<Operand> {
        let TokenKind::Ident(name) = self.tok.kind else {
            return Err(self.error("a property name after 'in'"));
        };
        let seq = self.advance()?;
        let height = value.height + 1;
        if height > MAX_NESTING {
            return Err(self.too_deep(in_token));
        }
        let span = value.expr.span().to(seq.span);
        let expr =
            Expr::In { value: Box::new(value.expr), seq_prop: name.to_owned(), seq_span: seq.span, span };
        Ok(Operand { expr, level: Level::In, height })
    }
}

/// An unsigned literal as the AST holds it: `Int` whenever it fits.
fn int_literal(value: u64) -> Literal {
    match i64::try_from(value) {
        Ok(signed) => Literal::Int(signed),
        Err(_) => Literal::UInt(value),
    }
}
