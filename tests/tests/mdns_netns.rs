//! Zero-configuration discovery between two hosts: two network namespaces
//! joined by a veth pair, made by the test and removed after it (needs
//! root and iproute2). The broker runs on host A, listening on every
//! interface and announcing `_bourse._tcp.local.`; on host B
//!
//! - an agent with no broker address finds the broker by mDNS and exports
//!   its offer, and the broker calls it back across the link for `load`;
//! - `bourse` with no address finds the broker too and queries the offer;
//! - python-zeroconf, an mDNS stack that is not Bourse's, sees the
//!   announcement with the gRPC port and the TXT keys, and sees it
//!   withdrawn (goodbye) as soon as the broker stops;
//! - after that, `bourse` says that no broker answered;
//! - a broker started at another address is found again by the agent,
//!   which exports its offer there.
//!
//! Nothing leaves the machine: the namespaces have only their loopback and
//! the veth pair between them.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use bourse_tests::{TempDir, binary};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const ADDR_A: &str = "10.213.0.1";
const ADDR_B: &str = "10.213.0.2";
const BROKER_PORT: u16 = 7300;
const EVALUATOR_PORT: u16 = 7401;

/// Two namespaces and the veth pair between them; removed on drop.
struct TwoHosts {
    a: String,
    b: String,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = std::process::Command::new("ip").args(args).output().context("running ip (iproute2)")?;
    ensure!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

impl TwoHosts {
    fn create() -> Result<TwoHosts> {
        let pid = std::process::id();
        let hosts = TwoHosts { a: format!("bourse-a-{pid}"), b: format!("bourse-b-{pid}") };
        // Interface names are at most 15 bytes.
        let (veth_a, veth_b) = (format!("bva{}", pid % 1_000_000), format!("bvb{}", pid % 1_000_000));
        ip(&["netns", "add", &hosts.a])?;
        ip(&["netns", "add", &hosts.b])?;
        ip(&["link", "add", &veth_a, "type", "veth", "peer", "name", &veth_b])?;
        for (ns, veth, addr) in [(&hosts.a, &veth_a, ADDR_A), (&hosts.b, &veth_b, ADDR_B)] {
            ip(&["link", "set", veth, "netns", ns])?;
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", veth])?;
            ip(&["-n", ns, "link", "set", veth, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(hosts)
    }

    /// `program` run on host `ns`, with a clean Bourse environment.
    fn command(&self, ns: &str, program: &str) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns, program])
            .env("RUST_LOG", "warn")
            .env_remove("BOURSE_BROKER")
            .env_remove("BOURSE_NO_MDNS")
            .env_remove("BOURSE_MDNS_PORT")
            .kill_on_drop(true);
        command
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth, and with it the pair.
        for ns in [&self.a, &self.b] {
            let _ = std::process::Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Reads lines until one starts with `prefix`; returns the rest.
async fn line_starting(
    lines: &mut Lines<BufReader<ChildStdout>>,
    prefix: &str,
    what: &str,
) -> Result<String> {
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(prefix) {
                return Ok(rest.to_string());
            }
        }
        bail!("{what} exited before printing '{prefix}'")
    })
    .await
    .with_context(|| format!("{what} did not print '{prefix}' within 20 s"))?
}

/// The next JSON event of the zeroconf browser with `"event": kind`.
async fn zeroconf_event(
    lines: &mut Lines<BufReader<ChildStdout>>,
    kind: &str,
    within: Duration,
) -> Result<Value> {
    tokio::time::timeout(within, async {
        while let Some(line) = lines.next_line().await? {
            let event: Value =
                serde_json::from_str(&line).with_context(|| format!("zeroconf printed {line:?}"))?;
            if event["event"] == kind {
                return Ok(event);
            }
        }
        bail!("the zeroconf browser exited before '{kind}'")
    })
    .await
    .with_context(|| format!("python-zeroconf saw no '{kind}' event within {within:?}"))?
}

fn write_agent_config(dir: &Path) -> Result<std::path::PathBuf> {
    let media = dir.join("media");
    std::fs::create_dir_all(&media)?;
    std::fs::write(media.join("Casablanca.mp4"), b"")?;
    let catalog = dir.join("catalog.toml");
    std::fs::write(
        &catalog,
        "[[title]]\nname = \"Casablanca\"\nduration = 6120.0\nwidth = 1280\nheight = 720\n\
         video_codec = \"h264\"\naudio_codec = \"aac\"\n",
    )?;
    let config = dir.join("agent.toml");
    // No `broker`: the agent looks for one by mDNS.
    std::fs::write(
        &config,
        format!(
            r#"lease_seconds = 5
interval_ms = 500

[server]
host = "studio-b"
video_formats = ["h264"]
audio_formats = ["aac"]
protocols = ["rtsp"]
max_connections = 20

[media]
host = "{ADDR_B}"
port = 8554
dir = "{media}"
catalog = "{catalog}"
ffprobe = false

[evaluator]
listen = "0.0.0.0:{EVALUATOR_PORT}"
advertise = "{ADDR_B}:{EVALUATOR_PORT}"

[simulate]
load = 0.25
"#,
            media = media.display(),
            catalog = catalog.display(),
        ),
    )?;
    Ok(config)
}

async fn stop(child: &mut Child) -> Result<()> {
    let pid = child.id().context("already gone")?;
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
    ensure!(status.success(), "kill -TERM {pid}");
    let exit =
        tokio::time::timeout(Duration::from_secs(15), child.wait()).await.context("no exit in 15 s")??;
    ensure!(exit.success(), "exit status {exit}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs root, iproute2 (ip netns) and python3 with zeroconf (pip install zeroconf)"]
async fn agent_and_bourse_find_the_broker_on_another_host() -> Result<()> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let probe = Command::new(&python).args(["-c", "import zeroconf"]).output().await;
    ensure!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "{python} cannot import zeroconf: pip install zeroconf"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/mdns_browse.py");
    let dir = TempDir::new("mdns-netns")?;
    let hosts = TwoHosts::create()?;
    let (broker_bin, agent_bin, bourse_bin) =
        (binary("bourse-broker")?, binary("bourse-agent")?, binary("bourse")?);
    let path = |p: &std::path::PathBuf| p.display().to_string();

    // Host A: the broker on every interface, announced (the default).
    let mut broker = hosts
        .command(&hosts.a, &path(&broker_bin))
        .args(["--listen", &format!("0.0.0.0:{BROKER_PORT}"), "--in-memory"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the broker in namespace A")?;
    let mut broker_out = BufReader::new(broker.stdout.take().context("broker stdout")?).lines();
    line_starting(&mut broker_out, "listening on ", "the broker").await?;

    // Host B: an independent mDNS stack watches for brokers.
    let mut zeroconf = hosts
        .command(&hosts.b, &python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the zeroconf browser in namespace B")?;
    let mut zc_out = BufReader::new(zeroconf.stdout.take().context("zeroconf stdout")?).lines();

    // Host B: an agent with no broker address.
    let config = write_agent_config(dir.path())?;
    let mut agent = hosts
        .command(&hosts.b, &path(&agent_bin))
        .arg("--config")
        .arg(&config)
        // It will retry the broker stopped below; those warnings are expected.
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the agent in namespace B")?;
    let mut agent_out = BufReader::new(agent.stdout.take().context("agent stdout")?).lines();
    let found = line_starting(&mut agent_out, "found broker ", "the agent").await?;
    let (broker_id, endpoint) = found.split_once(" at ").context("found broker ID at ENDPOINT")?;
    assert_eq!(endpoint, format!("http://{ADDR_A}:{BROKER_PORT}"), "the agent's broker");
    let offer = line_starting(&mut agent_out, "exported offer ", "the agent").await?;

    // python-zeroconf sees the announcement: the gRPC port and the TXT keys.
    let added = zeroconf_event(&mut zc_out, "added", Duration::from_secs(15)).await?;
    assert_eq!(added["port"], BROKER_PORT, "{added}");
    assert_eq!(added["txt"]["txtvers"], "1", "{added}");
    assert_eq!(added["txt"]["tls"], "0", "{added}");
    assert_eq!(added["txt"]["id"], broker_id, "{added}");
    assert_eq!(added["addresses"], serde_json::json!([ADDR_A]), "only the link's address: {added}");
    let name = added["name"].as_str().context("name")?.to_string();
    assert!(name.ends_with("._bourse._tcp.local."), "{name}");

    // `bourse` on host B, with no address: finds the broker, and the
    // broker's callback to the agent crosses the link for `load`.
    let out = hosts
        .command(&hosts.b, &path(&bourse_bin))
        .args(["--json", "query", "MediaServer", "'Casablanca' in titles", "--props", "host,load"])
        .output()
        .await?;
    ensure!(out.status.success(), "bourse query: {}", String::from_utf8_lossy(&out.stderr));
    let reply: Value = serde_json::from_slice(&out.stdout)?;
    let offers = reply["offers"].as_array().with_context(|| format!("offers in {reply}"))?;
    assert_eq!(offers.len(), 1, "{reply}");
    let text = offers[0].to_string();
    assert!(text.contains(&offer) && text.contains("studio-b") && text.contains("0.25"), "{reply}");

    // With several brokers on a network, --broker-id holds `bourse` to one.
    let out = hosts
        .command(&hosts.b, &path(&bourse_bin))
        .args(["--broker-id", broker_id, "--json", "types", "list"])
        .output()
        .await?;
    ensure!(out.status.success(), "bourse --broker-id {broker_id}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("MediaServer"));
    let out = hosts
        .command(&hosts.b, &path(&bourse_bin))
        .args(["--broker-id", "nope", "types", "list"])
        .output()
        .await?;
    assert_eq!(out.status.code(), Some(3), "exit status for no broker with that id");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(none with id 'nope')"), "{err}");

    // The broker stops: its goodbye reaches the other stack at once (the
    // record's TTL is two minutes, so this is not expiry).
    stop(&mut broker).await?;
    let removed = zeroconf_event(&mut zc_out, "removed", Duration::from_secs(5)).await?;
    assert_eq!(removed["name"], name.as_str());

    // Nobody answers now, and `bourse` says so.
    let out = hosts.command(&hosts.b, &path(&bourse_bin)).args(["types", "list"]).output().await?;
    assert_eq!(out.status.code(), Some(3), "exit status for no broker");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no Bourse broker answered on mDNS (_bourse._tcp.local.)") && err.contains("--broker"),
        "{err}"
    );

    // A broker comes back at another address: the agent, unable to reach
    // the old one for a lease, looks again and exports there.
    let mut broker2 = hosts
        .command(&hosts.a, &path(&broker_bin))
        .args(["--listen", &format!("0.0.0.0:{}", BROKER_PORT + 10), "--in-memory"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the second broker in namespace A")?;
    let mut broker2_out = BufReader::new(broker2.stdout.take().context("broker stdout")?).lines();
    line_starting(&mut broker2_out, "listening on ", "the second broker").await?;
    let found = line_starting(&mut agent_out, "found broker ", "the agent").await?;
    let (broker2_id, endpoint) = found.split_once(" at ").context("found broker ID at ENDPOINT")?;
    assert_eq!(endpoint, format!("http://{ADDR_A}:{}", BROKER_PORT + 10), "the agent's new broker");
    assert_ne!(broker2_id, broker_id, "a broker in memory has a new id each run");
    let offer2 = line_starting(&mut agent_out, "exported offer ", "the agent").await?;
    let out = hosts
        .command(&hosts.b, &path(&bourse_bin))
        .args(["--broker-id", broker2_id, "--json", "query", "MediaServer", "", "--props", "host"])
        .output()
        .await?;
    ensure!(out.status.success(), "query the second broker: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&offer2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    tokio::spawn(async move { while let Ok(Some(_)) = agent_out.next_line().await {} });

    // The agent withdraws cleanly.
    stop(&mut agent).await?;
    stop(&mut broker2).await?;
    if let Some(mut stdin) = zeroconf.stdin.take() {
        stdin.shutdown().await?;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), zeroconf.wait()).await;
    Ok(())
}
