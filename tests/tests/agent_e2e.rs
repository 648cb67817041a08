//! Real agents against a real broker, all as processes on loopback: live
//! values in constraints and preferences, one callback per agent per query
//! and none while cached, a stopped agent (SIGSTOP) that cannot hold a
//! query past its deadline, and a killed agent (SIGKILL) whose offer goes
//! when its lease lapses.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bourse_proto as pb;
use bourse_tests::{BrokerProcess, TempDir, binary, eventually};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

struct Agent {
    child: Child,
    host: String,
    /// The "media server": a listener the agent health-checks and whose
    /// established connections it counts.
    media: TcpListener,
}

impl Agent {
    async fn start(dir: &Path, broker: &str, host: &str, max_connections: u64, load: f64) -> Result<Agent> {
        let media = TcpListener::bind("127.0.0.1:0").await?;
        let port = media.local_addr()?.port();
        let media_dir = dir.join(format!("media-{host}"));
        std::fs::create_dir_all(&media_dir)?;
        std::fs::write(media_dir.join("Casablanca.mp4"), b"")?;
        let config = dir.join(format!("{host}.toml"));
        std::fs::write(
            &config,
            format!(
                r#"broker = "{broker}"
lease_seconds = 2
interval_ms = 200
max_age_ms = 5000

[server]
host = "{host}"
video_formats = ["h264"]
audio_formats = ["aac"]
protocols = ["rtsp"]
max_connections = {max_connections}

[media]
protocol = "rtsp"
host = "127.0.0.1"
port = {port}
dir = "{media_dir}"
ffprobe = false

[simulate]
load = {load}
"#,
                media_dir = media_dir.display()
            ),
        )?;
        let mut child = Command::new(binary("bourse-agent")?)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting bourse-agent")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with("exported offer ") {
                    return Ok::<_, anyhow::Error>(());
                }
            }
            anyhow::bail!("agent {host} exited before exporting")
        })
        .await
        .with_context(|| format!("agent {host} did not export within 20 s"))??;
        // Keep reading stdout so the agent never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Agent { child, host: host.to_string(), media })
    }

    fn signal(&self, signal: &str) -> Result<()> {
        let pid = self.child.id().context("agent gone")?;
        let status =
            std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status()?;
        anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }
}

async fn query(
    broker: &BrokerProcess,
    constraint: &str,
    preference: &str,
    policies: Vec<pb::Policy>,
) -> Result<Vec<String>> {
    let reply = broker
        .lookup()
        .await?
        .query(pb::QueryRequest {
            r#type: "MediaServer".into(),
            constraint: constraint.into(),
            preference: preference.into(),
            policies,
            desired: Some(pb::DesiredProps { mode: pb::PropsMode::Named as i32, names: vec!["host".into()] }),
            how_many: 0,
        })
        .await?
        .into_inner();
    Ok(reply
        .offers
        .iter()
        .filter_map(|o| match o.properties.first()?.value.as_ref()?.kind.as_ref()? {
            pb::value::Kind::StringValue(host) => Some(host.clone()),
            _ => None,
        })
        .collect())
}

async fn counter(broker: &BrokerProcess, name: &str) -> Result<u64> {
    let stats = broker.admin().await?.stats(pb::StatsRequest {}).await?.into_inner();
    Ok(stats.counters.get(name).copied().unwrap_or(0))
}

#[tokio::test]
async fn real_agents_answer_for_live_figures() -> Result<()> {
    let dir = TempDir::new("agents")?;
    let broker = BrokerProcess::start(dir.path(), &[]).await?;
    let busy = Agent::start(dir.path(), &broker.addr, "busy", 1, 0.1).await?;
    let light = Agent::start(dir.path(), &broker.addr, "light", 10, 0.2).await?;
    let heavy = Agent::start(dir.path(), &broker.addr, "heavy", 10, 0.7).await?;
    assert_eq!(
        query(&broker, "", "min load", vec![]).await?,
        ["busy", "light", "heavy"],
        "simulated loads order the offers"
    );

    // A real stream to "busy" fills it: connections is measured live.
    let port = busy.media.local_addr()?.port();
    let _stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (_accepted, _) = busy.media.accept().await?;
    let fresh = || vec![pb::Policy::new("max_staleness_ms", pb::Value::uint64(0))];
    eventually(Duration::from_secs(10), || async {
        Ok(query(&broker, "connections < max_connections", "min load", fresh()).await? == ["light", "heavy"])
    })
    .await
    .context("the busy server drops out once its connection is counted")?;

    // One call per agent per query, none while the values are fresh.
    let before = counter(&broker, "dynamic.calls").await?;
    query(&broker, "connections < max_connections", "min load", fresh()).await?;
    assert_eq!(
        counter(&broker, "dynamic.calls").await? - before,
        3,
        "one batched call to each of the three agents"
    );
    let cached = counter(&broker, "dynamic.calls").await?;
    query(&broker, "connections < max_connections", "min load", vec![]).await?;
    assert_eq!(counter(&broker, "dynamic.calls").await?, cached, "no call while cached");

    // A stopped agent cannot hold a query past its deadline.
    light.signal("STOP")?;
    let policies = vec![
        pb::Policy::new("max_staleness_ms", pb::Value::uint64(0)),
        pb::Policy::new("dynamic_deadline_ms", pb::Value::uint64(300)),
    ];
    let started = Instant::now();
    let hosts = query(&broker, "load < 1.0", "min load", policies).await?;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(300 + 700), "query took {elapsed:?} with a 300 ms deadline");
    assert!(!hosts.contains(&light.host), "the stopped agent's offer cannot be shown to match: {hosts:?}");
    assert!(hosts.contains(&heavy.host));
    light.signal("CONT")?;

    // A killed agent cannot withdraw: its offer goes when the lease lapses.
    heavy.signal("KILL")?;
    eventually(Duration::from_secs(8), || async {
        Ok(!query(&broker, "", "", vec![]).await?.contains(&heavy.host))
    })
    .await
    .context("the killed agent's offer lapses with its 2 s lease")?;
    broker.stop().await
}
