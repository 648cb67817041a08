//! What can go wrong in a `bourse` command, the exit code of each kind, and
//! how an error is reported: `error: ...` on stderr, with a caret line under
//! a constraint or preference that the broker rejected, and with `--json`
//! also `{"error": {...}}` on stdout.

use std::collections::HashMap;
use std::fmt;

use tonic::Code;
use tonic_types::StatusExt;
use unicode_width::UnicodeWidthStr;

use crate::values::PropError;

/// Exit codes of `bourse`, also listed in `bourse --help`.
pub mod exit_code {
    /// The broker answered with an error.
    pub const BROKER: u8 = 1;
    /// The command line is wrong: unknown flags (reported by clap), values
    /// that do not parse, unreadable input files.
    pub const USAGE: u8 = 2;
    /// The broker cannot be reached (connection refused, timed out, or the
    /// connection broke).
    pub const UNREACHABLE: u8 = 3;
    /// Writing the output failed.
    pub const OUTPUT: u8 = 4;
    /// `bourse select` picked a server but no player could be started, or
    /// the player failed; or the terminal UI could not run.
    pub const PLAYER: u8 = 5;
}

/// An error that ends a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Prop(#[from] PropError),
    #[error("cannot reach broker at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// No address was given and discovery found no broker.
    #[error("{0}")]
    NoBroker(String),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// The terminal UI or the player after it.
    #[error("{0}")]
    Player(String),
    /// The demo fleet could not start.
    #[error("demo: {0}")]
    Demo(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Prop(_) => exit_code::USAGE,
            CliError::Unreachable { .. } | CliError::NoBroker(_) => exit_code::UNREACHABLE,
            CliError::Broker(_) => exit_code::BROKER,
            CliError::Output(_) => exit_code::OUTPUT,
            CliError::Player(_) => exit_code::PLAYER,
            CliError::Demo(_) => exit_code::BROKER,
        }
    }

    /// The `code` of the JSON error: the gRPC code name for broker errors.
    fn json_code(&self) -> String {
        match self {
            CliError::Usage(_) | CliError::Prop(_) => "Usage".to_string(),
            CliError::Unreachable { .. } | CliError::NoBroker(_) => "Unreachable".to_string(),
            CliError::Broker(error) => format!("{:?}", error.code),
            CliError::Output(_) => "Output".to_string(),
            CliError::Player(_) => "Player".to_string(),
            CliError::Demo(_) => "Demo".to_string(),
        }
    }

    /// The error for people: `error: message`, then the caret lines if the
    /// broker pointed into an expression the user typed.
    pub fn render_text(&self) -> String {
        let mut text = format!("error: {self}\n");
        if let CliError::Broker(BrokerError {
            expression: Some(expression), source_text: Some(source), ..
        }) = self
        {
            text.push_str(&render_caret(source, expression.position, expression.end, 2));
        }
        text
    }

    /// The error for scripts: `{"error": {"code", "message", ...}}`, with
    /// `field`, `reason`, `position` and `end` when the broker pointed into
    /// an expression.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.json_code(), "message": self.to_string() });
        if let CliError::Broker(BrokerError { expression: Some(expression), .. }) = self {
            error["field"] = expression.field.clone().into();
            error["reason"] = expression.reason.clone().into();
            error["position"] = expression.position.into();
            error["end"] = expression.end.into();
        }
        serde_json::json!({ "error": error })
    }
}

/// The JSON error document for a command line that clap rejected, so that
/// `--json` callers get one even for a usage error: `{"error":{"code":
/// "Usage","message":...}}` with the first paragraph of clap's message
/// (without the usage and help lines) on one line.
pub fn usage_error_json(error: &clap::Error) -> serde_json::Value {
    let rendered = error.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = paragraph.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    serde_json::json!({ "error": { "code": "Usage", "message": message } })
}

/// A gRPC status from the broker, with the position of a constraint or
/// preference error when the status carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerError {
    pub code: Code,
    pub message: String,
    /// Where in which expression the broker found the error.
    pub expression: Option<ExpressionError>,
    /// The expression the user typed that `expression` points into, when
    /// the command knows it (see [`BrokerError::with_expressions`]).
    pub source_text: Option<String>,
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() { write!(f, "{:?}", self.code) } else { f.write_str(&self.message) }
    }
}

impl std::error::Error for BrokerError {}

/// The `google.rpc.ErrorInfo` detail that the broker attaches to a
/// constraint or preference error (domain `bourse.v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressionError {
    /// `CONSTRAINT_SYNTAX`, `CONSTRAINT_TYPE`, `PREFERENCE_SYNTAX` or
    /// `PREFERENCE_TYPE`.
    pub reason: String,
    /// `constraint` or `preference`.
    pub field: String,
    /// Byte offset of the culprit in the expression.
    pub position: usize,
    /// Byte offset of the culprit's end (equal to `position` when unknown).
    pub end: usize,
}

impl BrokerError {
    /// Reads the code, message and any expression position of a status.
    pub fn from_status(status: &tonic::Status) -> Self {
        BrokerError {
            code: status.code(),
            message: status.message().to_string(),
            expression: expression_error(status),
            source_text: None,
        }
    }

    /// A reply that breaks the contract (a missing field, a page token that
    /// never ends), reported like an INTERNAL status.
    pub fn protocol(message: impl Into<String>) -> Self {
        BrokerError { code: Code::Internal, message: message.into(), expression: None, source_text: None }
    }

    /// Attaches the expression that the error points into, chosen by the
    /// `field` of the broker's detail among `(field, text)` pairs.
    pub fn with_expressions(mut self, expressions: &[(&str, &str)]) -> Self {
        if let Some(expression) = &self.expression {
            self.source_text = expressions
                .iter()
                .find(|(field, _)| *field == expression.field)
                .map(|(_, text)| (*text).to_string());
        }
        self
    }
}

fn expression_error(status: &tonic::Status) -> Option<ExpressionError> {
    let details = status.get_error_details();
    let info = details.error_info()?;
    if !info.reason.starts_with("CONSTRAINT_") && !info.reason.starts_with("PREFERENCE_") {
        return None;
    }
    let metadata: &HashMap<String, String> = &info.metadata;
    let position: usize = metadata.get("position")?.trim().parse().ok()?;
    let end = metadata.get("end").and_then(|e| e.trim().parse().ok()).unwrap_or(position).max(position);
    let field = metadata.get("field").cloned().unwrap_or_else(|| {
        if info.reason.starts_with("PREFERENCE_") { "preference" } else { "constraint" }.to_string()
    });
    Some(ExpressionError { reason: info.reason.clone(), field, position, end })
}

/// Turns a failed call into the error of the command: unreachable for
/// `UNAVAILABLE` (the connection broke), else a broker error.
pub fn status_error(address: &str, status: tonic::Status) -> CliError {
    if status.code() == Code::Unavailable {
        CliError::Unreachable { address: address.to_string(), reason: status.message().to_string() }
    } else {
        CliError::Broker(BrokerError::from_status(&status))
    }
}

/// The line of `source` that holds byte `position`, and under it carets
/// from `position` to `end` (one caret at least), each line starting with
/// `indent` spaces. Byte offsets are converted to display columns, so the
/// carets line up under non-ASCII and wide characters; tabs in front of the
/// culprit are repeated in the caret line. A position at or past the end
/// points just after the last character.
pub fn render_caret(source: &str, position: usize, end: usize, indent: usize) -> String {
    let position = floor_char_boundary(source, position.min(source.len()));
    let end = ceil_char_boundary(source, end.clamp(position, source.len()));
    let line_start = source[..position].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[position..].find('\n').map_or(source.len(), |i| position + i);
    let line = &source[line_start..line_end];
    let prefix: String = source[line_start..position]
        .chars()
        .map(|c| if c == '\t' { "\t".to_string() } else { " ".repeat(char_width(c)) })
        .collect();
    let culprit = &source[position..end.min(line_end)];
    let carets = culprit.width().max(1);
    let pad = " ".repeat(indent);
    format!("{pad}{line}\n{pad}{prefix}{}\n", "^".repeat(carets))
}

fn char_width(c: char) -> usize {
    unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_char_boundary(text: &str, mut index: usize) -> usize {
    while index < text.len() && !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    fn constraint_status(message: &str, metadata: &[(&str, &str)]) -> tonic::Status {
        let metadata: HashMap<String, String> =
            metadata.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        let details = ErrorDetails::with_error_info("CONSTRAINT_SYNTAX", "bourse.v1", metadata);
        tonic::Status::with_error_details(Code::InvalidArgument, message, details)
    }

    #[test]
    fn caret_under_an_ascii_position() {
        assert_eq!(
            render_caret("'Casablanca' in 42", 16, 18, 2),
            "  'Casablanca' in 42\n                  ^^\n"
        );
        assert_eq!(render_caret("load < ", 7, 7, 0), "load < \n       ^\n");
        assert_eq!(render_caret("a and", 0, 1, 0), "a and\n^\n");
    }

    #[test]
    fn caret_at_or_past_the_end() {
        assert_eq!(render_caret("load <", 6, 6, 0), "load <\n      ^\n");
        assert_eq!(render_caret("load <", 60, 90, 0), "load <\n      ^\n");
        assert_eq!(render_caret("", 0, 0, 2), "  \n  ^\n");
    }

    #[test]
    fn caret_under_non_ascii_text() {
        // 'Amélie' is 8 bytes but 7 columns wide (with the quotes): 'in' starts at byte 10, column 9.
        let source = "'Amélie' in 42";
        assert_eq!(render_caret(source, 10, 12, 0), "'Amélie' in 42\n         ^^\n");
        // Wide characters take two columns each.
        let source = "'東京' == 3";
        assert_eq!(render_caret(source, 9, 11, 0), "'東京' == 3\n       ^^\n");
        // A span over wide characters is as wide as they are.
        assert_eq!(render_caret(source, 1, 7, 0), "'東京' == 3\n ^^^^\n");
        // An offset inside a character snaps to the whole character.
        assert_eq!(render_caret(source, 2, 2, 0), "'東京' == 3\n ^^\n");
    }

    #[test]
    fn caret_on_the_right_line_of_a_multi_line_expression() {
        let source = "load < 1\n\tand cpu >";
        assert_eq!(render_caret(source, 18, 18, 0), "\tand cpu >\n\t        ^\n");
    }

    #[test]
    fn broker_error_reads_the_error_info() {
        let status = constraint_status(
            "constraint: at byte 16: expected a property name after 'in'",
            &[("field", "constraint"), ("position", "16"), ("end", "18")],
        );
        let error =
            BrokerError::from_status(&status).with_expressions(&[("constraint", "'Casablanca' in 42")]);
        let expression = error.expression.clone().expect("expression detail");
        assert_eq!(expression.reason, "CONSTRAINT_SYNTAX");
        assert_eq!((expression.field.as_str(), expression.position, expression.end), ("constraint", 16, 18));
        let error = CliError::Broker(error);
        assert_eq!(error.exit_code(), exit_code::BROKER);
        assert_eq!(
            error.render_text(),
            "error: constraint: at byte 16: expected a property name after 'in'\n  'Casablanca' in 42\n                  ^^\n"
        );
        assert_eq!(
            error.to_json(),
            serde_json::json!({"error": {
                "code": "InvalidArgument",
                "message": "constraint: at byte 16: expected a property name after 'in'",
                "field": "constraint", "reason": "CONSTRAINT_SYNTAX", "position": 16, "end": 18,
            }})
        );
    }

    #[test]
    fn missing_end_means_one_caret_and_other_fields_are_not_shown() {
        let status = constraint_status("bad", &[("field", "preference"), ("position", "4")]);
        let error = BrokerError::from_status(&status)
            .with_expressions(&[("constraint", "x"), ("preference", "max load")]);
        assert_eq!(error.source_text.as_deref(), Some("max load"));
        assert_eq!(error.expression.as_ref().map(|e| e.end), Some(4));
        assert_eq!(CliError::Broker(error).render_text(), "error: bad\n  max load\n      ^\n");

        // A status without the detail, or for an expression the command did not send, has no caret.
        let plain = BrokerError::from_status(&tonic::Status::not_found("no offer o1"));
        assert_eq!(CliError::Broker(plain.clone()).render_text(), "error: no offer o1\n");
        assert_eq!(
            CliError::Broker(plain).to_json(),
            serde_json::json!({"error": {"code": "NotFound", "message": "no offer o1"}})
        );
    }

    #[test]
    fn clap_errors_become_json_too() {
        use clap::Parser;
        let error = crate::Cli::try_parse_from(["bourse", "--json", "query"]).expect_err("type missing");
        assert_eq!(
            usage_error_json(&error),
            serde_json::json!({"error": {"code": "Usage", "message": "the following required arguments were not provided: <TYPE>"}})
        );
        let error = crate::Cli::try_parse_from(["bourse", "--json", "query", "T", "--how-many", "x"])
            .expect_err("bad number");
        let json = usage_error_json(&error);
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("invalid value 'x' for '--how-many <N>'")),
            "{json}"
        );
    }

    #[test]
    fn exit_codes_and_json_codes_by_kind() {
        let unreachable =
            CliError::Unreachable { address: "127.0.0.1:7300".into(), reason: "connection refused".into() };
        assert_eq!(unreachable.exit_code(), exit_code::UNREACHABLE);
        assert_eq!(
            unreachable.render_text(),
            "error: cannot reach broker at 127.0.0.1:7300: connection refused\n"
        );
        assert_eq!(unreachable.to_json()["error"]["code"], "Unreachable");
        let usage = CliError::Usage("bad".into());
        assert_eq!(
            (usage.exit_code(), usage.to_json()["error"]["code"].as_str()),
            (exit_code::USAGE, Some("Usage"))
        );
        let lost = status_error("h:1", tonic::Status::unavailable("connection reset"));
        assert_eq!(lost.exit_code(), exit_code::UNREACHABLE);
    }
}
