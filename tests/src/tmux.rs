//! A command in a tmux pane of its own server (its own socket): the
//! pseudo-terminal in which the UI tests drive `bourse select` with keys.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A tmux server with one session, `select`, killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `command` (through the shell) in a 100x30 pane.
    pub fn start(command: &str) -> Result<Tmux> {
        let version = Command::new("tmux").arg("-V").output();
        if !version.is_ok_and(|o| o.status.success()) {
            bail!("this test needs tmux: apt-get install -y tmux");
        }
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmux = Tmux { socket: format!("bourse-e2e-{}-{n}", std::process::id()) };
        tmux.run(&["new-session", "-d", "-s", "select", "-x", "100", "-y", "30", command])?;
        // Keep the pane after the command ends, to check what it left.
        tmux.run(&["set-option", "-t", "select", "remain-on-exit", "on"])?;
        Ok(tmux)
    }

    pub fn run(&self, args: &[&str]) -> Result<String> {
        let output = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output()?;
        if !output.status.success() {
            bail!("tmux {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The pane's text as it is now.
    pub fn screen(&self) -> Result<String> {
        self.run(&["capture-pane", "-p", "-t", "select"])
    }

    /// Named keys, e.g. `Enter`, `Escape`, `Down`.
    pub fn keys(&self, keys: &[&str]) -> Result<()> {
        let mut args = vec!["send-keys", "-t", "select"];
        args.extend_from_slice(keys);
        self.run(&args).map(|_| ())
    }

    /// Literal text, typed.
    pub fn text(&self, text: &str) -> Result<()> {
        self.run(&["send-keys", "-t", "select", "-l", text]).map(|_| ())
    }

    /// Waits until the screen satisfies `check`; returns it.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> Result<String> {
        let mut screen = String::new();
        for _ in 0..150 {
            screen = self.screen()?;
            if check(&screen) {
                return Ok(screen);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{what} did not show within 15 s; the screen:\n{screen}")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

/// One word for `sh`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A path as text for a shell command line.
pub fn path_text(path: &Path) -> Result<&str> {
    path.to_str().context("a UTF-8 path")
}

/// Waits up to 10 s for `path` to hold something (a status written by the
/// command in the pane); returns its text, empty if nothing came.
pub async fn wait_for_file(path: &Path) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if !text.is_empty() {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    String::new()
}
