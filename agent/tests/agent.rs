//! The agent against a real broker started in this process, on real
//! loopback sockets: the exported offer, catalog changes, the media
//! server's health, a broker restart, the callback service, and the
//! binary's output, exit statuses and withdrawal on SIGTERM.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bourse_agent::config::{self, Config, Overrides};
use bourse_agent::{AgentEvent, RunningAgent};
use bourse_broker::RunningBroker;
use bourse_proto as pb;
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::Channel;

/// Lease of the offers in these tests: short, so lapses are quick.
const LEASE_SECONDS: u64 = 2;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("bourse-agent-it-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start_broker(listen: SocketAddr) -> Result<RunningBroker> {
    let config = bourse_broker::Config {
        sweep_interval: Duration::from_millis(50),
        ..bourse_broker::Config::in_memory(listen)
    };
    bourse_broker::start(&config).await
}

/// The agent's config for a test: short lease and interval.
fn agent_config(broker: SocketAddr, media_dir: &Path, media_port: u16, extra: &str) -> Result<Config> {
    let text = format!(
        "lease_seconds = {LEASE_SECONDS}\ninterval_ms = 200\n\
         [server]\nhost = '127.0.0.1'\nzone = 'test-zone'\nvideo_formats = ['h264', 'vp9']\n\
         audio_formats = ['aac']\nprotocols = ['rtsp', 'hls']\nmax_connections = 40\nbandwidth_capacity = 100000000\n\
         [media]\nport = {media_port}\nurl_template = 'rtsp://{{host}}:{{port}}/{{file}}'\nffprobe = false\n{extra}"
    );
    let raw = config::parse(&text)?;
    let overrides = Overrides {
        broker: Some(broker.to_string()),
        media_dir: Some(media_dir.to_path_buf()),
        ..Overrides::default()
    };
    Ok(Config::build(raw, overrides)?)
}

async fn channel(addr: SocketAddr) -> Result<Channel> {
    Ok(Channel::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await?)
}

/// Polls `check` every 100 ms until it is true or `within` passes.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        // A failing check (broker briefly away) counts as "not yet".
        if check().await.unwrap_or(false) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{what}: not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Ids of the MediaServer offers that satisfy `constraint`.
async fn query(broker: SocketAddr, constraint: &str) -> Result<Vec<String>> {
    let mut lookup = pb::lookup_client::LookupClient::new(channel(broker).await?);
    let response = lookup
        .query(pb::QueryRequest {
            r#type: "MediaServer".into(),
            constraint: constraint.into(),
            desired: Some(pb::DesiredProps { mode: pb::PropsMode::None as i32, names: vec![] }),
            ..pb::QueryRequest::default()
        })
        .await?
        .into_inner();
    Ok(response.offers.into_iter().map(|o| o.id).collect())
}

async fn describe(broker: SocketAddr, id: &str) -> Result<pb::Offer> {
    let mut register = pb::register_client::RegisterClient::new(channel(broker).await?);
    let offer = register.describe(pb::DescribeRequest { id: id.into() }).await?.into_inner().offer;
    offer.context("describe without an offer")
}

fn prop<'a>(offer: &'a pb::Offer, name: &str) -> Option<&'a pb::property::Content> {
    offer.properties.iter().find(|p| p.name == name).and_then(|p| p.content.as_ref())
}

fn static_value(offer: &pb::Offer, name: &str) -> pb::value::Kind {
    match prop(offer, name) {
        Some(pb::property::Content::Value(pb::Value { kind: Some(kind) })) => kind.clone(),
        other => panic!("{name}: not a static value: {other:?}"),
    }
}

fn strings(kind: pb::value::Kind) -> Vec<String> {
    match kind {
        pb::value::Kind::StringSeq(seq) => seq.values,
        other => panic!("not a string_seq: {other:?}"),
    }
}

/// Waits for the agent's next export and returns the offer id.
async fn next_export(agent: &mut RunningAgent) -> Result<String> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), agent.events.recv())
            .await
            .context("no export within 10 s")?
            .context("agent stopped")?;
        if let AgentEvent::Exported { id } = event {
            return Ok(id);
        }
    }
}

async fn eval(evaluator: SocketAddr, items: &[(&str, &str)]) -> Result<Vec<pb::EvalResult>> {
    let mut client = pb::dynamic_prop_eval_client::DynamicPropEvalClient::new(channel(evaluator).await?);
    let request = pb::EvalRequest {
        items: items
            .iter()
            .map(|(offer, property)| pb::EvalItem {
                offer_id: offer.to_string(),
                property: property.to_string(),
                extra_info: None,
                value_type: pb::ValueType::Unspecified as i32,
            })
            .collect(),
    };
    Ok(client.eval(request).await?.into_inner().results)
}

fn uint_of(result: &pb::EvalResult) -> Option<u64> {
    match &result.outcome {
        Some(pb::eval_result::Outcome::Value(pb::Value { kind: Some(pb::value::Kind::Uint64Value(v)) })) => {
            Some(*v)
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_carries_the_static_properties_and_points_at_the_evaluator() -> Result<()> {
    let broker = start_broker("127.0.0.1:0".parse()?).await?;
    let media = Scratch::new("static");
    std::fs::write(media.path().join("casablanca.mkv"), b"x")?;
    std::fs::write(
        media.path().join("catalog.toml"),
        "[[title]]\nfile = 'casablanca.mkv'\nname = 'Casablanca'\nduration = 6120.0\ninfo_url = 'https://example.org/casablanca'\n",
    )?;
    let extra = format!("catalog = '{}'\n", media.path().join("catalog.toml").display());
    let mut agent = bourse_agent::start(agent_config(broker.addr, media.path(), 8554, &extra)?).await?;
    let id = next_export(&mut agent).await?;

    let offer = describe(broker.addr, &id).await?;
    assert_eq!(offer.r#type, "MediaServer");
    assert_eq!(offer.reference, "rtsp://127.0.0.1:8554/");
    assert_eq!(offer.owner, "bourse-agent@127.0.0.1");
    assert!(offer.lease_expires_unix_ms > 0, "leased");
    assert_eq!(static_value(&offer, "host"), pb::value::Kind::StringValue("127.0.0.1".into()));
    assert_eq!(static_value(&offer, "zone"), pb::value::Kind::StringValue("test-zone".into()));
    assert_eq!(strings(static_value(&offer, "video_formats")), vec!["h264", "vp9"]);
    assert_eq!(strings(static_value(&offer, "audio_formats")), vec!["aac"]);
    assert_eq!(strings(static_value(&offer, "protocols")), vec!["rtsp", "hls"]);
    assert_eq!(static_value(&offer, "max_connections"), pb::value::Kind::Uint64Value(40));
    assert_eq!(static_value(&offer, "bandwidth_capacity"), pb::value::Kind::Uint64Value(100_000_000));
    assert_eq!(strings(static_value(&offer, "titles")), vec!["Casablanca"]);
    let pb::value::Kind::RecordList(movies) = static_value(&offer, "movies") else { panic!("movies") };
    let record = &movies.records[0];
    let field = |name: &str| record.fields.iter().find(|f| f.name == name).and_then(|f| f.value.clone());
    assert_eq!(field("play_url"), Some(pb::Value::string("rtsp://127.0.0.1:8554/casablanca.mkv")));
    assert_eq!(field("duration"), Some(pb::Value::double(6120.0)));
    assert_eq!(field("info_url"), Some(pb::Value::string("https://example.org/casablanca")));

    for name in [
        "connections",
        "load",
        "cpu",
        "mem_free",
        "disk_free",
        "bandwidth_in",
        "bandwidth_out",
        "bandwidth_free",
        "ctx_switches",
    ] {
        match prop(&offer, name) {
            Some(pb::property::Content::Dynamic(dynamic)) => {
                assert_eq!(dynamic.evaluator, agent.evaluator_url, "{name}");
                assert_eq!(dynamic.max_age_ms, 200, "{name}");
            }
            other => panic!("{name} is not dynamic: {other:?}"),
        }
    }
    // The constraint language sees the static catalog.
    assert_eq!(
        query(broker.addr, "'Casablanca' in titles and max_connections >= 40").await?,
        vec![id.clone()]
    );

    agent.shutdown(Duration::from_secs(5)).await;
    assert!(describe(broker.addr, &id).await.is_err(), "withdrawn on shutdown");
    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_shows_up_in_titles_and_a_removed_one_goes() -> Result<()> {
    let broker = start_broker("127.0.0.1:0".parse()?).await?;
    let media = Scratch::new("catalog");
    std::fs::write(media.path().join("metropolis.mp4"), b"not really an mp4")?;
    let mut agent = bourse_agent::start(agent_config(broker.addr, media.path(), 8554, "")?).await?;
    let id = next_export(&mut agent).await?;
    assert_eq!(query(broker.addr, "'metropolis' in titles").await?, vec![id.clone()]);
    assert!(query(broker.addr, "'trailer' in titles").await?.is_empty());

    std::fs::write(media.path().join("trailer.webm"), b"x")?;
    std::fs::create_dir_all(media.path().join("live"))?;
    std::fs::write(
        media.path().join("live/index.m3u8"),
        "#EXTM3U\n#EXTINF:4.0,\na.ts\n#EXTINF:4.0,\nb.ts\n",
    )?;
    eventually(Duration::from_secs(5), "new titles in the broker", || async {
        Ok(query(broker.addr, "'trailer' in titles and 'live' in titles").await? == vec![id.clone()])
    })
    .await?;
    let offer = describe(broker.addr, &id).await?;
    assert_eq!(strings(static_value(&offer, "titles")), vec!["live", "metropolis", "trailer"]);

    std::fs::remove_file(media.path().join("metropolis.mp4"))?;
    eventually(Duration::from_secs(5), "removed title gone", || async {
        Ok(query(broker.addr, "'metropolis' in titles").await?.is_empty())
    })
    .await?;
    assert_eq!(*agent.offer.borrow(), Some(id.clone()), "modified in place, not exported again");

    agent.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_is_withdrawn_while_the_media_server_is_down() -> Result<()> {
    let broker = start_broker("127.0.0.1:0".parse()?).await?;
    let media = Scratch::new("health");
    let media_server = TcpListener::bind("127.0.0.1:0").await?;
    let media_addr = media_server.local_addr()?;
    let extra = "[health]\ncheck = 'tcp'\ninterval_ms = 100\ntimeout_ms = 500\nfall = 1\nrise = 1\n";
    let mut agent =
        bourse_agent::start(agent_config(broker.addr, media.path(), media_addr.port(), extra)?).await?;
    let first = next_export(&mut agent).await?;
    assert_eq!(query(broker.addr, "").await?, vec![first.clone()]);

    drop(media_server);
    eventually(Duration::from_secs(5), "offer withdrawn", || async {
        Ok(query(broker.addr, "").await?.is_empty())
    })
    .await?;
    // It stays away while the server is down (no lease renewal brings it back).
    tokio::time::sleep(Duration::from_millis(LEASE_SECONDS * 1000)).await;
    assert!(query(broker.addr, "").await?.is_empty());

    let media_server = TcpListener::bind(media_addr).await?;
    let second = next_export(&mut agent).await?;
    assert_ne!(first, second);
    assert_eq!(query(broker.addr, "").await?, vec![second]);

    drop(media_server);
    agent.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_comes_back_after_a_broker_restart() -> Result<()> {
    let broker = start_broker("127.0.0.1:0".parse()?).await?;
    let addr = broker.addr;
    let media = Scratch::new("restart");
    std::fs::write(media.path().join("casablanca.mkv"), b"x")?;
    let mut agent = bourse_agent::start(agent_config(addr, media.path(), 8554, "")?).await?;
    let first = next_export(&mut agent).await?;
    // Let a few renewals go through first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(query(addr, "").await?, vec![first.clone()]);

    broker.shutdown().await?;
    // Away for a moment, then a fresh broker (empty memory) on the same address.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let broker = start_broker(addr).await?;
    let restarted = tokio::time::Instant::now();
    eventually(Duration::from_secs(2 * LEASE_SECONDS), "offer back within two lease periods", || async {
        Ok(query(addr, "'casablanca' in titles").await?.len() == 1)
    })
    .await?;
    let back = query(addr, "").await?;
    assert_ne!(back, vec![first], "a new export, with a new id");
    eprintln!("offer back {:?} after the broker restarted", restarted.elapsed());

    agent.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evaluator_counts_connections_to_the_media_port() -> Result<()> {
    let broker = start_broker("127.0.0.1:0".parse()?).await?;
    let media = Scratch::new("eval");
    // A media server that accepts and holds connections.
    let media_server = TcpListener::bind("127.0.0.1:0").await?;
    let media_port = media_server.local_addr()?.port();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((conn, _)) = media_server.accept().await {
            conns.push(conn);
        }
    });
    let mut agent = bourse_agent::start(agent_config(broker.addr, media.path(), media_port, "")?).await?;
    let id = next_export(&mut agent).await?;
    let evaluator = agent.evaluator_addr;

    let connections = |id: String| async move {
        let results = eval(evaluator, &[(&id, "connections")]).await?;
        Ok::<_, anyhow::Error>(results.first().and_then(uint_of))
    };
    eventually(Duration::from_secs(5), "no connections yet", || async {
        Ok(connections(id.clone()).await? == Some(0))
    })
    .await?;

    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(TcpStream::connect(("127.0.0.1", media_port)).await?);
    }
    eventually(Duration::from_secs(5), "three connections", || async {
        Ok(connections(id.clone()).await? == Some(3))
    })
    .await?;
    drop(clients);
    held.abort();
    eventually(Duration::from_secs(5), "connections closed", || async {
        Ok(connections(id.clone()).await? == Some(0))
    })
    .await?;

    // A batch with every property, an unknown one and a stranger's offer.
    let mut items: Vec<(&str, &str)> =
        bourse_agent::measure::Metric::ALL.iter().map(|m| (id.as_str(), m.name())).collect();
    items.push((id.as_str(), "titles"));
    items.push(("someone-else", "load"));
    let results = eval(evaluator, &items).await?;
    assert_eq!(results.len(), items.len());
    for result in &results[..9] {
        assert!(
            matches!(result.outcome, Some(pb::eval_result::Outcome::Value(_))),
            "{}: {:?}",
            result.property,
            result.outcome
        );
    }
    for result in &results[9..] {
        assert!(matches!(result.outcome, Some(pb::eval_result::Outcome::Error(_))), "{result:?}");
    }

    // gRPC health of the callback service.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel(evaluator).await?);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest { service: "bourse.v1.DynamicPropEval".into() })
        .await?
        .into_inner()
        .status;
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    agent.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_values_replace_measured_ones() -> Result<()> {
    let broker = start_broker("127.0.0.1:0".parse()?).await?;
    let media = Scratch::new("simulate");
    let extra = "[simulate]\nload = 0.7\nconnections = 3\nbandwidth_out = 30000000\n";
    let mut agent = bourse_agent::start(agent_config(broker.addr, media.path(), 8554, extra)?).await?;
    let id = next_export(&mut agent).await?;
    let results =
        eval(agent.evaluator_addr, &[(&id, "load"), (&id, "connections"), (&id, "bandwidth_free")]).await?;
    assert_eq!(results[0].outcome, Some(pb::eval_result::Outcome::Value(pb::Value::double(0.7))));
    assert_eq!(uint_of(&results[1]), Some(3));
    assert_eq!(uint_of(&results[2]), Some(70_000_000), "capacity minus simulated out");
    agent.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_calls_the_agents_back_for_live_figures() -> Result<()> {
    let broker = start_broker("127.0.0.1:0".parse()?).await?;
    let (busy_media, idle_media) = (Scratch::new("busy"), Scratch::new("idle"));
    let mut busy = bourse_agent::start(agent_config(
        broker.addr,
        busy_media.path(),
        8554,
        "[simulate]\nload = 0.7\nconnections = 30\n",
    )?)
    .await?;
    let mut idle = bourse_agent::start(agent_config(
        broker.addr,
        idle_media.path(),
        8555,
        "[simulate]\nload = 0.2\nconnections = 3\n",
    )?)
    .await?;
    let (busy_id, idle_id) = (next_export(&mut busy).await?, next_export(&mut idle).await?);

    assert_eq!(query(broker.addr, "load < 0.5").await?, vec![idle_id.clone()]);
    assert_eq!(
        query(broker.addr, "connections > 10 and max_connections >= 40").await?,
        vec![busy_id.clone()]
    );

    let mut lookup = pb::lookup_client::LookupClient::new(channel(broker.addr).await?);
    let response = lookup
        .query(pb::QueryRequest {
            r#type: "MediaServer".into(),
            preference: "min load".into(),
            desired: Some(pb::DesiredProps {
                mode: pb::PropsMode::Named as i32,
                names: vec!["load".into(), "mem_free".into()],
            }),
            ..pb::QueryRequest::default()
        })
        .await?
        .into_inner();
    let order: Vec<&str> = response.offers.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(order, vec![idle_id.as_str(), busy_id.as_str()]);
    let first = &response.offers[0];
    let load = first.properties.iter().find(|p| p.name == "load").and_then(|p| p.value.clone());
    assert_eq!(load, Some(pb::Value::double(0.2)));
    assert!(
        first.properties.iter().any(|p| p.name == "mem_free"),
        "measured mem_free: {:?}",
        first.properties
    );

    busy.shutdown(Duration::from_secs(5)).await;
    idle.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await?;
    Ok(())
}

// ------------------------------------------------------------ the binary

mod binary {
    use std::process::Stdio;

    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::process::Command;

    use super::*;

    fn write_config(dir: &Path, broker: SocketAddr, media_dir: &Path, extra: &str) -> Result<PathBuf> {
        let path = dir.join("agent.toml");
        std::fs::write(
            &path,
            format!(
                "broker = '{broker}'\nlease_seconds = 5\ninterval_ms = 500\n\
                 [server]\nhost = '127.0.0.1'\nvideo_formats = ['h264']\naudio_formats = ['aac']\nmax_connections = 5\n\
                 [media]\nport = 8554\ndir = '{}'\nffprobe = false\n{extra}",
                media_dir.display()
            ),
        )?;
        Ok(path)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prints_its_address_and_offer_and_withdraws_on_sigterm() -> Result<()> {
        let broker = start_broker("127.0.0.1:0".parse()?).await?;
        let scratch = Scratch::new("bin");
        let media = scratch.path().join("media");
        std::fs::create_dir_all(&media)?;
        let config = write_config(scratch.path(), broker.addr, &media, "")?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_bourse-agent"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut next_line = async || -> Result<String> {
            tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .context("no output within 20 s")??
                .context("agent exited")
        };
        let listening = next_line().await?;
        let addr: SocketAddr =
            listening.strip_prefix("evaluator listening on ").context(listening.clone())?.parse()?;
        let exported = next_line().await?;
        let id = exported.strip_prefix("exported offer ").context(exported.clone())?.to_string();
        assert!(describe(broker.addr, &id).await.is_ok());
        assert!(!eval(addr, &[(&id, "mem_free")]).await?.is_empty());

        let pid = child.id().context("pid")?;
        let status = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status()?;
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(10), child.wait()).await??;
        assert!(exit.success(), "{exit}");
        assert!(describe(broker.addr, &id).await.is_err(), "withdrawn before exiting");
        broker.shutdown().await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_bad_config_exits_64_naming_the_field() -> Result<()> {
        let scratch = Scratch::new("bad");
        let cases = [
            ("[server]\nmax_connections = 0\n", "server.max_connections"),
            ("[health]\ncheck = 'ping'\n", "health.check"),
            ("[media]\nurl_template = 'rtsp://{hots}/'\n", "media.url_template"),
        ];
        for (extra, field) in cases {
            // Later keys of the same table would be duplicates; put the bad one in a fresh file.
            let text = std::fs::read_to_string(write_config(
                scratch.path(),
                "127.0.0.1:1".parse()?,
                scratch.path(),
                "",
            )?)?;
            let text = merge(&text, extra);
            let path = scratch.path().join("bad.toml");
            std::fs::write(&path, text)?;
            let output =
                Command::new(env!("CARGO_BIN_EXE_bourse-agent")).arg("--config").arg(&path).output().await?;
            assert_eq!(output.status.code(), Some(64), "{field}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(field), "{field}: {stderr}");
        }
        let output = Command::new(env!("CARGO_BIN_EXE_bourse-agent"))
            .args(["--config", "/nonexistent.toml"])
            .output()
            .await?;
        assert_eq!(output.status.code(), Some(64));
        // A flag overrides the file: a bad broker address given on the command line.
        let path = write_config(scratch.path(), "127.0.0.1:1".parse()?, scratch.path(), "")?;
        let output = Command::new(env!("CARGO_BIN_EXE_bourse-agent"))
            .arg("--config")
            .arg(&path)
            .args(["--broker", "nowhere"])
            .output()
            .await?;
        assert_eq!(output.status.code(), Some(64));
        assert!(String::from_utf8_lossy(&output.stderr).contains("broker"));
        Ok(())
    }

    /// Replaces or adds the keys of `extra`'s single table in `text`.
    fn merge(text: &str, extra: &str) -> String {
        let mut doc: toml::Table = toml::from_str(text).unwrap();
        let patch: toml::Table = toml::from_str(extra).unwrap();
        for (table, values) in patch {
            let target = doc.entry(table).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let (toml::Value::Table(target), toml::Value::Table(values)) = (target, values) {
                target.extend(values);
            }
        }
        toml::to_string(&doc).unwrap()
    }
}
