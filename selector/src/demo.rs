//! `bourse demo`: a whole fleet on this machine — an embedded broker and
//! three agents on loopback, each with its own sample catalog and capacity —
//! then the selector UI against it.
//!
//! Everything is the real code path: real gRPC, real callbacks, real
//! leases. Three agents on one machine would measure the same machine, so
//! each reports a simulated load (the agent's documented `[simulate]`
//! table); connections, CPU, memory, disk and bandwidth are measured. The
//! media files are empty placeholders whose details come from catalog
//! files; no media server runs, so the agents' health checks are off and a
//! player started on a demo URL finds nothing there (use `--print`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{DemoArgs, GlobalArgs};
use crate::error::CliError;

/// A demo title: file, name, seconds, frames per second, width, height,
/// video codec, audio codec.
type Title = (&'static str, &'static str, f64, f64, u64, u64, &'static str, &'static str);

/// A demo media server: who it is and what it holds.
struct Server {
    host: &'static str,
    zone: &'static str,
    max_connections: u64,
    load: f64,
    video: &'static [&'static str],
    audio: &'static [&'static str],
    protocols: &'static [&'static str],
    /// Port of the (absent) media server and the offer's reference.
    port: u16,
    reference: &'static str,
    url_template: &'static str,
    titles: &'static [Title],
}

const SERVERS: &[Server] = &[
    Server {
        host: "studio-a",
        zone: "north",
        max_connections: 40,
        load: 0.15,
        video: &["h264", "mpeg1"],
        audio: &["aac", "mp3"],
        protocols: &["rtsp"],
        port: 8554,
        reference: "rtsp://{host}:{port}/",
        url_template: "rtsp://{host}:{port}/{file}",
        titles: &[
            ("casablanca.mp4", "Casablanca", 6120.0, 23.976, 1440, 1080, "h264", "aac"),
            ("metropolis.mp4", "Metropolis", 8880.0, 24.0, 1440, 1080, "h264", "aac"),
            ("nosferatu.mp4", "Nosferatu", 5640.0, 18.0, 960, 720, "mpeg1", "mp3"),
            ("the-general.mp4", "The General", 4620.0, 24.0, 1440, 1080, "h264", "aac"),
        ],
    },
    Server {
        host: "studio-b",
        zone: "south",
        max_connections: 120,
        load: 0.55,
        video: &["h264", "hevc"],
        audio: &["aac", "opus"],
        protocols: &["hls", "rtsp"],
        port: 8080,
        reference: "http://{host}:{port}/hls/",
        url_template: "http://{host}:{port}/hls/{name}/index.m3u8",
        titles: &[
            ("casablanca.mp4", "Casablanca", 6120.0, 23.976, 1920, 1080, "hevc", "aac"),
            ("sunrise.mp4", "Sunrise", 5640.0, 24.0, 1920, 1080, "h264", "opus"),
            ("metropolis.mp4", "Metropolis", 8880.0, 24.0, 1920, 1080, "hevc", "aac"),
            ("the-kid.mp4", "The Kid", 4080.0, 24.0, 1920, 1080, "h264", "aac"),
        ],
    },
    Server {
        host: "studio-c",
        zone: "north",
        max_connections: 12,
        load: 0.85,
        video: &["vp9", "h264"],
        audio: &["opus"],
        protocols: &["hls"],
        port: 8080,
        reference: "http://{host}:{port}/hls/",
        url_template: "http://{host}:{port}/hls/{name}/index.m3u8",
        titles: &[
            ("casablanca.webm", "Casablanca", 6120.0, 25.0, 1280, 720, "vp9", "opus"),
            ("the-kid.webm", "The Kid", 4080.0, 25.0, 1280, 720, "vp9", "opus"),
            ("safety-last.webm", "Safety Last!", 4200.0, 25.0, 1280, 720, "vp9", "opus"),
        ],
    },
];

fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Writes a server's media directory and catalog file; returns the agent's
/// configuration text.
fn prepare(server: &Server, root: &Path, broker: &str) -> std::io::Result<String> {
    let media = root.join(server.host);
    std::fs::create_dir_all(&media)?;
    let mut catalog = String::new();
    for (file, name, duration, rate, width, height, video, audio) in server.titles {
        std::fs::write(media.join(file), b"")?;
        catalog.push_str(&format!(
            "[[title]]\nfile = {file:?}\nname = {name:?}\nduration = {duration:?}\nframe_rate = {rate:?}\n\
             width = {width}\nheight = {height}\nvideo_codec = {video:?}\naudio_codec = {audio:?}\n\n"
        ));
    }
    let catalog_path = root.join(format!("{}-catalog.toml", server.host));
    std::fs::write(&catalog_path, catalog)?;
    Ok(format!(
        r#"broker = "{broker}"
lease_seconds = 10
interval_ms = 1000

[server]
host = "{host}"
zone = "{zone}"
video_formats = {video}
audio_formats = {audio}
protocols = {protocols}
max_connections = {max}
bandwidth_capacity = 1_000_000_000

[media]
protocol = "{protocol}"
host = "127.0.0.1"
port = {port}
reference = "{reference}"
url_template = "{template}"
dir = {media:?}
catalog = {catalog:?}
ffprobe = false

[simulate]
load = {load}
"#,
        host = server.host,
        zone = server.zone,
        video = quoted_list(server.video),
        audio = quoted_list(server.audio),
        protocols = quoted_list(server.protocols),
        max = server.max_connections,
        protocol = server.protocols[0],
        template = server.url_template,
        port = server.port,
        reference = server.reference,
        media = media.display().to_string(),
        catalog = catalog_path.display().to_string(),
        load = server.load,
    ))
}

/// A scratch directory removed when the demo ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running fleet.
pub struct Fleet {
    pub broker_addr: std::net::SocketAddr,
    broker: bourse_broker::RunningBroker,
    agents: Vec<bourse_agent::RunningAgent>,
    _scratch: Scratch,
}

impl Fleet {
    /// Starts the broker on `listen` and the three agents.
    pub async fn start(listen: std::net::SocketAddr) -> Result<Fleet, CliError> {
        let demo_error = |what: &str, e: &dyn std::fmt::Display| CliError::Demo(format!("{what}: {e:#}"));
        let root = std::env::temp_dir().join(format!("bourse-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(|e| demo_error("scratch directory", &e))?;
        let scratch = Scratch(root.clone());
        let config = bourse_broker::Config::in_memory(listen);
        let broker = bourse_broker::start(&config).await.map_err(|e| demo_error("broker", &e))?;
        let broker_addr = broker.addr;
        let mut agents = Vec::new();
        for server in SERVERS {
            let text =
                prepare(server, &root, &broker_addr.to_string()).map_err(|e| demo_error(server.host, &e))?;
            let raw = bourse_agent::config::parse(&text).map_err(|e| demo_error(server.host, &e))?;
            let config = bourse_agent::config::Config::build(raw, bourse_agent::config::Overrides::default())
                .map_err(|e| demo_error(server.host, &e))?;
            agents.push(bourse_agent::start(config).await.map_err(|e| demo_error(server.host, &e))?);
        }
        // The UI's first query should see the whole fleet.
        for agent in &mut agents {
            let exported =
                tokio::time::timeout(Duration::from_secs(10), agent.offer.wait_for(Option::is_some)).await;
            if !matches!(exported, Ok(Ok(_))) {
                return Err(CliError::Demo("an agent did not export its offer within 10 s".into()));
            }
        }
        Ok(Fleet { broker_addr, broker, agents, _scratch: scratch })
    }

    /// Withdraws the agents' offers and stops the broker.
    pub async fn stop(self) {
        for agent in self.agents {
            agent.shutdown(Duration::from_secs(2)).await;
        }
        let _ = self.broker.shutdown().await;
    }
}

/// `bourse demo`.
pub async fn run(global: &GlobalArgs, args: &DemoArgs, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    let fleet = Fleet::start(args.listen).await?;
    let addr = fleet.broker_addr.to_string();
    let outcome = if args.headless {
        writeln!(out, "broker listening on {addr}")?;
        writeln!(out, "agents: {}", SERVERS.iter().map(|s| s.host).collect::<Vec<_>>().join(", "))?;
        writeln!(
            out,
            "try: bourse --broker {addr} query MediaServer \"'Casablanca' in titles\" --pref 'min load'"
        )?;
        out.flush()?;
        wait_for_signal().await;
        Ok(())
    } else {
        let mut options = crate::tui::SelectOptions::from_args(global, &args.select)?;
        options.settings.broker = addr;
        crate::tui::select(&options, out).await
    };
    fleet.stop().await;
    outcome
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_agent_configs_are_valid() {
        let root = std::env::temp_dir().join(format!("bourse-demo-test-{}", std::process::id()));
        for server in SERVERS {
            let text = prepare(server, &root, "127.0.0.1:7300").expect("write demo files");
            let raw = bourse_agent::config::parse(&text).expect("demo config parses");
            bourse_agent::config::Config::build(raw, bourse_agent::config::Overrides::default())
                .unwrap_or_else(|e| panic!("{}: {e}", server.host));
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
