//! The optional catalog file (`media.catalog`): TOML that adds or
//! overrides per-title details the probes cannot find (an info URL, a
//! nicer name) or get wrong.
//!
//! ```toml
//! [[title]]
//! file = "casablanca.mp4"        # which title (path relative to the media dir) ...
//! name = "Casablanca"            # ... or match by name (the file stem); with `file`, renames
//! info_url = "https://www.imdb.com/title/tt0034583/"
//! duration = 6120.0              # seconds
//! frame_rate = 23.976            # frames per second
//! width = 1920                   # pixels
//! height = 1080
//! video_codec = "h264"
//! audio_codec = "aac"
//! play_url = "rtsp://cdn.example/casablanca"   # instead of the URL template
//! ```
//!
//! Entries only describe titles found in the media directory; an entry
//! for a file that is not there is ignored.

use std::path::Path;

use serde::Deserialize;

use super::Details;

/// One `[[title]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    pub file: Option<String>,
    pub name: Option<String>,
    pub info_url: Option<String>,
    pub play_url: Option<String>,
    pub duration: Option<f64>,
    pub frame_rate: Option<f64>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
}

impl CatalogEntry {
    pub fn details(&self) -> Details {
        Details {
            duration: self.duration,
            frame_rate: self.frame_rate,
            width: self.width,
            height: self.height,
            video_codec: self.video_codec.clone(),
            audio_codec: self.audio_codec.clone(),
        }
    }
}

/// The parsed file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default)]
    pub title: Vec<CatalogEntry>,
}

impl CatalogFile {
    /// Parses and checks the text; the error names the entry and field.
    pub fn parse(text: &str) -> Result<CatalogFile, String> {
        let file: CatalogFile = toml::from_str(text).map_err(|e| e.to_string())?;
        for (i, entry) in file.title.iter().enumerate() {
            let at = |field: &str, reason: &str| format!("title[{i}].{field}: {reason}");
            if entry.file.is_none() && entry.name.is_none() {
                return Err(format!("title[{i}]: needs `file` or `name` to say which title it describes"));
            }
            for (field, value) in [("duration", entry.duration), ("frame_rate", entry.frame_rate)] {
                if value.is_some_and(|v| !v.is_finite() || v <= 0.0) {
                    return Err(at(field, "must be a positive number"));
                }
            }
            for (field, value) in
                [("file", &entry.file), ("name", &entry.name), ("play_url", &entry.play_url)]
            {
                if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
                    return Err(at(field, "must not be empty"));
                }
            }
        }
        Ok(file)
    }

    pub fn read(path: &Path) -> Result<CatalogFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        CatalogFile::parse(&text)
    }

    /// The entry for a title: one naming its file wins over one naming its
    /// default name.
    pub fn entry_for(&self, file: &str, default_name: &str) -> Option<&CatalogEntry> {
        self.title.iter().find(|e| e.file.as_deref() == Some(file)).or_else(|| {
            self.title.iter().find(|e| e.file.is_none() && e.name.as_deref() == Some(default_name))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn errors_name_the_entry_and_field() {
        let cases = [
            ("[[title]]\ninfo_url = 'x'\n", "title[0]: needs"),
            ("[[title]]\nfile = 'a'\n[[title]]\nfile = 'b'\nduration = -1.0\n", "title[1].duration"),
            ("[[title]]\nname = ''\n", "title[0].name"),
            ("[[title]]\nfile = 'a'\nfps = 3\n", "fps"),
            ("[[movie]]\nfile = 'a'\n", "movie"),
        ];
        for (text, expected) in cases {
            let err = CatalogFile::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        assert_eq!(CatalogFile::parse("").unwrap(), CatalogFile::default());
    }

    #[test]
    fn file_match_wins_over_name_match() {
        let file = CatalogFile::parse(
            "[[title]]\nname = 'a'\nwidth = 1\n[[title]]\nfile = 'a.mp4'\nname = 'A'\nwidth = 2\n",
        )
        .unwrap();
        assert_eq!(file.entry_for("a.mp4", "a").and_then(|e| e.width), Some(2));
        assert_eq!(file.entry_for("a.mkv", "a").and_then(|e| e.width), Some(1));
        assert!(file.entry_for("b.mkv", "b").is_none());
    }
}
