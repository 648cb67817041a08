//! Bourse from another language: `tests/python/three_phase.py`, a Python
//! client whose stubs grpcio-tools generates from `proto/` at run time,
//! runs the selector's three phases over gRPC against a real broker and
//! three real agent processes with different formats and catalogs.
//!
//! Needs python3 with grpcio and grpcio-tools, hence ignored by plain
//! `cargo test`; CI installs them and runs it with `--include-ignored`.
//! The script's output goes straight to the test's stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bourse_tests::{AgentProcess, BrokerProcess, TempDir};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

/// One agent of the fleet: what it streams and the titles it holds.
struct Server {
    host: &'static str,
    video: &'static [&'static str],
    audio: &'static [&'static str],
    titles: &'static [&'static str],
    load: f64,
}

/// alpha and gamma stream what the client plays (h264 and aac); beta does
/// not, so its Nosferatu is not playable and its Casablanca not offered.
const FLEET: [Server; 3] = [
    Server {
        host: "alpha",
        video: &["h264"],
        audio: &["aac"],
        titles: &["Casablanca", "Metropolis"],
        load: 0.4,
    },
    Server {
        host: "beta",
        video: &["hevc"],
        audio: &["opus"],
        titles: &["Casablanca", "Nosferatu"],
        load: 0.1,
    },
    Server {
        host: "gamma",
        video: &["vp9", "h264"],
        audio: &["opus", "aac"],
        titles: &["Casablanca", "Sunrise"],
        load: 0.2,
    },
];

fn toml_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Writes the media directory (empty files; details come from the catalog
/// file) and the config of `server`, whose media server listens on `port`.
fn write_agent(dir: &Path, broker: &str, server: &Server, port: u16) -> Result<PathBuf> {
    let media = dir.join(format!("media-{}", server.host));
    std::fs::create_dir_all(&media)?;
    let mut catalog = String::new();
    for (n, title) in server.titles.iter().enumerate() {
        std::fs::write(media.join(format!("{title}.mp4")), b"")?;
        catalog.push_str(&format!(
            "[[title]]\nname = \"{title}\"\nduration = {}.0\nwidth = 1280\nheight = 720\nvideo_codec = \"{}\"\naudio_codec = \"{}\"\n\n",
            5400 + 60 * n,
            server.video[0],
            server.audio[0],
        ));
    }
    let catalog_file = dir.join(format!("catalog-{}.toml", server.host));
    std::fs::write(&catalog_file, catalog)?;
    let config = dir.join(format!("{}.toml", server.host));
    std::fs::write(
        &config,
        format!(
            r#"broker = "{broker}"
lease_seconds = 5
interval_ms = 200
max_age_ms = 200

[server]
host = "{host}"
video_formats = {video}
audio_formats = {audio}
protocols = ["hls"]
max_connections = 10

[media]
protocol = "http"
host = "127.0.0.1"
port = {port}
url_template = "http://{{host}}:{{port}}/hls/{{name}}/index.m3u8"
dir = "{media}"
catalog = "{catalog}"
ffprobe = false

[health]
check = "tcp"
interval_ms = 500

[simulate]
load = {load}
"#,
            host = server.host,
            video = toml_list(server.video),
            audio = toml_list(server.audio),
            media = media.display(),
            catalog = catalog_file.display(),
            load = server.load,
        ),
    )?;
    Ok(config)
}

#[tokio::test]
#[ignore = "needs python3 with grpcio-tools (pip install grpcio==1.85.1 grpcio-tools==1.85.1)"]
async fn python_client_runs_the_three_phases() -> Result<()> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let probe = Command::new(&python).args(["-c", "import grpc, grpc_tools"]).output().await;
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        bail!(
            "this test needs {python} with grpcio and grpcio-tools: pip install grpcio==1.85.1 grpcio-tools==1.85.1"
        );
    }
    let scratch = TempDir::new("python")?;
    let broker_dir = scratch.path().join("broker");
    std::fs::create_dir_all(&broker_dir)?;
    let broker = BrokerProcess::start(&broker_dir, &[]).await?;

    // Each agent's "media server" is a listener here: the agents check it
    // and count the connections to it.
    let mut media_servers = Vec::new();
    let mut agents = Vec::new();
    for server in &FLEET {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let config = write_agent(scratch.path(), &broker.addr, server, listener.local_addr()?.port())?;
        agents.push(AgentProcess::start(&config, &[]).await?);
        media_servers.push(listener);
    }
    // One stream to alpha, which it reports as a live figure.
    let _stream = TcpStream::connect(media_servers[0].local_addr()?).await?;
    let (_accepted, _) = media_servers[0].accept().await?;

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?;
    let mut script = Command::new(&python);
    script
        .arg(root.join("tests/python/three_phase.py"))
        .args(["--broker", &broker.addr])
        .args(["--video", "h264", "--audio", "aac", "--title", "Casablanca"])
        .args(["--expect-servers", "alpha,gamma", "--expect-titles", "Casablanca,Metropolis,Sunrise"])
        .args(["--expect-connections", "alpha=1", "--absent-title", "Nosferatu"])
        .current_dir(root)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let status = tokio::time::timeout(Duration::from_secs(120), script.status())
        .await
        .context("three_phase.py did not finish within 120 s")??;
    assert!(status.success(), "three_phase.py failed with {status} (its output is above)");

    for agent in agents {
        agent.stop().await?;
    }
    broker.stop().await
}
