//! A `bourse-agent` process started from a config file, ready once it has
//! exported its offer.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::binary;

/// A running `bourse-agent`, killed on drop.
pub struct AgentProcess {
    child: Child,
    /// The id of the offer it exported first.
    pub offer_id: String,
    /// `host:port` of its DynamicPropEval service.
    pub evaluator: String,
}

impl AgentProcess {
    /// Starts `bourse-agent --config config` and waits until it reports
    /// its exported offer. `envs` are added to the agent's environment.
    pub async fn start(config: &Path, envs: &[(&str, &str)]) -> Result<AgentProcess> {
        let mut child = Command::new(binary("bourse-agent")?)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting bourse-agent")?;
        let mut lines = BufReader::new(child.stdout.take().context("agent stdout")?).lines();
        let (evaluator, offer_id) = tokio::time::timeout(Duration::from_secs(30), async {
            let mut evaluator = String::new();
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("evaluator listening on ") {
                    evaluator = addr.to_string();
                } else if let Some(id) = line.strip_prefix("exported offer ") {
                    return Ok::<_, anyhow::Error>((evaluator, id.to_string()));
                }
            }
            bail!("the agent exited before exporting")
        })
        .await
        .with_context(|| format!("agent {} did not export within 30 s", config.display()))??;
        // Keep reading stdout so the agent never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(AgentProcess { child, offer_id, evaluator })
    }

    /// Sends SIGTERM (the agent withdraws its offer) and waits for a clean exit.
    pub async fn stop(mut self) -> Result<()> {
        let pid = self.child.id().context("agent already gone")?;
        let status = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status()?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        let exit = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .context("agent did not stop within 15 s of SIGTERM")??;
        anyhow::ensure!(exit.success(), "agent exited with {exit}");
        Ok(())
    }
}
