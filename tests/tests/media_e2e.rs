//! A real media server and a real player around the real binaries: ffmpeg
//! encodes two short titles as HLS, nginx serves them on loopback, a
//! `bourse-agent` beside it describes them with ffprobe and health-checks
//! nginx, and the URLs that `bourse pick` and `bourse select --print`
//! hand out are opened over HTTP by ffprobe, as a player would.
//!
//! Needs ffmpeg, ffprobe and nginx (`apt-get install -y ffmpeg nginx`) and
//! tmux, hence ignored by plain `cargo test`; CI runs it with
//! `--include-ignored`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bourse_proto as pb;
use bourse_tests::tmux::{Tmux, path_text, shell_quote, wait_for_file};
use bourse_tests::{AgentProcess, BrokerProcess, TempDir, binary, stdout_ok};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A title to encode: its name (the HLS directory), frame size and length.
struct Clip {
    name: &'static str,
    width: u64,
    height: u64,
    seconds: f64,
}

const CLIPS: [Clip; 2] = [
    Clip { name: "Sunrise", width: 320, height: 240, seconds: 4.0 },
    Clip { name: "Metropolis", width: 640, height: 360, seconds: 6.0 },
];

/// Durations measured on HLS are segment-aligned and rounded; this much
/// slack is plenty for one-second segments of exact-length sources.
const DURATION_TOLERANCE: f64 = 0.25;

/// An executable on the PATH, or in the sbin directories that a non-root
/// PATH often lacks.
fn tool(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("this test needs {name}: apt-get install -y ffmpeg nginx"))
}

/// Runs a command to completion within `limit`; fails with its stderr.
fn run(command: &mut Command, limit: Duration) -> Result<Vec<u8>> {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let started = Instant::now();
    while child.try_wait()?.is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "{what}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}

/// Encodes `clip` (test pattern and a tone, H.264/AAC) as HLS into
/// `media/<name>/index.m3u8` with one-second segments.
fn encode(ffmpeg: &Path, media: &Path, clip: &Clip) -> Result<()> {
    let dir = media.join(clip.name);
    std::fs::create_dir_all(&dir)?;
    let seconds = clip.seconds;
    run(
        Command::new(ffmpeg)
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc=size={}x{}:rate=25:duration={seconds}", clip.width, clip.height))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:sample_rate=44100:duration={seconds}"))
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"])
            .args(["-c:a", "aac", "-b:a", "64k", "-shortest"])
            .args(["-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "vod"])
            .arg("-hls_segment_filename")
            .arg(dir.join("seg%03d.ts"))
            .arg(dir.join("index.m3u8")),
        Duration::from_secs(60),
    )?;
    Ok(())
}

/// An nginx of this test's own: one process in the foreground with its
/// config, logs, pid and temp files in `dir`, serving `media` under
/// `/hls/` and `/health` on a free loopback port. Stopped on drop.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, media: &Path) -> Result<Nginx> {
        let nginx = tool("nginx")?;
        // The port is free now; another process could take it before nginx
        // binds, so try again with a new one if the bind fails.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            match Self::try_start(&nginx, dir, media, port) {
                Ok(server) => return Ok(server),
                Err(e) => last_error = format!("{e:#}"),
            }
        }
        bail!("nginx did not start: {last_error}")
    }

    fn try_start(nginx: &Path, dir: &Path, media: &Path, port: u16) -> Result<Nginx> {
        let d = |name: &str| dir.join(name).display().to_string();
        // `master_process off`: one process, nothing left behind when it is
        // killed, and no switch to an unprivileged user when run as root,
        // so the temp directory needs no permissions for others.
        let config = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid "{pid}";
error_log "{error_log}" warn;
events {{ worker_connections 64; }}
http {{
    access_log "{access_log}";
    client_body_temp_path "{body}";
    proxy_temp_path "{proxy}";
    fastcgi_temp_path "{fastcgi}";
    uwsgi_temp_path "{uwsgi}";
    scgi_temp_path "{scgi}";
    types {{
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
    }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        location = /health {{ return 200 "ok\n"; }}
        location /hls/ {{ alias "{media}/"; }}
    }}
}}
"#,
            pid = d("nginx.pid"),
            error_log = d("error.log"),
            access_log = d("access.log"),
            body = d("client_body"),
            proxy = d("proxy"),
            fastcgi = d("fastcgi"),
            uwsgi = d("uwsgi"),
            scgi = d("scgi"),
            media = media.display(),
        );
        let config_file = dir.join("nginx.conf");
        std::fs::write(&config_file, config)?;
        // -e: the error log before the config is read (the default is a
        // system path that a non-root user cannot open).
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&config_file)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting nginx")?;
        let mut server = Nginx { child, port, dir: dir.to_path_buf() };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("nginx exited with {status}: {}", server.error_log());
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("nginx did not listen on port {port} within 10 s: {}", server.error_log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `Content-Type` of a GET on loopback, from the raw response head.
async fn content_type(port: u16, path: &str) -> Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await??;
    let text = String::from_utf8_lossy(&response);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    ensure!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    head.lines()
        .find_map(|line| line.strip_prefix("Content-Type: "))
        .map(str::to_string)
        .with_context(|| format!("GET {path}: no Content-Type in {head}"))
}

/// What ffprobe, as a player, finds at a URL: (duration, width, height).
fn probe_url(ffprobe: &Path, url: &str) -> Result<(f64, u64, u64)> {
    let json = run(
        Command::new(ffprobe)
            .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
            .arg(url)
            // Loopback only, whatever proxy the environment names.
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY"),
        Duration::from_secs(30),
    )?;
    let root: serde_json::Value = serde_json::from_slice(&json)?;
    let duration = root
        .pointer("/format/duration")
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse::<f64>().ok())
        .with_context(|| format!("no duration from ffprobe {url}: {root}"))?;
    let streams = root.get("streams").and_then(|s| s.as_array()).context("no streams")?;
    let video = streams
        .iter()
        .find(|s| s.get("codec_type").and_then(|t| t.as_str()) == Some("video"))
        .with_context(|| format!("no video stream at {url}"))?;
    ensure!(video.get("codec_name").and_then(|c| c.as_str()) == Some("h264"), "not H.264: {video}");
    let size = |key: &str| video.get(key).and_then(|v| v.as_u64()).with_context(|| format!("no {key}"));
    Ok((duration, size("width")?, size("height")?))
}

fn field<'a>(record: &'a pb::Record, name: &str) -> Option<&'a pb::value::Kind> {
    record.fields.iter().find(|f| f.name == name)?.value.as_ref()?.kind.as_ref()
}

fn string_field(record: &pb::Record, name: &str) -> Option<String> {
    match field(record, name)? {
        pb::value::Kind::StringValue(text) => Some(text.clone()),
        _ => None,
    }
}

fn number_field(record: &pb::Record, name: &str) -> Option<f64> {
    match field(record, name)? {
        pb::value::Kind::DoubleValue(v) => Some(*v),
        pb::value::Kind::Uint64Value(v) => Some(*v as f64),
        _ => None,
    }
}

fn clip_of(url: &str) -> Result<&'static Clip> {
    CLIPS
        .iter()
        .find(|clip| url.contains(&format!("/hls/{}/", clip.name)))
        .with_context(|| format!("{url} is not the URL of a title"))
}

/// ffprobe opens `url` from nginx and finds the title it names.
fn check_stream(ffprobe: &Path, nginx: &Nginx, url: &str) -> Result<()> {
    let clip = clip_of(url)?;
    let (duration, width, height) = probe_url(ffprobe, url)?;
    ensure!(
        (duration - clip.seconds).abs() <= DURATION_TOLERANCE,
        "{url}: {duration} s, {} s expected",
        clip.seconds
    );
    ensure!((width, height) == (clip.width, clip.height), "{url}: {width}x{height}");
    let segment = format!("GET /hls/{}/seg000.ts ", clip.name);
    ensure!(nginx.access_log().contains(&segment), "nginx served no segment of {}", clip.name);
    Ok(())
}

#[tokio::test]
#[ignore = "needs ffmpeg, ffprobe and nginx"]
async fn hls_from_nginx_is_described_picked_and_played() -> Result<()> {
    let (ffmpeg, ffprobe) = (tool("ffmpeg")?, tool("ffprobe")?);
    let scratch = TempDir::new("media")?;
    let media = scratch.path().join("media");
    let nginx_dir = scratch.path().join("nginx");
    let broker_dir = scratch.path().join("broker");
    for dir in [&media, &nginx_dir, &broker_dir] {
        std::fs::create_dir_all(dir)?;
    }
    for clip in &CLIPS {
        encode(&ffmpeg, &media, clip)?;
    }
    let nginx = Nginx::start(&nginx_dir, &media)?;
    let port = nginx.port;
    assert_eq!(content_type(port, "/hls/Sunrise/index.m3u8").await?, "application/vnd.apple.mpegurl");
    assert_eq!(content_type(port, "/hls/Sunrise/seg000.ts").await?, "video/mp2t");

    let broker = BrokerProcess::start(&broker_dir, &[]).await?;
    let agent_config = scratch.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            r#"broker = "{broker}"
lease_seconds = 5
interval_ms = 500

[server]
host = "studio-hls"
video_formats = ["h264"]
audio_formats = ["aac"]
protocols = ["hls"]
max_connections = 20

[media]
protocol = "http"
host = "127.0.0.1"
port = {port}
url_template = "http://{{host}}:{{port}}/hls/{{name}}/index.m3u8"
dir = "{media}"
ffprobe = true

[health]
check = "http"
url = "http://127.0.0.1:{port}/health"
interval_ms = 500
"#,
            broker = broker.addr,
            media = media.display(),
        ),
    )?;
    let agent = AgentProcess::start(&agent_config, &[]).await?;

    // The offer describes both titles with what ffprobe found: a media
    // playlist alone has no frame size, so width and height come from it.
    let offer = broker
        .register()
        .await?
        .describe(pb::DescribeRequest { id: agent.offer_id.clone() })
        .await?
        .into_inner()
        .offer
        .context("the agent's offer")?;
    let property = |name: &str| {
        offer.properties.iter().find(|p| p.name == name).and_then(|p| match &p.content {
            Some(pb::property::Content::Value(value)) => value.kind.clone(),
            _ => None,
        })
    };
    let Some(pb::value::Kind::StringSeq(titles)) = property("titles") else { bail!("no titles: {offer:?}") };
    assert_eq!(titles.values, ["Metropolis", "Sunrise"]);
    let Some(pb::value::Kind::RecordList(movies)) = property("movies") else { bail!("no movies: {offer:?}") };
    assert_eq!(movies.records.len(), CLIPS.len());
    for clip in &CLIPS {
        let record = movies
            .records
            .iter()
            .find(|r| string_field(r, "name").as_deref() == Some(clip.name))
            .with_context(|| format!("no record for {}", clip.name))?;
        let duration =
            number_field(record, "duration").with_context(|| format!("{}: no duration", clip.name))?;
        assert!((duration - clip.seconds).abs() <= DURATION_TOLERANCE, "{}: duration {duration}", clip.name);
        assert_eq!(number_field(record, "width"), Some(clip.width as f64), "{}: width", clip.name);
        assert_eq!(number_field(record, "height"), Some(clip.height as f64), "{}: height", clip.name);
        assert_eq!(string_field(record, "video_codec").as_deref(), Some("h264"));
        assert_eq!(string_field(record, "audio_codec").as_deref(), Some("aac"));
        assert_eq!(
            string_field(record, "play_url"),
            Some(format!("http://127.0.0.1:{port}/hls/{}/index.m3u8", clip.name))
        );
    }

    // `bourse pick` for one title hands out its URL and reserves a slot.
    let output = broker
        .bourse(&[
            "--json",
            "pick",
            "MediaServer",
            "'hls' in protocols and 'h264' in video_formats",
            "--title",
            "Sunrise",
        ])
        .await?;
    let picked: serde_json::Value = serde_json::from_str(&stdout_ok(&output)?)?;
    let url = picked["endpoint"].as_str().context("no endpoint")?.to_string();
    assert_eq!(url, format!("http://127.0.0.1:{port}/hls/Sunrise/index.m3u8"));
    let reservation = picked["reservation"]["id"].as_str().context("no reservation")?;
    check_stream(&ffprobe, &nginx, &url)?;
    stdout_ok(&broker.bourse(&["release", reservation]).await?)?;

    // `bourse select --print`, driven with keys, chooses the other title.
    let url_file = scratch.path().join("url");
    let status_file = scratch.path().join("status");
    let command = format!(
        "{} --broker {} select --print --video h264 --audio aac --protocols hls --interval-ms 200 > {}; echo $? > {}",
        shell_quote(path_text(&binary("bourse")?)?),
        broker.addr,
        shell_quote(path_text(&url_file)?),
        shell_quote(path_text(&status_file)?),
    );
    let tmux = Tmux::start(&format!("sh -c {}", shell_quote(&command)))?;
    tmux.wait_for("phase 1", |s| s.contains("Titles (2)") && s.contains("Metropolis")).await?;
    tmux.text("/metro")?;
    tmux.wait_for("the filter", |s| s.contains("Titles (1 of 2)")).await?;
    tmux.keys(&["Enter", "Enter"])?;
    let screen = tmux.wait_for("phase 2", |s| s.contains("Servers with Metropolis (1)")).await?;
    assert!(screen.contains("studio-hls"), "{screen}");
    tmux.keys(&["Enter"])?;
    tmux.wait_for("phase 3", |s| s.contains("Live: Metropolis") && s.contains("update 2")).await?;
    tmux.keys(&["Enter"])?;
    let status = wait_for_file(&status_file).await;
    assert_eq!(status.trim(), "0", "bourse select exited with {status:?}; screen:\n{}", tmux.screen()?);
    let url = std::fs::read_to_string(&url_file)?;
    assert_eq!(url, format!("http://127.0.0.1:{port}/hls/Metropolis/index.m3u8\n"));
    check_stream(&ffprobe, &nginx, url.trim())?;
    drop(tmux);

    // nginx going away withdraws the offer: the agent checks its health.
    let offers = stdout_ok(&broker.bourse(&["--json", "query", "MediaServer"]).await?)?;
    assert!(offers.contains(&agent.offer_id), "the offer is there while nginx is up: {offers}");
    drop(nginx);
    bourse_tests::eventually(Duration::from_secs(10), || async {
        let output = broker.bourse(&["--json", "query", "MediaServer"]).await?;
        Ok(!stdout_ok(&output)?.contains(&agent.offer_id))
    })
    .await
    .context("the offer is withdrawn once nginx is down")?;
    agent.stop().await?;
    broker.stop().await
}
