//! Errors of the constraint and preference languages.
//!
//! Errors are values: the broker maps them to `IllegalConstraint` /
//! `IllegalPreference`, and the byte positions let it point at the culprit.

/// Why a constraint or preference was rejected.
///
/// Positions are byte offsets into the text that was parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TclError {
    /// The text is not in the language.
    ///
    /// `expected` says what would have been accepted at `pos`; `found` names
    /// what is there instead, sometimes followed by an explanation in
    /// parentheses (for example why an integer or a nesting depth is refused).
    #[error("at byte {pos}: expected {expected}, found {found}")]
    Syntax { pos: usize, expected: String, found: String },

    /// The text parses but is ill-typed against the queried service type, or
    /// names a property the type does not declare. `pos..end` is the span of
    /// the offending sub-expression.
    #[error("at byte {pos}..{end}: {message}")]
    Type { pos: usize, end: usize, message: String },
}

impl TclError {
    /// The byte offset where the error starts.
    pub fn pos(&self) -> usize {
        match self {
            TclError::Syntax { pos, .. } | TclError::Type { pos, .. } => *pos,
        }
    }

    pub(crate) fn syntax(pos: usize, expected: impl Into<String>, found: impl Into<String>) -> TclError {
        TclError::Syntax { pos, expected: expected.into(), found: found.into() }
    }

    pub(crate) fn type_error(span: crate::tcl::Span, message: impl Into<String>) -> TclError {
        TclError::Type { pos: span.start, end: span.end, message: message.into() }
    }
}
