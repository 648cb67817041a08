//! Idle cost of the agent, for BENCHMARKS.md: starts a real broker (in
//! this process), runs the real `bourse-agent` binary beside it with the
//! default measurement interval and lease, a TCP health check and a small
//! catalog, lets it settle, then measures over a window:
//! - RSS: `VmRSS` (and the peak, `VmHWM`) from `/proc/PID/status`;
//! - CPU: `utime + stime` from `/proc/PID/stat` over the window, divided by
//!   the elapsed wall time, as a percentage of one core.
//!
//! ```text
//! cargo bench -p bourse-agent --bench idle_cost                        # 60 s window
//! BOURSE_BENCH_QUICK=1 cargo bench -p bourse-agent --bench idle_cost   # 5 s, for CI
//! ```
//!
//! Cargo builds the agent binary for the bench (the bench profile, i.e.
//! release); `BOURSE_AGENT_BIN` may name another one. The full run exits 1
//! when a target is missed (RSS ≤ 20 MB, CPU ≤ 0.5% of one core); the quick
//! run only reports, since a 5-second window counts CPU in 10 ms ticks.

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const RSS_TARGET_KB: u64 = 20 * 1024;
const CPU_TARGET_PERCENT: f64 = 0.5;

fn agent_binary() -> PathBuf {
    match std::env::var_os("BOURSE_AGENT_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_bourse-agent")),
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; fields resume after its ')'.
    let rest = stat.rsplit_once(')').context("odd /proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// A `kB` line of /proc/PID/status.
fn status_kb(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(key)).with_context(|| format!("no {key}"))?;
    Ok(line.split_whitespace().nth(1).context("no value")?.parse()?)
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match measure().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("idle_cost: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn measure() -> Result<bool> {
    let quick = std::env::var("BOURSE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (settle, window) = if quick {
        (Duration::from_secs(2), Duration::from_secs(5))
    } else {
        (Duration::from_secs(5), Duration::from_secs(60))
    };

    let broker = bourse_broker::start(&bourse_broker::Config::in_memory("127.0.0.1:0".parse()?)).await?;
    let media_server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let media_port = media_server.local_addr()?.port();

    let scratch = std::env::temp_dir().join(format!("bourse-idle-cost-{}", std::process::id()));
    let media = scratch.join("media");
    std::fs::create_dir_all(&media)?;
    for name in ["casablanca.mkv", "metropolis.mp4", "nosferatu.webm", "trailer.ts"] {
        std::fs::write(media.join(name), b"placeholder")?;
    }
    let config = scratch.join("agent.toml");
    // Defaults for everything that matters to idle cost: interval 2 s, lease 10 s.
    std::fs::write(
        &config,
        format!(
            "broker = '{}'\n[server]\nhost = '127.0.0.1'\nvideo_formats = ['h264']\naudio_formats = ['aac']\n\
             max_connections = 100\nbandwidth_capacity = 1000000000\n\
             [media]\nport = {media_port}\ndir = '{}'\n[health]\ncheck = 'tcp'\n",
            broker.addr,
            media.display()
        ),
    )?;

    let mut child = Command::new(agent_binary())
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("agent pid")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("agent did not export within 20 s")??
            .context("agent exited")?;
        if line.starts_with("exported offer ") {
            break;
        }
    }
    // Keep reading stdout so the agent never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    tokio::time::sleep(settle).await;
    let ticks_before = cpu_ticks(pid)?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let ticks_after = cpu_ticks(pid)?;
    let elapsed = started.elapsed();
    let rss_kb = status_kb(pid, "VmRSS:")?;
    let peak_kb = status_kb(pid, "VmHWM:")?;
    let threads = status_kb(pid, "Threads:").unwrap_or(0);

    let hz = clock_ticks_per_second();
    let cpu_seconds = (ticks_after - ticks_before) as f64 / hz as f64;
    let cpu_percent = 100.0 * cpu_seconds / elapsed.as_secs_f64();

    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    drop(media_server);
    broker.shutdown().await?;
    let _ = std::fs::remove_dir_all(&scratch);

    let rss_ok = rss_kb <= RSS_TARGET_KB;
    let cpu_ok = cpu_percent <= CPU_TARGET_PERCENT;
    println!(
        "agent idle cost ({} window, interval 2 s, lease 10 s, TCP health check every 2 s)",
        fmt_secs(elapsed)
    );
    println!(
        "  RSS       {:>8.1} MB  (peak {:.1} MB, {threads} threads)  target <= 20 MB   {}",
        rss_kb as f64 / 1024.0,
        peak_kb as f64 / 1024.0,
        verdict(rss_ok)
    );
    println!(
        "  CPU       {cpu_percent:>8.3} %   ({cpu_seconds:.2} s CPU over {})  target <= 0.5 % of one core   {}",
        fmt_secs(elapsed),
        verdict(cpu_ok)
    );
    match exit {
        Ok(Ok(status)) if status.success() => println!("  shutdown  clean (SIGTERM, offer withdrawn)"),
        Ok(Ok(status)) => println!("  shutdown  exited with {status}"),
        _ => println!("  shutdown  did not exit within 10 s"),
    }
    if quick && !(rss_ok && cpu_ok) {
        println!("  (quick mode: figures reported, targets not enforced)");
        return Ok(true);
    }
    Ok(rss_ok && cpu_ok)
}

fn fmt_secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "OVER TARGET" }
}
