//! The real `bourse-broker` binary with `--metrics-listen`, scraped by
//! `tests/python/scrape_metrics.py`, which parses the text with the
//! official Prometheus Python client: the format is checked by a reader
//! that is not Bourse's, and the figures follow what the CLI did.
//!
//! Needs python3 with prometheus-client, hence ignored by plain `cargo
//! test`; CI installs it and runs it with `--include-ignored`.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use bourse_tests::{BrokerProcess, TempDir, stdout_ok};
use serde_json::Value as Json;
use tokio::process::Command;

async fn scrape(url: &str) -> Result<Json> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/scrape_metrics.py");
    let out = Command::new(&python).arg(&script).arg(url).output().await.context("running python3")?;
    ensure!(out.status.success(), "scrape_metrics.py failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The value of `sample` in family `family`.
fn value(scrape: &Json, family: &str, sample: &str) -> Option<f64> {
    scrape["families"][family]["samples"][sample].as_f64()
}

#[tokio::test]
#[ignore = "needs python3 with prometheus-client (pip install prometheus-client)"]
async fn prometheus_parses_the_metrics_and_they_follow_the_broker() -> Result<()> {
    let data = TempDir::new("metrics")?;
    let broker = BrokerProcess::start(data.path(), &["--metrics-listen", "127.0.0.1:0"]).await?;
    let url = broker.metrics_url.clone().context("the broker printed its metrics URL")?;
    ensure!(url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"), "{url}");

    let before = scrape(&url).await?;
    ensure!(
        before["content_type"].as_str().unwrap_or("").starts_with("text/plain; version=0.0.4"),
        "{before}"
    );
    // The parser names a counter family without its _total suffix.
    ensure!(before["families"]["bourse_queries"]["type"] == "counter", "{before}");
    ensure!(before["families"]["bourse_offers"]["type"] == "gauge", "{before}");
    ensure!(before["families"]["bourse_pick_reservations_outstanding"]["type"] == "gauge", "{before}");
    ensure!(value(&before, "bourse_dynamic_calls", "bourse_dynamic_calls_total") == Some(0.0), "{before}");
    let queries = value(&before, "bourse_queries", "bourse_queries_total").context("queries")?;

    let exported = stdout_ok(
        &broker
            .bourse(&[
                "export",
                "--type",
                "MediaServer",
                "--ref",
                "rtsp://a:8554/",
                "--prop",
                "host=a",
                "--prop",
                "video_formats=h264",
                "--prop",
                "audio_formats=aac",
                "--prop",
                "protocols=rtsp",
                "--prop",
                "max_connections=10",
                "--prop",
                "connections=0",
            ])
            .await?,
    )?;
    ensure!(!exported.trim().is_empty());
    stdout_ok(&broker.bourse(&["query", "MediaServer"]).await?)?;
    stdout_ok(&broker.bourse(&["pick", "MediaServer", "--reserve", "60"]).await?)?;

    let after = scrape(&url).await?;
    ensure!(value(&after, "bourse_offers", "bourse_offers") == Some(1.0), "{after}");
    ensure!(value(&after, "bourse_exports", "bourse_exports_total") == Some(1.0), "{after}");
    ensure!(value(&after, "bourse_pick_picks", "bourse_pick_picks_total") == Some(1.0), "{after}");
    ensure!(
        value(&after, "bourse_pick_reservations_outstanding", "bourse_pick_reservations_outstanding")
            == Some(1.0),
        "{after}"
    );
    // The query and the pick's query.
    ensure!(value(&after, "bourse_queries", "bourse_queries_total") == Some(queries + 2.0), "{after}");
    broker.stop().await
}
