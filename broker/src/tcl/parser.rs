//! Recursive-descent parser for constraints and preferences.
//!
//! One function per grammar level, lowest precedence first, mirroring the
//! OMG grammar (see the module docs of `tcl`). The parser only checks syntax;
//! types and property names are checked when compiling against a schema.
//!
//! Nesting is bounded ([`MAX_NESTING`]) both while parsing (parentheses,
//! `not` and unary minus recurse) and in the tree built (long operator chains
//! make deep trees), so that neither the parser nor the passes over the tree
//! can exhaust the stack on hostile input.

use crate::tcl::lexer::{Found, Keyword, Lexer, Token, TokenKind, shorten};
use crate::tcl::{ArithOp, CompareOp, Expr, Literal, Preference, Span, TclError};

/// The deepest accepted nesting: of parentheses, `not` and unary minus while
/// parsing, and the height of the tree built.
pub const MAX_NESTING: usize = 256;

/// Parses a constraint. Empty text (or only whitespace) is the constraint
/// `TRUE`, which every offer satisfies.
pub fn parse_constraint(text: &str) -> Result<Expr, TclError> {
    let mut parser = Parser::new(text)?;
    if parser.tok.kind == TokenKind::Eof {
        return Ok(Expr::Literal { value: Literal::Bool(true), span: Span::new(0, text.len()) });
    }
    parser.expect_operand("an expression")?;
    let expr = parser.bool_or()?;
    parser.expect_end("an operator or end of input")?;
    Ok(expr)
}

/// Parses a preference. Empty text (or only whitespace) is `first`.
pub fn parse_preference(text: &str) -> Result<Preference, TclError> {
    let mut parser = Parser::new(text)?;
    let (preference, end_expected) = match parser.tok.kind {
        TokenKind::Eof => return Ok(Preference::First),
        TokenKind::Keyword(Keyword::Min) => {
            parser.advance()?;
            parser.expect_operand("an expression after 'min'")?;
            (Preference::Min(parser.additive()?), "an arithmetic operator or end of input")
        }
        TokenKind::Keyword(Keyword::Max) => {
            parser.advance()?;
            parser.expect_operand("an expression after 'max'")?;
            (Preference::Max(parser.additive()?), "an arithmetic operator or end of input")
        }
        TokenKind::Keyword(Keyword::With) => {
            parser.advance()?;
            parser.expect_operand("an expression after 'with'")?;
            (Preference::With(parser.bool_or()?), "an operator or end of input")
        }
        TokenKind::Keyword(Keyword::Random) => {
            parser.advance()?;
            (Preference::Random, "end of input after 'random'")
        }
        TokenKind::Keyword(Keyword::First) => {
            parser.advance()?;
            (Preference::First, "end of input after 'first'")
        }
        _ => return Err(parser.error("'min', 'max', 'with', 'random', 'first' or nothing")),
    };
    parser.expect_end(end_expected)?;
    Ok(preference)
}

struct Parser<'s> {
    src: &'s str,
    lexer: Lexer<'s>,
    /// The lookahead token.
    tok: Token<'s>,
    /// Parentheses, `not`s and unary minuses enclosing the current position.
    depth: usize,
    /// Parentheses enclosing the current position, to say what may close an
    /// expression in messages.
    open_parens: usize,
    /// The height of the expression most recently returned by a parse
    /// function (a leaf is 1). Kept beside the tree rather than in it.
    height: usize,
}

type Parsed = Result<Expr, TclError>;

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Result<Parser<'s>, TclError> {
        let mut lexer = Lexer::new(src);
        let tok = lexer.next_token()?;
        Ok(Parser { src, lexer, tok, depth: 0, open_parens: 0, height: 0 })
    }

    /// Moves to the next token and returns the one that was current.
    fn advance(&mut self) -> Result<Token<'s>, TclError> {
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

    /// What may end the expression being parsed, for messages.
    fn closer(&self) -> &'static str {
        if self.open_parens > 0 { "')'" } else { "end of input" }
    }

    fn expect_end(&self, expected: &str) -> Result<(), TclError> {
        if self.tok.kind == TokenKind::Eof { Ok(()) } else { Err(self.error(expected)) }
    }

    /// Fails unless the current token can start a `factor`.
    fn expect_factor(&self, expected: &str) -> Result<(), TclError> {
        match self.tok.kind {
            TokenKind::LParen
            | TokenKind::Keyword(Keyword::Exist)
            | TokenKind::Ident(_)
            | TokenKind::Int(_)
            | TokenKind::Float(_)
            | TokenKind::Minus
            | TokenKind::Str(_)
            | TokenKind::Bool(_) => Ok(()),
            _ => Err(self.error(expected)),
        }
    }

    /// Fails unless the current token can start an operand of a binary
    /// operator (a `factor_not`). Checking before descending lets the message
    /// name the operator that wants the operand.
    fn expect_operand(&self, expected: &str) -> Result<(), TclError> {
        if self.tok.kind == TokenKind::Keyword(Keyword::Not) { Ok(()) } else { self.expect_factor(expected) }
    }

    /// Enters one level of parser recursion.
    fn enter(&mut self, opener: &Token<'s>) -> Result<(), TclError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.too_deep(opener));
        }
        Ok(())
    }

    fn too_deep(&self, at: &Token<'s>) -> TclError {
        TclError::syntax(
            at.span.start,
            format!("at most {MAX_NESTING} levels of nesting"),
            format!("{} (nesting too deep)", Found(self.src, at)),
        )
    }

    /// Records the height of a node built over a child of height `lhs` and
    /// the last parsed expression.
    fn grow(&mut self, lhs: usize, operator: &Token<'s>) -> Result<(), TclError> {
        self.height = 1 + lhs.max(self.height);
        if self.height > MAX_NESTING {
            return Err(self.too_deep(operator));
        }
        Ok(())
    }

    /// Parses `operand (op operand)*` into a left-leaning tree.
    fn left_assoc<Op: Copy>(
        &mut self,
        operand: fn(&mut Self) -> Parsed,
        operator: fn(&TokenKind<'_>) -> Option<Op>,
        build: fn(Op, Box<Expr>, Box<Expr>, Span) -> Expr,
    ) -> Parsed {
        let mut lhs = operand(self)?;
        while let Some(op) = operator(&self.tok.kind) {
            let lhs_height = self.height;
            let op_token = self.advance()?;
            self.expect_operand(&format!("an operand after {}", Found(self.src, &op_token)))?;
            let rhs = operand(self)?;
            self.grow(lhs_height, &op_token)?;
            let span = lhs.span().to(rhs.span());
            lhs = build(op, Box::new(lhs), Box::new(rhs), span);
        }
        Ok(lhs)
    }

    /// `bool_or ::= bool_or 'or' bool_and | bool_and`
    fn bool_or(&mut self) -> Parsed {
        self.left_assoc(
            Self::bool_and,
            |kind| (*kind == TokenKind::Keyword(Keyword::Or)).then_some(()),
            |(), lhs, rhs, span| Expr::Or { lhs, rhs, span },
        )
    }

    /// `bool_and ::= bool_and 'and' compare | compare`
    fn bool_and(&mut self) -> Parsed {
        self.left_assoc(
            Self::compare,
            |kind| (*kind == TokenKind::Keyword(Keyword::And)).then_some(()),
            |(), lhs, rhs, span| Expr::And { lhs, rhs, span },
        )
    }

    /// `compare ::= expr_in (cmp_op expr_in)?`, not associative.
    fn compare(&mut self) -> Parsed {
        let lhs = self.expr_in()?;
        let Some(op) = compare_op(&self.tok.kind) else { return Ok(lhs) };
        let lhs_height = self.height;
        let op_token = self.advance()?;
        self.expect_operand("a comparison operand")?;
        let rhs = self.expr_in()?;
        self.grow(lhs_height, &op_token)?;
        if compare_op(&self.tok.kind).is_some() {
            return Err(TclError::syntax(
                self.tok.span.start,
                format!("'and', 'or' or {}", self.closer()),
                format!("{} (comparison operators are not associative; use parentheses)", self.found()),
            ));
        }
        let span = lhs.span().to(rhs.span());
        Ok(Expr::Compare { op, lhs: Box::new(lhs), rhs: Box::new(rhs), span })
    }

    /// `expr_in ::= expr_twiddle ('in' Ident)?`, not associative.
    fn expr_in(&mut self) -> Parsed {
        let value = self.twiddle()?;
        if self.tok.kind != TokenKind::Keyword(Keyword::In) {
            return Ok(value);
        }
        let value_height = self.height;
        let in_token = self.advance()?;
        let TokenKind::Ident(name) = self.tok.kind else {
            return Err(self.error("a property name after 'in'"));
        };
        let seq_token = self.advance()?;
        self.height = 1;
        self.grow(value_height, &in_token)?;
        if self.tok.kind == TokenKind::Keyword(Keyword::In) {
            return Err(TclError::syntax(
                self.tok.span.start,
                format!("a comparison operator, 'and', 'or' or {}", self.closer()),
                format!("{} ('in' is not associative; use parentheses)", self.found()),
            ));
        }
        let span = value.span().to(seq_token.span);
        Ok(Expr::In { value: Box::new(value), seq_prop: name.to_owned(), seq_span: seq_token.span, span })
    }

    /// `expr_twiddle ::= expr ('~' expr)?`, not associative.
    fn twiddle(&mut self) -> Parsed {
        let needle = self.additive()?;
        if self.tok.kind != TokenKind::Tilde {
            return Ok(needle);
        }
        let needle_height = self.height;
        let tilde = self.advance()?;
        self.expect_operand("an operand after '~'")?;
        let haystack = self.additive()?;
        self.grow(needle_height, &tilde)?;
        if self.tok.kind == TokenKind::Tilde {
            return Err(TclError::syntax(
                self.tok.span.start,
                format!("'in', a comparison operator, 'and', 'or' or {}", self.closer()),
                format!("{} ('~' is not associative; use parentheses)", self.found()),
            ));
        }
        let span = needle.span().to(haystack.span());
        Ok(Expr::Substring { needle: Box::new(needle), haystack: Box::new(haystack), span })
    }

    /// `expr ::= expr ('+'|'-') term | term`
    fn additive(&mut self) -> Parsed {
        self.left_assoc(
            Self::term,
            |kind| match kind {
                TokenKind::Plus => Some(ArithOp::Add),
                TokenKind::Minus => Some(ArithOp::Sub),
                _ => None,
            },
            |op, lhs, rhs, span| Expr::Arith { op, lhs, rhs, span },
        )
    }

    /// `term ::= term ('*'|'/') factor_not | factor_not`
    fn term(&mut self) -> Parsed {
        self.left_assoc(
            Self::factor_not,
            |kind| match kind {
                TokenKind::Star => Some(ArithOp::Mul),
                TokenKind::Slash => Some(ArithOp::Div),
                _ => None,
            },
            |op, lhs, rhs, span| Expr::Arith { op, lhs, rhs, span },
        )
    }

    /// `factor_not ::= 'not' factor | factor`
    fn factor_not(&mut self) -> Parsed {
        if self.tok.kind != TokenKind::Keyword(Keyword::Not) {
            return self.factor();
        }
        let not = self.advance()?;
        self.expect_factor("an operand after 'not'")?;
        self.enter(&not)?;
        let operand = self.factor()?;
        self.depth -= 1;
        self.grow(0, &not)?;
        let span = not.span.to(operand.span());
        Ok(Expr::Not { operand: Box::new(operand), span })
    }

    /// `factor ::= '(' bool_or ')' | 'exist' Ident | Ident | Number
    ///           | '-' factor | String | 'TRUE' | 'FALSE'`
    fn factor(&mut self) -> Parsed {
        let literal = |value, span| Expr::Literal { value, span };
        self.height = 1;
        let expr = match self.tok.kind {
            TokenKind::LParen => return self.parenthesised(),
            TokenKind::Minus => return self.negation(),
            TokenKind::Keyword(Keyword::Exist) => {
                let exist = self.advance()?;
                let TokenKind::Ident(name) = self.tok.kind else {
                    return Err(self.error("a property name after 'exist'"));
                };
                Expr::Exist { name: name.to_owned(), span: exist.span.to(self.tok.span) }
            }
            TokenKind::Ident(name) => Expr::Prop { name: name.to_owned(), span: self.tok.span },
            TokenKind::Int(value) => literal(int_literal(value), self.tok.span),
            TokenKind::Float(value) => literal(Literal::Double(value), self.tok.span),
            TokenKind::Bool(value) => literal(Literal::Bool(value), self.tok.span),
            TokenKind::Str(ref value) => literal(Literal::String(value.clone()), self.tok.span),
            _ => return Err(self.error("an operand")),
        };
        self.advance()?;
        Ok(expr)
    }

    fn parenthesised(&mut self) -> Parsed {
        let open = self.advance()?;
        self.expect_operand("an expression after '('")?;
        self.enter(&open)?;
        self.open_parens += 1;
        let mut inner = self.bool_or()?;
        self.open_parens -= 1;
        self.depth -= 1;
        if self.tok.kind != TokenKind::RParen {
            return Err(self.error(format!("')' to close '(' at byte {}", open.span.start)));
        }
        let close = self.advance()?;
        *inner.span_mut() = open.span.to(close.span);
        Ok(inner)
    }

    /// `'-' factor`. A minus directly before a number literal is folded into
    /// the literal, which is how `-9223372036854775808` can be written.
    fn negation(&mut self) -> Parsed {
        let minus = self.advance()?;
        let folded = match self.tok.kind {
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
            _ => {
                self.expect_factor("an operand after '-'")?;
                self.enter(&minus)?;
                let operand = self.factor()?;
                self.depth -= 1;
                self.grow(0, &minus)?;
                let span = minus.span.to(operand.span());
                return Ok(Expr::Neg { operand: Box::new(operand), span });
            }
        };
        let number = self.advance()?;
        self.height = 1;
        Ok(Expr::Literal { value: folded, span: minus.span.to(number.span) })
    }
}

/// An unsigned literal as the AST holds it: `Int` whenever it fits.
fn int_literal(value: u64) -> Literal {
    match i64::try_from(value) {
        Ok(signed) => Literal::Int(signed),
        Err(_) => Literal::UInt(value),
    }
}

fn compare_op(kind: &TokenKind<'_>) -> Option<CompareOp> {
    Some(match kind {
        TokenKind::Eq => CompareOp::Eq,
        TokenKind::Ne => CompareOp::Ne,
        TokenKind::Lt => CompareOp::Lt,
        TokenKind::Le => CompareOp::Le,
        TokenKind::Gt => CompareOp::Gt,
        TokenKind::Ge => CompareOp::Ge,
        _ => return None,
    })
}
