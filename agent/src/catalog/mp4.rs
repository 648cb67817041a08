//! Details of an MP4 (ISO BMFF, QuickTime) file without ffprobe.
//!
//! The top-level boxes are walked with seeks so that a multi-gigabyte
//! `mdat` is never read; only `ftyp` and `moov` are loaded and handed to
//! the `mp4parse` crate (Mozilla's fuzzed parser). Duration is the longest
//! track's; frame rate is the video track's sample count over its
//! duration; frame size and codecs come from the sample descriptions.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use mp4parse::{CodecType, SampleEntry, TrackType};

use super::Details;

/// Largest `moov` loaded (a two-hour film's is a few MB).
const MAX_MOOV_BYTES: u64 = 64 << 20;

/// Extensions read as MP4.
pub fn is_mp4(file: &str) -> bool {
    let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    matches!(ext.as_str(), "mp4" | "m4v" | "mov" | "m4a" | "3gp")
}

/// Reads the header boxes of an MP4 file and returns its details.
pub fn probe(path: &Path) -> Result<Details, String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let header = header_boxes(&mut file)?;
    // mp4parse is fuzzed, but a title with a bad header must never take
    // the agent down: treat a panic as a parse failure.
    let context = std::panic::catch_unwind(move || mp4parse::read_mp4(&mut std::io::Cursor::new(header)))
        .map_err(|_| "the MP4 parser failed on this file".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    Ok(details_of(&context))
}

/// The bytes of the `ftyp` and `moov` boxes, in file order.
pub fn header_boxes<R: Read + Seek>(reader: &mut R) -> Result<Vec<u8>, String> {
    let end = reader.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    let mut pos = 0u64;
    let mut out = Vec::new();
    let mut found_moov = false;
    reader.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    while pos + 8 <= end {
        let mut head = [0u8; 8];
        reader.read_exact(&mut head).map_err(|e| e.to_string())?;
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        let (size, header_len) = match size32 {
            0 => (end - pos, 8),
            1 => {
                let mut large = [0u8; 8];
                reader.read_exact(&mut large).map_err(|e| e.to_string())?;
                (u64::from_be_bytes(large), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header_len || pos.checked_add(size).is_none_or(|box_end| box_end > end) {
            return Err(format!("box '{}' at {pos} has a bad size {size}", String::from_utf8_lossy(&kind)));
        }
        if &kind == b"ftyp" || &kind == b"moov" {
            // Bounds the total too: a file of many 'moov' boxes gets no further.
            if size.saturating_add(out.len() as u64) > MAX_MOOV_BYTES {
                return Err(format!("'{}' box of {size} bytes is too large", String::from_utf8_lossy(&kind)));
            }
            let start = out.len();
            // `size` fits in usize: it is at most MAX_MOOV_BYTES.
            out.resize(start + size as usize, 0);
            reader.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
            reader.read_exact(&mut out[start..]).map_err(|e| e.to_string())?;
            found_moov |= &kind == b"moov";
        }
        pos += size;
        reader.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
    }
    if !found_moov {
        return Err("no 'moov' box (not an MP4 file, or still being written)".to_string());
    }
    Ok(out)
}

fn codec_name(codec: CodecType) -> Option<&'static str> {
    Some(match codec {
        CodecType::H264 => "h264",
        CodecType::MP4V => "mpeg4",
        CodecType::AV1 => "av1",
        CodecType::VP9 => "vp9",
        CodecType::VP8 => "vp8",
        CodecType::H263 => "h263",
        CodecType::AAC => "aac",
        CodecType::MP3 => "mp3",
        CodecType::Opus => "opus",
        CodecType::FLAC => "flac",
        CodecType::ALAC => "alac",
        CodecType::LPCM => "pcm",
        _ => return None,
    })
}

fn details_of(context: &mp4parse::MediaContext) -> Details {
    let mut details = Details::default();
    for track in context.tracks.iter() {
        let seconds = match (&track.duration, &track.timescale) {
            (Some(duration), Some(scale)) if scale.0 > 0 => Some(duration.0 as f64 / scale.0 as f64),
            _ => None,
        };
        if let Some(seconds) = seconds {
            details.duration = Some(details.duration.map_or(seconds, |d: f64| d.max(seconds)));
        }
        let entry = track.stsd.as_ref().and_then(|stsd| stsd.descriptions.iter().next());
        match (&track.track_type, entry) {
            (TrackType::Video, Some(SampleEntry::Video(video))) if details.video_codec.is_none() => {
                details.video_codec = codec_name(video.codec_type).map(str::to_string);
                let (mut width, mut height) = (u64::from(video.width), u64::from(video.height));
                if (width == 0 || height == 0)
                    && let Some(tkhd) = &track.tkhd
                {
                    // 16.16 fixed point.
                    (width, height) = (u64::from(tkhd.width >> 16), u64::from(tkhd.height >> 16));
                }
                details.width = Some(width);
                details.height = Some(height);
                let n_samples: u64 = track
                    .stts
                    .as_ref()
                    .map(|stts| stts.samples.iter().map(|s| u64::from(s.sample_count)).sum())
                    .unwrap_or(0);
                if let Some(seconds) = seconds.filter(|s| *s > 0.0)
                    && n_samples > 0
                {
                    details.frame_rate = Some(n_samples as f64 / seconds);
                }
            }
            (TrackType::Audio, Some(SampleEntry::Audio(audio))) if details.audio_codec.is_none() => {
                details.audio_codec = codec_name(audio.codec_type).map(str::to_string);
            }
            _ => {}
        }
    }
    details
}

/// A hand-assembled, minimal but valid MP4 for tests: an H.264 video track
/// and an AAC audio track, without media data.
#[cfg(test)]
pub(crate) mod build {
    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn full(kind: &[u8; 4], version_flags: u32, body: &[u8]) -> Vec<u8> {
        let mut inner = version_flags.to_be_bytes().to_vec();
        inner.extend_from_slice(body);
        boxed(kind, &inner)
    }

    fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn be32(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

    fn tkhd(track_id: u32, duration: u32, width: u32, height: u32) -> Vec<u8> {
        let mut body = be32(&[0, 0, track_id, 0, duration, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0, 0x01, 0x00, 0, 0]); // layer, group, volume, reserved
        body.extend(be32(&MATRIX));
        body.extend(be32(&[width << 16, height << 16]));
        full(b"tkhd", 0x0000_0003, &body)
    }

    fn mdhd(timescale: u32, duration: u32) -> Vec<u8> {
        let mut body = be32(&[0, 0, timescale, duration]);
        body.extend_from_slice(&[0x55, 0xc4, 0, 0]); // language "und", pre_defined
        full(b"mdhd", 0, &body)
    }

    fn hdlr(handler: &[u8; 4]) -> Vec<u8> {
        let mut body = be32(&[0]);
        body.extend_from_slice(handler);
        body.extend(be32(&[0, 0, 0]));
        body.extend_from_slice(b"handler\0");
        full(b"hdlr", 0, &body)
    }

    fn stbl(entry: Vec<u8>, samples: u32, delta: u32) -> Vec<u8> {
        let mut stsd = be32(&[1]);
        stsd.extend(entry);
        boxed(
            b"stbl",
            &concat(&[
                full(b"stsd", 0, &stsd),
                full(b"stts", 0, &be32(&[1, samples, delta])),
                full(b"stsc", 0, &be32(&[0])),
                full(b"stsz", 0, &be32(&[0, 0])),
                full(b"stco", 0, &be32(&[0])),
            ]),
        )
    }

    fn dinf() -> Vec<u8> {
        boxed(b"dinf", &full(b"dref", 0, &concat(&[be32(&[1]), full(b"url ", 1, &[])])))
    }

    fn avc1(width: u16, height: u16) -> Vec<u8> {
        let mut body = vec![0u8; 6];
        body.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
        body.extend_from_slice(&[0u8; 16]);
        body.extend_from_slice(&width.to_be_bytes());
        body.extend_from_slice(&height.to_be_bytes());
        body.extend(be32(&[0x0048_0000, 0x0048_0000, 0])); // resolution, reserved
        body.extend_from_slice(&1u16.to_be_bytes()); // frame_count
        body.extend_from_slice(&[0u8; 32]); // compressor name
        body.extend_from_slice(&[0x00, 0x18, 0xff, 0xff]); // depth, pre_defined
        // avcC: version 1, profile 66, compat 0, level 30, 4-byte lengths, no SPS/PPS.
        body.extend(boxed(b"avcC", &[1, 66, 0, 30, 0xff, 0xe0, 0]));
        boxed(b"avc1", &body)
    }

    fn mp4a() -> Vec<u8> {
        let mut body = vec![0u8; 6];
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(&[0u8; 8]); // version, revision, vendor
        body.extend_from_slice(&2u16.to_be_bytes()); // channels
        body.extend_from_slice(&16u16.to_be_bytes()); // sample size
        body.extend_from_slice(&[0u8; 4]);
        body.extend(be32(&[44_100 << 16]));
        // ES_Descriptor → DecoderConfig (AAC, audio) → AudioSpecificConfig (LC, 44.1 kHz, stereo) + SLConfig.
        let esds: Vec<u8> = vec![
            0x03, 0x19, 0x00, 0x01, 0x00, // ES_DescrTag, len 25, ES_ID 1, flags
            0x04, 0x11, 0x40, 0x15, 0x00, 0x00,
            0x00, // DecoderConfigDescrTag, len 17, AAC, audio stream
            0x00, 0x01, 0xf4, 0x00, 0x00, 0x01, 0xf4, 0x00, // max and average bitrate
            0x05, 0x02, 0x12, 0x10, // DecSpecificInfoTag: AAC LC, 44.1 kHz, 2 channels
            0x06, 0x01, 0x02, // SLConfigDescrTag
        ];
        body.extend(full(b"esds", 0, &esds));
        boxed(b"mp4a", &body)
    }

    /// An MP4 of `seconds` seconds of `width`x`height` H.264 at 25 fps
    /// (timescale 12800) plus AAC audio; `mdat_first` puts a media box
    /// before `moov`, as files not prepared for streaming have.
    pub fn tiny_mp4(width: u16, height: u16, seconds: u32, mdat_first: bool) -> Vec<u8> {
        let video_timescale = 12_800;
        let frames = 25 * seconds;
        let video = boxed(
            b"trak",
            &concat(&[
                tkhd(1, seconds * 1000, u32::from(width), u32::from(height)),
                boxed(
                    b"mdia",
                    &concat(&[
                        mdhd(video_timescale, seconds * video_timescale),
                        hdlr(b"vide"),
                        boxed(
                            b"minf",
                            &concat(&[
                                full(b"vmhd", 1, &[0u8; 8]),
                                dinf(),
                                stbl(avc1(width, height), frames, video_timescale / 25),
                            ]),
                        ),
                    ]),
                ),
            ]),
        );
        let audio = boxed(
            b"trak",
            &concat(&[
                tkhd(2, seconds * 1000, 0, 0),
                boxed(
                    b"mdia",
                    &concat(&[
                        mdhd(44_100, seconds * 44_100),
                        hdlr(b"soun"),
                        boxed(
                            b"minf",
                            &concat(&[
                                full(b"smhd", 0, &[0u8; 4]),
                                dinf(),
                                stbl(mp4a(), seconds * 44_100 / 1024, 1024),
                            ]),
                        ),
                    ]),
                ),
            ]),
        );
        let mut mvhd = be32(&[0, 0, 1000, seconds * 1000, 0x0001_0000]);
        mvhd.extend_from_slice(&[0x01, 0x00, 0, 0]); // volume, reserved
        mvhd.extend(be32(&[0, 0]));
        mvhd.extend(be32(&MATRIX));
        mvhd.extend(be32(&[0, 0, 0, 0, 0, 0, 3])); // pre_defined, next_track_id
        let moov = boxed(b"moov", &concat(&[full(b"mvhd", 0, &mvhd), video, audio]));
        let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
        let mdat = boxed(b"mdat", &[0u8; 4096]);
        if mdat_first { concat(&[ftyp, mdat, moov]) } else { concat(&[ftyp, moov, mdat]) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn reads_a_hand_built_mp4() {
        let dir = super::super::tests::Scratch::new("mp4");
        for (mdat_first, name) in [(false, "fast.mp4"), (true, "slow.mp4")] {
            let path = dir.0.join(name);
            std::fs::write(&path, build::tiny_mp4(320, 240, 4, mdat_first)).unwrap();
            let details = probe(&path).unwrap();
            assert_eq!(details.duration, Some(4.0), "{name}");
            assert_eq!(details.frame_rate, Some(25.0), "{name}");
            assert_eq!((details.width, details.height), (Some(320), Some(240)), "{name}");
            assert_eq!(details.video_codec.as_deref(), Some("h264"), "{name}");
            assert_eq!(details.audio_codec.as_deref(), Some("aac"), "{name}");
        }
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        let dir = super::super::tests::Scratch::new("mp4-bad");
        let good = build::tiny_mp4(320, 240, 2, false);
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("text", b"hello, this is not a movie at all".to_vec()),
            ("no moov", good[..32].to_vec()),
            ("huge box size", [&[0xff, 0xff, 0xff, 0xff][..], b"moov", &[0u8; 16]].concat()),
            ("zero size box", [&[0, 0, 0, 1][..], b"moov", &[0u8; 8]].concat()),
        ];
        // Every truncation and a few corrupted bytes inside moov.
        for cut in (8..good.len()).step_by(37) {
            cases.push(("truncated", good[..cut].to_vec()));
        }
        for at in (40..good.len().min(700)).step_by(11) {
            let mut bad = good.clone();
            bad[at] ^= 0xa5;
            cases.push(("corrupted", bad));
        }
        for (what, bytes) in cases {
            let path = dir.0.join("bad.mp4");
            std::fs::write(&path, &bytes).unwrap();
            // Any outcome but a panic is fine; most are errors.
            let _ = probe(&path).map_err(|e| assert!(!e.is_empty(), "{what}"));
        }
        assert!(probe(&dir.0.join("missing.mp4")).is_err());
    }

    #[test]
    fn mp4_extensions() {
        assert!(is_mp4("a.MP4") && is_mp4("b.mov") && is_mp4("c.m4v"));
        assert!(!is_mp4("a.mkv") && !is_mp4("mp4"));
    }
}
