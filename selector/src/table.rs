//! Plain-text tables and key/value blocks that fit the terminal: columns
//! padded by display width, the widest columns cut with `…` when the whole
//! would not fit.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Columns are separated by this many spaces.
const GAP: usize = 2;
/// A column is never cut narrower than this (unless its content is).
const MIN_COLUMN_WIDTH: usize = 8;

/// A table: a header row and rows of cells, printed with `indent` spaces in
/// front of every line.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub indent: usize,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table { headers: headers.into_iter().map(Into::into).collect(), rows: Vec::new(), indent: 0 }
    }

    pub fn indented(mut self, indent: usize) -> Self {
        self.indent = indent;
        self
    }

    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(|cell| one_line(&cell.into())).collect());
    }

    /// The table as lines ending in `\n`. With a `width`, the widest columns
    /// are cut until every line fits (or every column is at its minimum).
    pub fn render(&self, width: Option<usize>) -> String {
        let n_columns = self.headers.len().max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let cell = |row: &[String], i: usize| row.get(i).map_or(0, |c| c.width());
        let mut widths: Vec<usize> = (0..n_columns)
            .map(|i| self.rows.iter().map(|r| cell(r, i)).max().unwrap_or(0).max(cell(&self.headers, i)))
            .collect();
        if let Some(width) = width {
            fit_columns(&mut widths, width.saturating_sub(self.indent + GAP * n_columns.saturating_sub(1)));
        }
        let mut text = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = " ".repeat(self.indent);
            for (i, column_width) in widths.iter().enumerate() {
                let content = truncate(row.get(i).map_or("", String::as_str), *column_width);
                line.push_str(&content);
                if i + 1 < n_columns {
                    line.push_str(&" ".repeat(column_width - content.width() + GAP));
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Shrinks the widest columns one step at a time until their sum fits
/// `budget`, never below [`MIN_COLUMN_WIDTH`] (or a column's own width).
fn fit_columns(widths: &mut [usize], budget: usize) {
    let floors: Vec<usize> = widths.iter().map(|w| (*w).min(MIN_COLUMN_WIDTH)).collect();
    while widths.iter().sum::<usize>() > budget {
        let widest =
            widths.iter().enumerate().filter(|(i, w)| **w > floors[*i]).max_by_key(|(i, w)| (**w, *i));
        match widest {
            Some((i, _)) => widths[i] -= 1,
            None => break,
        }
    }
}

/// Cuts `text` to at most `width` display columns, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut cut = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        cut.push(c);
        used += w;
    }
    cut.push('…');
    cut
}

/// Control characters (newlines, tabs) would break the layout: each becomes
/// a space.
pub fn one_line(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
    } else {
        text.to_string()
    }
}

/// `key  value` lines with keys padded to one width, values cut to fit.
pub fn key_values<K: AsRef<str>, V: AsRef<str>>(
    pairs: &[(K, V)],
    indent: usize,
    width: Option<usize>,
) -> String {
    let key_width = pairs.iter().map(|(k, _)| k.as_ref().width()).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in pairs {
        let key = key.as_ref();
        let value = one_line(value.as_ref());
        let value = match width {
            Some(width) => {
                truncate(&value, width.saturating_sub(indent + key_width + GAP).max(MIN_COLUMN_WIDTH))
            }
            None => value,
        };
        let line = format!("{}{key}{}{value}", " ".repeat(indent), " ".repeat(key_width - key.width() + GAP));
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut table = Table::new(["ID", "REFERENCE", "video_formats"]);
        table.push(["o1", "rtsp://a.example:554/", "h264,vp9"]);
        table.push(["o22", "rtsp://bb.example:554/", "hevc"]);
        table
    }

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        assert_eq!(
            sample().render(None),
            "ID   REFERENCE               video_formats\n\
             o1   rtsp://a.example:554/   h264,vp9\n\
             o22  rtsp://bb.example:554/  hevc\n"
        );
    }

    #[test]
    fn narrow_terminals_cut_the_widest_columns() {
        let text = sample().render(Some(36));
        assert_eq!(
            text,
            "ID   REFERENCE         video_formats\n\
             o1   rtsp://a.exampl…  h264,vp9\n\
             o22  rtsp://bb.examp…  hevc\n"
        );
        assert!(text.lines().all(|l| l.width() <= 36));
        // Columns never go below their minimum, even if the line overflows.
        let text = sample().render(Some(10));
        assert!(text.starts_with("ID   REFEREN…  video_f…\n"), "{text}");
    }

    #[test]
    fn wide_characters_count_double() {
        let mut table = Table::new(["NAME", "N"]);
        table.push(["東京", "1"]);
        table.push(["Amélie", "2"]);
        assert_eq!(table.render(None), "NAME    N\n東京    1\nAmélie  2\n");
        assert_eq!(truncate("東京タワー", 5), "東京…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
    }

    #[test]
    fn indented_tables_and_control_characters() {
        let mut table = Table::new(["A", "B"]).indented(2);
        table.push(["x\ny", "tab\there"]);
        assert_eq!(table.render(None), "  A    B\n  x y  tab here\n");
    }

    #[test]
    fn key_value_blocks() {
        let pairs = [("id", "o1"), ("reference", "rtsp://a.example:554/stream"), ("empty", "")];
        assert_eq!(
            key_values(&pairs, 2, None),
            "  id         o1\n  reference  rtsp://a.example:554/stream\n  empty\n"
        );
        assert_eq!(key_values(&pairs[..2], 0, Some(24)), "id         o1\nreference  rtsp://a.exa…\n");
    }
}
