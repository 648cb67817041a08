//! Finding one title's details: `ffprobe` when it is installed (any
//! format), else the MP4 header reader or the HLS playlist reader. A file
//! that no reader understands is exported without details.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Details, Found, FoundKind, hls, mp4};

/// Longest time one `ffprobe` run may take.
const FFPROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// `ffprobe` on the `PATH`, if any.
pub fn find_ffprobe() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("ffprobe")).find(|candidate| candidate.is_file())
}

/// Probes one title. Never fails: what cannot be read stays unknown.
pub async fn probe(found: &Found, ffprobe: Option<&Path>) -> Details {
    if let Some(ffprobe) = ffprobe {
        match run_ffprobe(ffprobe, &found.path).await {
            Ok(details) => return details,
            Err(reason) => {
                tracing::debug!(file = %found.file, %reason, "ffprobe failed; trying the built-in readers")
            }
        }
    }
    let path = found.path.clone();
    let kind = found.kind;
    let is_mp4 = mp4::is_mp4(&found.file);
    let result = tokio::task::spawn_blocking(move || match kind {
        FoundKind::Hls => Ok(hls::probe(&path)),
        FoundKind::File if is_mp4 => mp4::probe(&path),
        FoundKind::File => Ok(Details::default()),
    })
    .await;
    match result {
        Ok(Ok(details)) => details,
        Ok(Err(reason)) => {
            tracing::info!(file = %found.file, %reason, "cannot read the title's header; exporting it without details");
            Details::default()
        }
        Err(join) => {
            tracing::warn!(file = %found.file, error = %join, "probing the title failed");
            Details::default()
        }
    }
}

async fn run_ffprobe(ffprobe: &Path, file: &Path) -> Result<Details, String> {
    let child = tokio::process::Command::new(ffprobe)
        .args(["-v", "error", "-print_format", "json", "-show_streams", "-show_format"])
        .arg(file)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(FFPROBE_TIMEOUT, child)
        .await
        .map_err(|_| format!("no answer within {FFPROBE_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()));
    }
    parse_ffprobe(&output.stdout)
}

/// Details from `ffprobe -print_format json -show_streams -show_format`.
pub fn parse_ffprobe(json: &[u8]) -> Result<Details, String> {
    let root: serde_json::Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let number = |v: Option<&serde_json::Value>| -> Option<f64> {
        match v? {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_f64(),
            _ => None,
        }
    };
    let mut details = Details { duration: number(root.pointer("/format/duration")), ..Details::default() };
    let streams = root.get("streams").and_then(|s| s.as_array()).map(Vec::as_slice).unwrap_or(&[]);
    for stream in streams {
        let codec = stream.get("codec_name").and_then(|c| c.as_str()).map(str::to_string);
        match stream.get("codec_type").and_then(|t| t.as_str()) {
            // Cover art is a one-frame "video" stream; skip it.
            Some("video") if details.video_codec.is_none() && !is_attached_picture(stream) => {
                details.video_codec = codec;
                details.width = stream.get("width").and_then(|w| w.as_u64());
                details.height = stream.get("height").and_then(|h| h.as_u64());
                details.frame_rate = ["avg_frame_rate", "r_frame_rate"]
                    .iter()
                    .filter_map(|key| stream.get(*key).and_then(|r| r.as_str()).and_then(parse_ratio))
                    .next();
                if details.duration.is_none() {
                    details.duration = number(stream.get("duration"));
                }
            }
            Some("audio") if details.audio_codec.is_none() => {
                details.audio_codec = codec;
                if details.duration.is_none() {
                    details.duration = number(stream.get("duration"));
                }
            }
            _ => {}
        }
    }
    Ok(details)
}

fn is_attached_picture(stream: &serde_json::Value) -> bool {
    stream.pointer("/disposition/attached_pic").and_then(|v| v.as_u64()) == Some(1)
}

/// `"24000/1001"` → 23.976…; `"0/0"` → `None`.
fn parse_ratio(text: &str) -> Option<f64> {
    let (num, den) = text.split_once('/')?;
    let (num, den): (f64, f64) = (num.trim().parse().ok()?, den.trim().parse().ok()?);
    let value = num / den;
    (value.is_finite() && value > 0.0).then_some(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    // Trimmed output of `ffprobe -v error -print_format json -show_streams -show_format` (ffmpeg 5.1).
    const FFPROBE_JSON: &str = r#"{
    "streams": [
        { "index": 0, "codec_name": "mjpeg", "codec_type": "video", "width": 600, "height": 600,
          "r_frame_rate": "90000/1", "avg_frame_rate": "0/0", "disposition": { "attached_pic": 1 } },
        { "index": 1, "codec_name": "h264", "profile": "High", "codec_type": "video", "width": 1920, "height": 1080,
          "r_frame_rate": "24000/1001", "avg_frame_rate": "24000/1001", "duration": "5.005000",
          "disposition": { "default": 1, "attached_pic": 0 } },
        { "index": 2, "codec_name": "aac", "codec_type": "audio", "sample_rate": "48000", "channels": 2,
          "duration": "5.013333" }
    ],
    "format": { "filename": "trailer.mp4", "nb_streams": 3, "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
                "duration": "5.013333", "size": "1056321", "bit_rate": "1685634" }
}"#;

    #[test]
    fn parses_ffprobe_json() {
        let details = parse_ffprobe(FFPROBE_JSON.as_bytes()).unwrap();
        assert_eq!(details.video_codec.as_deref(), Some("h264"));
        assert_eq!(details.audio_codec.as_deref(), Some("aac"));
        assert_eq!((details.width, details.height), (Some(1920), Some(1080)));
        assert!((details.frame_rate.unwrap() - 23.976).abs() < 1e-3);
        assert!((details.duration.unwrap() - 5.013333).abs() < 1e-9);
    }

    #[test]
    fn odd_ffprobe_output_is_handled() {
        assert!(parse_ffprobe(b"not json").is_err());
        assert_eq!(parse_ffprobe(b"{}").unwrap(), Details::default());
        let audio_only =
            br#"{"streams":[{"codec_type":"audio","codec_name":"mp3","duration":"181.2"}],"format":{}}"#;
        let details = parse_ffprobe(audio_only).unwrap();
        assert_eq!(details.audio_codec.as_deref(), Some("mp3"));
        assert_eq!(details.duration, Some(181.2));
        assert_eq!(parse_ratio("0/0"), None);
        assert_eq!(parse_ratio("25/1"), Some(25.0));
        assert_eq!(parse_ratio("x"), None);
    }
}
