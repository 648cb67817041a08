//! The title catalog: what the media directory holds, with per-title
//! details, as the offer's `titles` and `movies` properties.
//!
//! What counts as a title:
//! - every regular file directly in the media directory (not in
//!   subdirectories) whose extension is a media one ([`MEDIA_EXTENSIONS`]);
//!   hidden files (`.name`) are skipped;
//! - every subdirectory holding an HLS playlist `index.m3u8`
//!   (`name/index.m3u8`, the title being `name`).
//!
//! Details (duration, frame rate, frame size, codecs) come, in order of
//! precedence, from the catalog file (`media.catalog`), from `ffprobe` when
//! it is installed, from the MP4 header (`.mp4 .m4v .mov .m4a`, read with
//! the `mp4parse` crate) or from the HLS playlist (duration as the sum of
//! `#EXTINF`). Probed details are cached by file size and modification
//! time, so a rescan re-reads only what changed.

pub mod file;
pub mod hls;
pub mod mp4;
pub mod probe;
pub mod watch;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bourse_proto as pb;

use crate::template::{TitleVars, UrlTemplate};
pub use file::{CatalogEntry, CatalogFile};

/// File extensions (lower case) that make a file a title.
pub const MEDIA_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "ts", "m2ts", "mpg", "mpeg", "avi", "flv", "ogv", "wmv", "mp3",
    "aac", "m4a", "ogg", "oga", "opus", "flac", "wav",
];

/// What is known about a title's media. Unknown figures are `None` and
/// left out of its record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    /// Seconds.
    pub duration: Option<f64>,
    /// Frames per second.
    pub frame_rate: Option<f64>,
    /// Pixels.
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
}

impl Details {
    /// Takes every figure that `other` knows.
    pub fn override_with(&mut self, other: &Details) {
        fn take<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
            if value.is_some() {
                slot.clone_from(value);
            }
        }
        take(&mut self.duration, &other.duration);
        take(&mut self.frame_rate, &other.frame_rate);
        take(&mut self.width, &other.width);
        take(&mut self.height, &other.height);
        take(&mut self.video_codec, &other.video_codec);
        take(&mut self.audio_codec, &other.audio_codec);
    }

    /// Drops figures that cannot be exported (non-finite or negative
    /// doubles, empty strings, zero sizes).
    fn sanitize(mut self) -> Details {
        let positive = |v: Option<f64>| v.filter(|v| v.is_finite() && *v > 0.0);
        self.duration = positive(self.duration);
        self.frame_rate = positive(self.frame_rate);
        self.width = self.width.filter(|&w| w > 0);
        self.height = self.height.filter(|&h| h > 0);
        self.video_codec = self.video_codec.filter(|c| !c.trim().is_empty());
        self.audio_codec = self.audio_codec.filter(|c| !c.trim().is_empty());
        self
    }
}

/// One title as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Title {
    pub name: String,
    /// Path relative to the media directory, `/`-separated.
    pub file: String,
    pub details: Details,
    pub play_url: String,
    pub info_url: Option<String>,
}

impl Title {
    /// The title's record in the `movies` property.
    pub fn record(&self) -> pb::Record {
        let mut fields =
            vec![field("name", pb::Value::string(&self.name)), field("file", pb::Value::string(&self.file))];
        let d = &self.details;
        if let Some(v) = d.frame_rate {
            fields.push(field("frame_rate", pb::Value::double(v)));
        }
        if let Some(v) = d.duration {
            fields.push(field("duration", pb::Value::double(v)));
        }
        if let Some(v) = d.width {
            fields.push(field("width", pb::Value::uint64(v)));
        }
        if let Some(v) = d.height {
            fields.push(field("height", pb::Value::uint64(v)));
        }
        if let Some(v) = &d.video_codec {
            fields.push(field("video_codec", pb::Value::string(v)));
        }
        if let Some(v) = &d.audio_codec {
            fields.push(field("audio_codec", pb::Value::string(v)));
        }
        fields.push(field("play_url", pb::Value::string(&self.play_url)));
        if let Some(v) = &self.info_url {
            fields.push(field("info_url", pb::Value::string(v)));
        }
        pb::Record { fields }
    }
}

fn field(name: &str, value: pb::Value) -> pb::Field {
    pb::Field { name: name.to_string(), value: Some(value) }
}

/// Every title, ordered by name then file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub titles: Vec<Title>,
}

impl Catalog {
    /// Distinct title names in order (two files may share a name).
    pub fn names(&self) -> Vec<String> {
        let names: BTreeSet<&str> = self.titles.iter().map(|t| t.name.as_str()).collect();
        names.into_iter().map(str::to_string).collect()
    }

    /// The `titles` property value (string_seq).
    pub fn titles_value(&self) -> pb::Value {
        pb::Value::string_seq(self.names())
    }

    /// The `movies` property value (record_list).
    pub fn movies_value(&self) -> pb::Value {
        pb::Value {
            kind: Some(pb::value::Kind::RecordList(pb::RecordList {
                records: self.titles.iter().map(Title::record).collect(),
            })),
        }
    }
}

/// A media file or HLS directory found in the media directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Relative path, `/`-separated (for HLS: `name/index.m3u8`).
    pub file: String,
    pub path: PathBuf,
    /// Default title name: the file stem, or the HLS directory's name.
    pub name: String,
    pub kind: FoundKind,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundKind {
    File,
    Hls,
}

/// Lists the titles in `dir` (see the module docs for the rules).
pub fn list_media(dir: &Path) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            tracing::debug!(name = ?entry.file_name(), "skipping a file whose name is not UTF-8");
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follow symlinks: a media directory of links to a library is common.
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_file() {
            let Some((stem, ext)) = file_name.rsplit_once('.') else { continue };
            if stem.is_empty() || !MEDIA_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) {
                continue;
            }
            found.push(Found {
                file: file_name.to_string(),
                path,
                name: stem.to_string(),
                kind: FoundKind::File,
                size: meta.len(),
                modified: meta.modified().ok(),
            });
        } else if meta.is_dir() {
            let playlist = path.join(hls::PLAYLIST);
            let Ok(playlist_meta) = std::fs::metadata(&playlist) else { continue };
            if !playlist_meta.is_file() {
                continue;
            }
            found.push(Found {
                file: format!("{file_name}/{}", hls::PLAYLIST),
                path: playlist,
                name: file_name.to_string(),
                kind: FoundKind::Hls,
                size: playlist_meta.len(),
                modified: playlist_meta.modified().ok(),
            });
        }
    }
    found.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(found)
}

/// Where the URLs point.
#[derive(Debug, Clone)]
pub struct UrlSettings {
    pub template: UrlTemplate,
    pub host: String,
    pub port: u16,
}

/// Builds titles from what was found, the probed details and the catalog
/// file. Pure: the tests call it without a disk.
pub fn assemble(
    found: &[Found],
    probed: &HashMap<String, Details>,
    file: &CatalogFile,
    urls: &UrlSettings,
) -> Catalog {
    let mut titles: Vec<Title> = found
        .iter()
        .map(|f| {
            let mut details = probed.get(&f.file).cloned().unwrap_or_default();
            let entry = file.entry_for(&f.file, &f.name);
            let name = entry.and_then(|e| e.name.clone()).unwrap_or_else(|| f.name.clone());
            if let Some(entry) = entry {
                details.override_with(&entry.details());
            }
            let play_url = match entry.and_then(|e| e.play_url.clone()) {
                Some(url) => url,
                None => urls.template.render(TitleVars {
                    host: &urls.host,
                    port: urls.port,
                    file: &f.file,
                    name: &name,
                }),
            };
            Title {
                name,
                file: f.file.clone(),
                details: details.sanitize(),
                play_url,
                info_url: entry.and_then(|e| e.info_url.clone()),
            }
        })
        .collect();
    titles.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
    Catalog { titles }
}

/// Scans the media directory, probing only what changed since the last
/// scan.
pub struct Scanner {
    dir: PathBuf,
    catalog_file: Option<PathBuf>,
    urls: UrlSettings,
    /// Path of `ffprobe` when it is installed and allowed.
    ffprobe: Option<PathBuf>,
    /// Probed details by relative path, with the size and mtime they are for.
    cache: HashMap<String, (u64, Option<SystemTime>, Details)>,
    /// The last catalog file that parsed, kept when a later edit breaks it.
    last_good_file: CatalogFile,
}

/// Why a scan failed as a whole (single files that cannot be probed are
/// exported without details instead).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot list media directory {dir}: {source}")]
    List { dir: PathBuf, source: std::io::Error },
    #[error("catalog file {path}: {reason}")]
    CatalogFile { path: PathBuf, reason: String },
}

impl Scanner {
    pub fn new(dir: PathBuf, catalog_file: Option<PathBuf>, urls: UrlSettings, use_ffprobe: bool) -> Scanner {
        let ffprobe = if use_ffprobe { probe::find_ffprobe() } else { None };
        match &ffprobe {
            Some(path) => tracing::info!(ffprobe = %path.display(), "title details from ffprobe"),
            None => tracing::info!("title details from MP4 headers, HLS playlists and the catalog file"),
        }
        Scanner {
            dir,
            catalog_file,
            urls,
            ffprobe,
            cache: HashMap::new(),
            last_good_file: CatalogFile::default(),
        }
    }

    /// Reads and checks the catalog file, if any. Used at start so that a
    /// broken file is refused like a bad config.
    pub fn check_catalog_file(&mut self) -> Result<(), ScanError> {
        let Some(path) = &self.catalog_file else { return Ok(()) };
        self.last_good_file = CatalogFile::read(path)
            .map_err(|reason| ScanError::CatalogFile { path: path.clone(), reason })?;
        Ok(())
    }

    /// Lists the directory, probes new or changed files and builds the
    /// catalog.
    pub async fn scan(&mut self) -> Result<Catalog, ScanError> {
        let dir = self.dir.clone();
        let found = tokio::task::spawn_blocking(move || list_media(&dir))
            .await
            .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())))
            .map_err(|source| ScanError::List { dir: self.dir.clone(), source })?;

        self.cache.retain(|file, _| found.iter().any(|f| &f.file == file));
        let mut probed = HashMap::new();
        for f in &found {
            let details = match self.cache.get(&f.file) {
                Some((size, modified, details)) if *size == f.size && *modified == f.modified => {
                    details.clone()
                }
                _ => {
                    let details = probe::probe(f, self.ffprobe.as_deref()).await;
                    self.cache.insert(f.file.clone(), (f.size, f.modified, details.clone()));
                    details
                }
            };
            probed.insert(f.file.clone(), details);
        }

        if let Some(path) = &self.catalog_file {
            let read_path = path.clone();
            match tokio::task::spawn_blocking(move || CatalogFile::read(&read_path)).await {
                Ok(Ok(file)) => self.last_good_file = file,
                Ok(Err(reason)) => {
                    tracing::warn!(path = %path.display(), %reason, "catalog file unusable; keeping its last good version")
                }
                Err(join) => tracing::warn!(error = %join, "reading the catalog file failed"),
            }
        }
        Ok(assemble(&found, &probed, &self.last_good_file, &self.urls))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    pub(crate) struct Scratch(pub PathBuf);
    impl Scratch {
        pub fn new(label: &str) -> Scratch {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("bourse-agent-{label}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn urls() -> UrlSettings {
        UrlSettings {
            template: UrlTemplate::parse("rtsp://{host}:{port}/{file}").unwrap(),
            host: "m1".into(),
            port: 8554,
        }
    }

    #[test]
    fn lists_media_files_and_hls_directories() {
        let dir = Scratch::new("list");
        for name in ["b.mkv", "a.MP4", ".hidden.mp4", "notes.txt", "catalog.toml", ".mp4", "song.mp3"] {
            std::fs::write(dir.0.join(name), b"x").unwrap();
        }
        std::fs::create_dir_all(dir.0.join("show/seg")).unwrap();
        std::fs::write(dir.0.join("show/index.m3u8"), "#EXTM3U\n").unwrap();
        std::fs::create_dir_all(dir.0.join("empty-dir")).unwrap();
        std::fs::create_dir_all(dir.0.join("nested")).unwrap();
        std::fs::write(dir.0.join("nested/deep.mp4"), b"x").unwrap();

        let found = list_media(&dir.0).unwrap();
        let files: Vec<(&str, &str, FoundKind)> =
            found.iter().map(|f| (f.file.as_str(), f.name.as_str(), f.kind)).collect();
        assert_eq!(
            files,
            vec![
                ("a.MP4", "a", FoundKind::File),
                ("b.mkv", "b", FoundKind::File),
                ("show/index.m3u8", "show", FoundKind::Hls),
                ("song.mp3", "song", FoundKind::File),
            ]
        );
        assert!(list_media(&dir.0.join("missing")).is_err());
    }

    #[test]
    fn catalog_file_overrides_probed_details_and_names() {
        let found = vec![
            Found {
                file: "casablanca.mp4".into(),
                path: "/m/casablanca.mp4".into(),
                name: "casablanca".into(),
                kind: FoundKind::File,
                size: 1,
                modified: None,
            },
            Found {
                file: "metropolis.mkv".into(),
                path: "/m/metropolis.mkv".into(),
                name: "metropolis".into(),
                kind: FoundKind::File,
                size: 1,
                modified: None,
            },
        ];
        let mut probed = HashMap::new();
        probed.insert(
            "casablanca.mp4".to_string(),
            Details {
                duration: Some(10.0),
                width: Some(640),
                frame_rate: Some(f64::NAN),
                ..Details::default()
            },
        );
        let file = CatalogFile::parse(
            "[[title]]\nfile = 'casablanca.mp4'\nname = 'Casablanca'\nwidth = 1920\ninfo_url = 'https://example.org/c'\n\
             [[title]]\nname = 'metropolis'\nduration = 9000.5\nplay_url = 'rtsp://elsewhere/m'\n",
        )
        .unwrap();
        let catalog = assemble(&found, &probed, &file, &urls());
        assert_eq!(catalog.names(), vec!["Casablanca".to_string(), "metropolis".to_string()]);
        let c = &catalog.titles[0];
        assert_eq!(c.details.duration, Some(10.0), "probed figure kept");
        assert_eq!(c.details.width, Some(1920), "catalog file wins");
        assert_eq!(c.details.frame_rate, None, "NaN dropped");
        assert_eq!(c.play_url, "rtsp://m1:8554/casablanca.mp4");
        assert_eq!(c.info_url.as_deref(), Some("https://example.org/c"));
        let m = &catalog.titles[1];
        assert_eq!(m.details.duration, Some(9000.5));
        assert_eq!(m.play_url, "rtsp://elsewhere/m");

        let record = c.record();
        let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["name", "file", "duration", "width", "play_url", "info_url"]);
        let Some(pb::value::Kind::RecordList(list)) = catalog.movies_value().kind else {
            panic!("record list")
        };
        assert_eq!(list.records.len(), 2);
    }

    #[tokio::test]
    async fn scanner_finds_changes_and_keeps_a_broken_catalog_file_out() {
        let dir = Scratch::new("scan");
        let catalog_path = dir.0.join("catalog.toml");
        std::fs::write(&catalog_path, "[[title]]\nfile = 'a.mkv'\nvideo_codec = 'vp9'\n").unwrap();
        std::fs::write(dir.0.join("a.mkv"), b"not really").unwrap();
        let mut scanner = Scanner::new(dir.0.clone(), Some(catalog_path.clone()), urls(), false);
        scanner.check_catalog_file().unwrap();
        let first = scanner.scan().await.unwrap();
        assert_eq!(first.names(), vec!["a".to_string()]);
        assert_eq!(first.titles[0].details.video_codec.as_deref(), Some("vp9"));

        std::fs::write(dir.0.join("b.webm"), b"x").unwrap();
        std::fs::write(&catalog_path, "this is [not toml").unwrap();
        let second = scanner.scan().await.unwrap();
        assert_eq!(second.names(), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(
            second.titles[0].details.video_codec.as_deref(),
            Some("vp9"),
            "last good catalog file kept"
        );

        std::fs::remove_file(dir.0.join("a.mkv")).unwrap();
        assert_eq!(scanner.scan().await.unwrap().names(), vec!["b".to_string()]);
        assert!(scanner.check_catalog_file().is_err());
    }
}
