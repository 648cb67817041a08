//! Cheap details of an HLS title from its playlists: the duration is the
//! sum of `#EXTINF` segment durations; a master playlist gives frame size,
//! frame rate and codecs from its best `#EXT-X-STREAM-INF` (highest
//! `BANDWIDTH`), whose media playlist is read for the duration when it is a
//! relative path inside the title's directory.

use std::path::Path;

use super::Details;

/// The playlist file that makes a directory a title.
pub const PLAYLIST: &str = "index.m3u8";

/// Largest playlist read (a 3-hour title of 2-second segments is ~300 KB).
const MAX_PLAYLIST_BYTES: u64 = 8 << 20;

/// What a playlist says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Playlist {
    /// Sum of `#EXTINF` durations, seconds (media playlists).
    pub duration: Option<f64>,
    /// The chosen variant (master playlists).
    pub variant: Option<Variant>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variant {
    pub uri: String,
    pub bandwidth: u64,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub frame_rate: Option<f64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
}

/// Parses playlist text. Never fails: what does not parse is ignored.
pub fn parse(text: &str) -> Playlist {
    let mut total = 0.0;
    let mut n_segments = 0usize;
    let mut best: Option<Variant> = None;
    let mut pending: Option<Variant> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let number = rest.split(',').next().unwrap_or("").trim();
            if let Ok(seconds) = number.parse::<f64>()
                && seconds.is_finite()
                && seconds >= 0.0
            {
                total += seconds;
                n_segments += 1;
            }
        } else if let Some(rest) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            pending = Some(variant_from_attributes(rest));
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(mut variant) = pending.take()
        {
            variant.uri = line.to_string();
            if best.as_ref().is_none_or(|b| variant.bandwidth > b.bandwidth) {
                best = Some(variant);
            }
        }
    }
    Playlist { duration: (n_segments > 0).then_some(total), variant: best }
}

fn variant_from_attributes(list: &str) -> Variant {
    let mut variant = Variant::default();
    for (key, value) in attributes(list) {
        match key {
            "BANDWIDTH" => variant.bandwidth = value.parse().unwrap_or(0),
            "RESOLUTION" => {
                if let Some((w, h)) = value.split_once(['x', 'X']) {
                    variant.width = w.parse().ok();
                    variant.height = h.parse().ok();
                }
            }
            "FRAME-RATE" => {
                variant.frame_rate = value.parse().ok().filter(|f: &f64| f.is_finite() && *f > 0.0)
            }
            "CODECS" => {
                for codec in value.split(',').map(str::trim) {
                    match codec_name(codec) {
                        Some((true, name)) if variant.video_codec.is_none() => {
                            variant.video_codec = Some(name)
                        }
                        Some((false, name)) if variant.audio_codec.is_none() => {
                            variant.audio_codec = Some(name)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    variant
}

/// `KEY=value,KEY="quoted, value"` pairs.
fn attributes(list: &str) -> Vec<(&str, &str)> {
    let mut pairs = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((value, next)) => (value, next.trim_start_matches(',')),
                None => (quoted, ""),
            }
        } else {
            match after.split_once(',') {
                Some((value, next)) => (value, next),
                None => (after, ""),
            }
        };
        pairs.push((key.trim(), value.trim()));
        rest = next;
    }
    pairs
}

/// An RFC 6381 codec string as (is_video, short name).
fn codec_name(codec: &str) -> Option<(bool, String)> {
    let family = codec.split('.').next()?.to_ascii_lowercase();
    let known = match family.as_str() {
        "avc1" | "avc3" => (true, "h264"),
        "hvc1" | "hev1" => (true, "hevc"),
        "av01" => (true, "av1"),
        "vp09" => (true, "vp9"),
        "vp08" => (true, "vp8"),
        "mp4a" => (false, if codec.eq_ignore_ascii_case("mp4a.40.34") { "mp3" } else { "aac" }),
        "ac-3" => (false, "ac3"),
        "ec-3" => (false, "eac3"),
        "opus" => (false, "opus"),
        "flac" => (false, "flac"),
        _ => return None,
    };
    Some((known.0, known.1.to_string()))
}

fn read_limited(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(MAX_PLAYLIST_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Details of the HLS title whose playlist is `path`.
pub fn probe(path: &Path) -> Details {
    let Some(text) = read_limited(path) else { return Details::default() };
    let playlist = parse(&text);
    let mut details = Details { duration: playlist.duration, ..Details::default() };
    if let Some(variant) = playlist.variant {
        details.width = variant.width;
        details.height = variant.height;
        details.frame_rate = variant.frame_rate;
        details.video_codec = variant.video_codec;
        details.audio_codec = variant.audio_codec;
        // Only relative paths that stay inside the title's directory.
        let safe = !variant.uri.contains("://")
            && !variant.uri.starts_with('/')
            && !variant.uri.split('/').any(|part| part == "..");
        if details.duration.is_none()
            && safe
            && let Some(dir) = path.parent()
            && let Some(media) = read_limited(&dir.join(&variant.uri))
        {
            details.duration = parse(&media).duration;
        }
    }
    details
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const MEDIA: &str = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n\
#EXTINF:9.009,\nseg0.ts\n#EXTINF:9.009,\nseg1.ts\n#EXTINF:3.003,title\nseg2.ts\n#EXT-X-ENDLIST\n";

    const MASTER: &str = "#EXTM3U\n\
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\"\nlow/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=5000000,AVERAGE-BANDWIDTH=4000000,RESOLUTION=1920x1080,FRAME-RATE=23.976,CODECS=\"hvc1.1.6.L120.90,mp4a.40.2\"\nhigh/index.m3u8\n";

    #[test]
    fn media_playlist_duration_is_the_sum_of_extinf() {
        let playlist = parse(MEDIA);
        assert!((playlist.duration.unwrap() - 21.021).abs() < 1e-9);
        assert_eq!(playlist.variant, None);
        assert_eq!(parse("#EXTM3U\n").duration, None);
        assert_eq!(parse("#EXTINF:abc,\n#EXTINF:-3,\n#EXTINF:NaN,\n").duration, None);
    }

    #[test]
    fn master_playlist_picks_the_best_variant() {
        let variant = parse(MASTER).variant.unwrap();
        assert_eq!(variant.uri, "high/index.m3u8");
        assert_eq!((variant.width, variant.height), (Some(1920), Some(1080)));
        assert_eq!(variant.frame_rate, Some(23.976));
        assert_eq!(variant.video_codec.as_deref(), Some("hevc"));
        assert_eq!(variant.audio_codec.as_deref(), Some("aac"));
    }

    #[test]
    fn probe_follows_the_variant_inside_the_directory() {
        let dir = super::super::tests::Scratch::new("hls");
        std::fs::create_dir_all(dir.0.join("high")).unwrap();
        std::fs::write(dir.0.join("index.m3u8"), MASTER).unwrap();
        std::fs::write(dir.0.join("high/index.m3u8"), MEDIA).unwrap();
        let details = probe(&dir.0.join("index.m3u8"));
        assert!((details.duration.unwrap() - 21.021).abs() < 1e-9);
        assert_eq!(details.width, Some(1920));

        std::fs::write(dir.0.join("index.m3u8"), MASTER.replace("high/index", "../../etc/index")).unwrap();
        assert_eq!(probe(&dir.0.join("index.m3u8")).duration, None, "no escaping the directory");
        assert_eq!(probe(&dir.0.join("missing.m3u8")), Details::default());
    }
}
