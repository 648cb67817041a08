//! Play-URL templates such as `rtsp://{host}:8554/{file}` or
//! `http://{host}/hls/{name}/index.m3u8`.
//!
//! Placeholders: `{host}` and `{port}` (the media server's), `{file}` (the
//! title's file, relative to the media directory, `/`-separated) and
//! `{name}` (the title's name, the file stem). `{{` and `}}` stand for
//! literal braces. `{file}` and `{name}` are percent-encoded (a `/` in
//! `{file}` is kept) so that a title called "My Movie" gives a valid URL.

use std::fmt::Write as _;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Host,
    Port,
    File,
    Name,
}

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}} (use {{host}}, {{port}}, {{file}} or {{name}})")]
    Unknown(String),
    #[error("'{{' at byte {0} is not closed")]
    Unclosed(usize),
    #[error("'}}' at byte {0} has no opening brace (write }}}} for a literal one)")]
    StrayClose(usize),
    #[error("the template is empty")]
    Empty,
}

/// What a title contributes to its URL.
#[derive(Debug, Clone, Copy)]
pub struct TitleVars<'a> {
    pub host: &'a str,
    pub port: u16,
    pub file: &'a str,
    pub name: &'a str,
}

impl UrlTemplate {
    pub fn parse(text: &str) -> Result<UrlTemplate, TemplateError> {
        if text.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((pos, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::StrayClose(pos)),
                '{' => {
                    let rest = &text[pos + 1..];
                    let end = rest.find('}').ok_or(TemplateError::Unclosed(pos))?;
                    let name = &rest[..end];
                    let part = match name {
                        "host" => Part::Host,
                        "port" => Part::Port,
                        "file" => Part::File,
                        "name" => Part::Name,
                        other => return Err(TemplateError::Unknown(other.to_string())),
                    };
                    // Skip the placeholder's characters and the closing brace.
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(UrlTemplate { parts })
    }

    /// The URL of one title.
    pub fn render(&self, vars: TitleVars<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Host => out.push_str(&crate::config::bracket_host(vars.host)),
                Part::Port => {
                    let _ = write!(out, "{}", vars.port);
                }
                Part::File => percent_encode(&mut out, vars.file, true),
                Part::Name => percent_encode(&mut out, vars.name, false),
            }
        }
        out
    }

    /// The template rendered for the server as a whole; `None` if it uses
    /// a per-title placeholder.
    pub fn render_server(&self, host: &str, port: u16) -> Option<String> {
        if self.parts.iter().any(|p| matches!(p, Part::File | Part::Name)) {
            return None;
        }
        Some(self.render(TitleVars { host, port, file: "", name: "" }))
    }
}

/// Appends `text` with everything but RFC 3986 unreserved characters (and
/// `/` when `keep_slash`) percent-encoded as UTF-8.
fn percent_encode(out: &mut String, text: &str, keep_slash: bool) {
    for byte in text.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/');
        if plain {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn render(template: &str, file: &str, name: &str) -> String {
        UrlTemplate::parse(template).unwrap().render(TitleVars { host: "media1", port: 8554, file, name })
    }

    #[test]
    fn placeholders() {
        let cases = [
            (
                "rtsp://{host}:8554/{file}",
                "casablanca.mp4",
                "casablanca",
                "rtsp://media1:8554/casablanca.mp4",
            ),
            ("rtsp://{host}:{port}/{file}", "a/b.mp4", "b", "rtsp://media1:8554/a/b.mp4"),
            ("http://{host}/hls/{name}/index.m3u8", "x/index.m3u8", "x", "http://media1/hls/x/index.m3u8"),
            (
                "http://{host}/{file}",
                "My Movie (1942).mp4",
                "My Movie (1942)",
                "http://media1/My%20Movie%20%281942%29.mp4",
            ),
            ("http://{host}/t/{name}", "a/b.mp4", "a/b", "http://media1/t/a%2Fb"),
            ("http://{host}/{name}", "é.mp4", "é", "http://media1/%C3%A9"),
            ("literal{{x}}/{file}", "f", "f", "literal{x}/f"),
            ("no-placeholders", "f", "f", "no-placeholders"),
        ];
        for (template, file, name, expected) in cases {
            assert_eq!(render(template, file, name), expected, "{template}");
        }
    }

    #[test]
    fn ipv6_hosts_get_brackets() {
        let url = UrlTemplate::parse("rtsp://{host}:{port}/{file}").unwrap().render(TitleVars {
            host: "::1",
            port: 554,
            file: "a.mp4",
            name: "a",
        });
        assert_eq!(url, "rtsp://[::1]:554/a.mp4");
    }

    #[test]
    fn errors() {
        let cases = [
            ("rtsp://{hots}/{file}", TemplateError::Unknown("hots".into())),
            ("rtsp://{host/{file}", TemplateError::Unknown("host/{file".into())),
            ("rtsp://{host", TemplateError::Unclosed(7)),
            ("rtsp://host}/x", TemplateError::StrayClose(11)),
            ("  ", TemplateError::Empty),
            ("{}", TemplateError::Unknown(String::new())),
        ];
        for (template, expected) in cases {
            assert_eq!(UrlTemplate::parse(template), Err(expected), "{template}");
        }
    }

    #[test]
    fn server_rendering_refuses_title_placeholders() {
        let t = UrlTemplate::parse("rtsp://{host}:{port}/").unwrap();
        assert_eq!(t.render_server("h", 1).as_deref(), Some("rtsp://h:1/"));
        assert_eq!(UrlTemplate::parse("rtsp://{host}/{file}").unwrap().render_server("h", 1), None);
    }
}
