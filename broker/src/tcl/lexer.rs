//! Tokens of the constraint language, produced on demand from the text.
//!
//! Lexing is lazy (the parser pulls one token at a time), so the first error
//! reported is the leftmost one whether it is lexical or syntactic.
//!
//! Unlike TAO, numbers are unsigned here and the minus sign is a token of its
//! own, so `Cost-1` and `x+1` lex as three tokens each.

use std::fmt;

use crate::tcl::{Span, TclError};

/// Keywords: lower-case and case-sensitive (`AND` is an identifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    And,
    Or,
    Not,
    Exist,
    In,
    Min,
    Max,
    With,
    Random,
    First,
}

impl Keyword {
    fn from_word(word: &str) -> Option<Keyword> {
        Some(match word {
            "and" => Keyword::And,
            "or" => Keyword::Or,
            "not" => Keyword::Not,
            "exist" => Keyword::Exist,
            "in" => Keyword::In,
            "min" => Keyword::Min,
            "max" => Keyword::Max,
            "with" => Keyword::With,
            "random" => Keyword::Random,
            "first" => Keyword::First,
            _ => return None,
        })
    }
}

/// Whether `word` is reserved and so cannot name a property.
pub(crate) fn is_reserved(word: &str) -> bool {
    Keyword::from_word(word).is_some() || word == "TRUE" || word == "FALSE"
}

/// Whether `word` is a property name as the lexer reads one.
pub(crate) fn is_identifier(word: &str) -> bool {
    let mut bytes = word.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !is_reserved(word)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind<'s> {
    Ident(&'s str),
    Keyword(Keyword),
    Bool(bool),
    /// An unsigned integer literal; the sign is a separate token.
    Int(u64),
    /// A finite, non-negative float literal.
    Float(f64),
    /// A string literal with its escapes resolved.
    Str(String),
    LParen,
    RParen,
    Plus,
    Minus,
    Star,
    Slash,
    Tilde,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'s> {
    pub kind: TokenKind<'s>,
    pub span: Span,
}

/// How a token is named in error messages: its source text in quotes
/// (shortened when long), or "end of input".
pub(crate) struct Found<'a>(pub &'a str, pub &'a Token<'a>);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Found(src, token) = self;
        if token.kind == TokenKind::Eof {
            return f.write_str("end of input");
        }
        let text = src.get(token.span.start..token.span.end).unwrap_or("");
        write!(f, "'{}'", shorten(text))
    }
}

/// At most 32 characters of `text`, with an ellipsis when cut.
pub(crate) fn shorten(text: &str) -> String {
    const LIMIT: usize = 32;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

pub(crate) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str) -> Lexer<'s> {
        Lexer { src, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + offset).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// The character at `pos`, quoted, for "found" messages.
    fn char_at(&self, pos: usize) -> String {
        match self.src.get(pos..).and_then(|rest| rest.chars().next()) {
            Some(c) => format!("'{c}'"),
            None => "end of input".to_owned(),
        }
    }

    pub fn next_token(&mut self) -> Result<Token<'s>, TclError> {
        self.skip_whitespace();
        let start = self.pos;
        let Some(byte) = self.peek() else {
            return Ok(Token { kind: TokenKind::Eof, span: Span::new(start, start) });
        };
        let kind = match byte {
            b'(' => self.single(TokenKind::LParen),
            b')' => self.single(TokenKind::RParen),
            b'+' => self.single(TokenKind::Plus),
            b'-' => self.single(TokenKind::Minus),
            b'*' => self.single(TokenKind::Star),
            b'/' => self.single(TokenKind::Slash),
            b'~' => self.single(TokenKind::Tilde),
            b'<' => self.maybe_eq(TokenKind::Lt, TokenKind::Le),
            b'>' => self.maybe_eq(TokenKind::Gt, TokenKind::Ge),
            b'=' if self.peek_at(1) == Some(b'=') => self.double(TokenKind::Eq),
            b'!' if self.peek_at(1) == Some(b'=') => self.double(TokenKind::Ne),
            b'=' => return Err(TclError::syntax(start, "'=='", "'=' (equality is written '==')")),
            b'!' => return Err(TclError::syntax(start, "'!='", "'!' (negation is written 'not')")),
            b'\'' => self.string()?,
            b'0'..=b'9' => self.number()?,
            b'.' if matches!(self.peek_at(1), Some(b'0'..=b'9')) => self.number()?,
            b if b.is_ascii_alphabetic() || b == b'_' => self.word(),
            _ => {
                return Err(TclError::syntax(
                    start,
                    "a property name, literal, operator or parenthesis",
                    self.char_at(start),
                ));
            }
        };
        Ok(Token { kind, span: Span::new(start, self.pos) })
    }

    fn single(&mut self, kind: TokenKind<'s>) -> TokenKind<'s> {
        self.pos += 1;
        kind
    }

    fn double(&mut self, kind: TokenKind<'s>) -> TokenKind<'s> {
        self.pos += 2;
        kind
    }

    fn maybe_eq(&mut self, alone: TokenKind<'s>, with_eq: TokenKind<'s>) -> TokenKind<'s> {
        if self.peek_at(1) == Some(b'=') { self.double(with_eq) } else { self.single(alone) }
    }

    fn word(&mut self) -> TokenKind<'s> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        match word {
            "TRUE" => TokenKind::Bool(true),
            "FALSE" => TokenKind::Bool(false),
            _ => match Keyword::from_word(word) {
                Some(keyword) => TokenKind::Keyword(keyword),
                None => TokenKind::Ident(word),
            },
        }
    }

    /// `'...'` with `\'` and `\\` as the only escapes.
    fn string(&mut self) -> Result<TokenKind<'s>, TclError> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            // Copy the run up to the next quote or backslash in one go; both
            // are ASCII, so the cut is on a character boundary.
            let rest = &self.src[self.pos..];
            let run = rest.find(['\'', '\\']).unwrap_or(rest.len());
            value.push_str(&rest[..run]);
            self.pos += run;
            match self.peek() {
                Some(b'\'') => {
                    self.pos += 1;
                    return Ok(TokenKind::Str(value));
                }
                Some(b'\\') => match self.peek_at(1) {
                    Some(escaped @ (b'\'' | b'\\')) => {
                        value.push(char::from(escaped));
                        self.pos += 2;
                    }
                    Some(_) => {
                        let escaped = self.src[self.pos + 1..].chars().next().unwrap_or_default();
                        return Err(TclError::syntax(
                            self.pos,
                            "\\' or \\\\ (the only escapes in a string)",
                            format!("'\\{escaped}'"),
                        ));
                    }
                    None => return Err(unterminated(self.src.len(), start)),
                },
                _ => return Err(unterminated(self.src.len(), start)),
            }
        }
    }

    /// `digits`, `digits.digits`, `digits.`, `.digits`, each with an
    /// optional exponent; without a point or exponent it is an integer.
    fn number(&mut self) -> Result<TokenKind<'s>, TclError> {
        let start = self.pos;
        self.digits();
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            is_float = true;
            let exponent = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(TclError::syntax(
                    self.pos,
                    format!("digits in the exponent starting at byte {exponent}"),
                    self.char_at(self.pos),
                ));
            }
        }
        let text = &self.src[start..self.pos];
        if is_float {
            match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(TokenKind::Float(value)),
                _ => Err(TclError::syntax(
                    start,
                    "a number of at most 1.7976931348623157e308",
                    format!("'{}' (float literal out of range)", shorten(text)),
                )),
            }
        } else {
            match text.parse::<u64>() {
                Ok(value) => Ok(TokenKind::Int(value)),
                Err(_) => Err(TclError::syntax(
                    start,
                    format!("an integer of at most {}", u64::MAX),
                    format!("'{}' (integer literal out of range)", shorten(text)),
                )),
            }
        }
    }

    /// Consumes ASCII digits and says how many.
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }
}

fn unterminated(end: usize, start: usize) -> TclError {
    TclError::syntax(
        end,
        "a closing quote",
        format!("end of input (unterminated string starting at byte {start})"),
    )
}
