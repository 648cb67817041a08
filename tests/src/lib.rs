//! Harness for the end-to-end tests: starts the real `bourse-broker`
//! binary on an ephemeral loopback port, runs the real `bourse` CLI
//! against it, and hands out gRPC clients; [`AgentProcess`] starts real
//! `bourse-agent` processes from config files and [`tmux::Tmux`] drives
//! the UI in a pseudo-terminal.
//!
//! The binaries are found beside the test executable (`target/<profile>/`);
//! `cargo test --workspace` builds them.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bourse_proto as pb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

pub mod agent;
pub mod tmux;

pub use agent::AgentProcess;

/// Path of a workspace binary, e.g. `bourse-broker`.
pub fn binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test-binary> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).context("test binary has no target directory")?;
    let path = dir.join(name);
    if !path.exists() {
        bail!("{} not found; build it with `cargo build --workspace --bins`", path.display());
    }
    Ok(path)
}

/// A fresh scratch directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Result<TempDir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("bourse-e2e-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `bourse-broker` process.
pub struct BrokerProcess {
    child: Child,
    pub addr: String,
    /// The `/metrics` URL, when started with `--metrics-listen`.
    pub metrics_url: Option<String>,
    data_dir: PathBuf,
    extra_args: Vec<String>,
}

impl BrokerProcess {
    /// Starts a broker with its state in `data_dir`, on a free port.
    pub async fn start(data_dir: &Path, extra_args: &[&str]) -> Result<BrokerProcess> {
        let extra_args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        Self::spawn(data_dir.to_path_buf(), extra_args, "127.0.0.1:0").await
    }

    /// Starts a broker that announces itself over mDNS on loopback, on the
    /// private mDNS port `mdns_port` (so that no other test sees it).
    pub async fn start_announced(data_dir: &Path, mdns_port: u16) -> Result<BrokerProcess> {
        let extra_args = vec!["--mdns-port".to_string(), mdns_port.to_string()];
        Self::spawn(data_dir.to_path_buf(), extra_args, "127.0.0.1:0").await
    }

    async fn spawn(data_dir: PathBuf, extra_args: Vec<String>, listen: &str) -> Result<BrokerProcess> {
        // Brokers of the tests are not announced, unless they ask for an
        // mDNS port of their own.
        let announce = extra_args.iter().any(|a| a == "--mdns-port");
        let mut child = Command::new(binary("bourse-broker")?)
            .env("BOURSE_NO_MDNS", if announce { "false" } else { "true" })
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&extra_args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting bourse-broker")?;
        let stdout = child.stdout.take().context("broker stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("broker did not report its address within 20 s")??
            .context("broker exited before listening")?;
        let addr =
            line.strip_prefix("listening on ").with_context(|| format!("unexpected first line {line:?}"))?;
        let metrics_url = if extra_args.iter().any(|a| a == "--metrics-listen") {
            let line = lines.next_line().await?.context("broker exited before serving metrics")?;
            let url =
                line.strip_prefix("metrics on ").with_context(|| format!("unexpected line {line:?}"))?;
            Some(url.to_string())
        } else {
            None
        };
        Ok(BrokerProcess { child, addr: addr.to_string(), metrics_url, data_dir, extra_args })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Result<Channel> {
        Ok(Channel::from_shared(self.endpoint())?.connect_timeout(Duration::from_secs(5)).connect().await?)
    }

    pub async fn lookup(&self) -> Result<pb::lookup_client::LookupClient<Channel>> {
        Ok(pb::lookup_client::LookupClient::new(self.channel().await?))
    }

    pub async fn register(&self) -> Result<pb::register_client::RegisterClient<Channel>> {
        Ok(pb::register_client::RegisterClient::new(self.channel().await?))
    }

    pub async fn admin(&self) -> Result<pb::admin_client::AdminClient<Channel>> {
        Ok(pb::admin_client::AdminClient::new(self.channel().await?))
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn stop(mut self) -> Result<()> {
        let pid = self.child.id().context("broker already gone")?;
        let status = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status()?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        let exit = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .context("broker did not stop within 15 s of SIGTERM")??;
        if !exit.success() {
            bail!("broker exited with {exit}");
        }
        Ok(())
    }

    /// Stops the broker and starts it again on the same port and data dir.
    pub async fn restart(self) -> Result<BrokerProcess> {
        let (data_dir, extra_args, addr) =
            (self.data_dir.clone(), self.extra_args.clone(), self.addr.clone());
        self.stop().await?;
        Self::spawn(data_dir, extra_args, &addr).await
    }

    /// Runs the `bourse` CLI against this broker.
    pub async fn bourse(&self, args: &[&str]) -> Result<Output> {
        bourse(&self.addr, args).await
    }
}

/// Runs the `bourse` CLI with `--broker addr`.
pub async fn bourse(addr: &str, args: &[&str]) -> Result<Output> {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(binary("bourse")?).arg("--broker").arg(addr).args(args).env("RUST_LOG", "warn").output(),
    )
    .await
    .context("bourse did not finish within 30 s")??;
    Ok(output)
}

/// Stdout of a successful command; fails with its stderr otherwise.
pub fn stdout_ok(output: &Output) -> Result<String> {
    if !output.status.success() {
        bail!(
            "command failed with {}:\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout.clone())?)
}

/// Polls `check` until it returns true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("condition not met within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
