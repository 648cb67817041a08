//! The trader end to end: the real `bourse-broker` binary on an ephemeral
//! port, driven through the real `bourse` CLI and through gRPC.
//!
//! One scenario, in the order an operator meets it: add a subtype, export,
//! query with constraints, preferences, policies and pages, get a constraint
//! error, watch a lease lapse, restart and find the permanent offers again.

use std::time::Duration;

use anyhow::{Context, Result};
use bourse_proto as pb;
use bourse_tests::{BrokerProcess, TempDir, eventually, stdout_ok};
use serde_json::Value as Json;

const HLS_TYPE: &str = r#"
[[type]]
name = "HlsServer"
super_types = ["MediaServer"]
doc = "A media server that streams HLS"

[[type.property]]
name = "segment_seconds"
type = "double"
mode = "mandatory"
doc = "Length of a segment in seconds"
"#;

async fn json(broker: &BrokerProcess, args: &[&str]) -> Result<Json> {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = stdout_ok(&broker.bourse(&full).await?)?;
    serde_json::from_str(&out).with_context(|| format!("bourse {args:?} printed no JSON: {out}"))
}

async fn export(
    broker: &BrokerProcess,
    type_name: &str,
    host: &str,
    max: u64,
    titles: &str,
    extra: &[&str],
) -> Result<String> {
    let reference = format!("rtsp://{host}:8554/");
    let host_prop = format!("host={host}");
    let max_prop = format!("max_connections={max}");
    let titles_prop = format!("titles={titles}");
    let mut args = vec![
        "export",
        "--type",
        type_name,
        "--ref",
        &reference,
        "--prop",
        &host_prop,
        "--prop",
        "video_formats=h264,vp9",
        "--prop",
        "audio_formats=aac",
        "--prop",
        "protocols=rtsp",
        "--prop",
        &max_prop,
        "--prop",
        &titles_prop,
    ];
    args.extend_from_slice(extra);
    let reply = json(broker, &args).await?;
    Ok(reply["id"].as_str().context("export printed no id")?.to_string())
}

/// Hosts of the offers in a `query --json` reply, in order.
fn hosts(reply: &Json) -> Vec<String> {
    reply["offers"]
        .as_array()
        .map(|offers| {
            offers.iter().filter_map(|o| o["properties"]["host"].as_str().map(String::from)).collect()
        })
        .unwrap_or_default()
}

async fn query_hosts(broker: &BrokerProcess, args: &[&str]) -> Result<Vec<String>> {
    let mut full = vec!["query", "MediaServer"];
    full.extend_from_slice(args);
    Ok(hosts(&json(broker, &full).await?))
}

#[tokio::test]
async fn trader_end_to_end() -> Result<()> {
    let data = TempDir::new("trader")?;
    let broker = BrokerProcess::start(data.path(), &[]).await?;

    // A subtype of the built-in MediaServer, from a type file.
    let type_file = data.path().join("hls.toml");
    std::fs::write(&type_file, HLS_TYPE)?;
    stdout_ok(&broker.bourse(&["types", "add", type_file.to_str().context("path")?]).await?)?;
    let hls = json(&broker, &["types", "show", "HlsServer", "--full"]).await?;
    assert!(hls.to_string().contains("MediaServer"), "HlsServer inherits from MediaServer: {hls}");
    assert!(hls.to_string().contains("segment_seconds"), "{hls}");

    // Offers: three permanent media servers, one HLS server, one leased.
    export(&broker, "MediaServer", "alpha", 10, "Casablanca,Metropolis", &[]).await?;
    export(&broker, "MediaServer", "beta", 50, "Casablanca", &[]).await?;
    export(&broker, "MediaServer", "gamma", 30, "Nosferatu", &[]).await?;
    export(&broker, "HlsServer", "delta", 40, "Casablanca", &["--prop", "segment_seconds=4"]).await?;
    let leased = export(&broker, "MediaServer", "leased", 5, "Casablanca", &["--lease", "5"]).await?;

    // A missing mandatory property is refused, naming it.
    let refused = broker.bourse(&["export", "--type", "HlsServer", "--ref", "x", "--prop", "host=h"]).await?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("mandatory property"), "{refused:?}");

    // Constraints, subtypes, preferences.
    assert_eq!(
        query_hosts(&broker, &["'Casablanca' in titles"]).await?,
        ["alpha", "beta", "delta", "leased"]
    );
    assert_eq!(
        query_hosts(
            &broker,
            &["'Casablanca' in titles and max_connections >= 10", "--pref", "max max_connections"]
        )
        .await?,
        ["beta", "delta", "alpha"]
    );
    assert_eq!(
        query_hosts(
            &broker,
            &["'Casablanca' in titles", "--policy", "exact_type_match=true", "--pref", "min max_connections"]
        )
        .await?,
        ["leased", "alpha", "beta"]
    );
    assert_eq!(query_hosts(&broker, &["'eta' ~ host", "--pref", "with host == 'zeta'"]).await?, ["beta"]);
    let hls_only = json(&broker, &["query", "HlsServer", "segment_seconds < 5"]).await?;
    assert_eq!(hosts(&hls_only), ["delta"]);

    // Cardinalities and pages.
    let first =
        json(&broker, &["query", "MediaServer", "", "--how-many", "2", "--policy", "return_card=4"]).await?;
    assert_eq!(hosts(&first), ["alpha", "beta"]);
    assert_eq!(first["remaining"], 2);
    let limits = first["limits_applied"].to_string();
    assert!(limits.contains("return_card"), "return_card reported as applied: {limits}");
    let token = first["next_page_token"].as_str().context("a page token")?;
    let second = json(&broker, &["next-page", token]).await?;
    assert_eq!(hosts(&second), ["gamma", "delta"]);

    // A bad constraint: the broker's message and a caret under the culprit.
    let bad = broker.bourse(&["query", "MediaServer", "'Casablanca' in titels"]).await?;
    assert!(!bad.status.success(), "a constraint error exits non-zero");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("unknown property 'titels'"), "{stderr}");
    assert!(stderr.contains("                  ^^^^^^"), "caret under 'titels': {stderr}");

    // The same error over gRPC carries its position as ErrorInfo.
    let mut lookup = broker.lookup().await?;
    let status = lookup
        .query(pb::QueryRequest {
            r#type: "MediaServer".into(),
            constraint: "max_connections > 'ten'".into(),
            ..Default::default()
        })
        .await
        .expect_err("type clash");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    use tonic_types::StatusExt;
    let info = status.get_details_error_info().context("ErrorInfo detail")?;
    assert_eq!(info.reason, "CONSTRAINT_TYPE");
    assert_eq!(info.metadata.get("field").map(String::as_str), Some("constraint"));
    assert!(info.metadata.contains_key("position"));

    // Health and reflection are served.
    let mut health = tonic_health::pb::health_client::HealthClient::new(broker.channel().await?);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest { service: "bourse.v1.Lookup".into() })
        .await?
        .into_inner();
    assert_eq!(serving.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    // The leased offer lapses: gone from queries and from Describe.
    eventually(Duration::from_secs(12), || async {
        Ok(!query_hosts(&broker, &[]).await?.contains(&"leased".to_string()))
    })
    .await?;
    assert!(!broker.bourse(&["describe", &leased]).await?.status.success());
    let mut register = broker.register().await?;
    let renew = register.keep_alive(pb::KeepAliveRequest { id: leased.clone(), lease_seconds: 0 }).await;
    assert_eq!(renew.expect_err("lapsed").code(), tonic::Code::NotFound);

    // Restart: permanent offers and the added type come back.
    let broker = broker.restart().await?;
    assert_eq!(query_hosts(&broker, &[]).await?, ["alpha", "beta", "gamma", "delta"]);
    assert_eq!(hosts(&json(&broker, &["query", "HlsServer"]).await?), ["delta"]);

    // Withdraw by constraint, then the rest by id.
    let withdrawn = json(&broker, &["withdraw-matching", "MediaServer", "max_connections < 40"]).await?;
    assert!(withdrawn.to_string().contains('"'), "withdrawn ids listed: {withdrawn}");
    assert_eq!(query_hosts(&broker, &[]).await?, ["beta", "delta"]);
    broker.stop().await
}

/// Two media servers on one host: `bourse pick --offer` picks the one named
/// (the way the selector picks the server the user chose), not the one with
/// the most room.
#[tokio::test]
async fn pick_takes_the_offer_named() -> Result<()> {
    let data = TempDir::new("pick-offer")?;
    let broker = BrokerProcess::start(data.path(), &[]).await?;
    let small = export(&broker, "MediaServer", "twin", 5, "Casablanca", &["--prop", "connections=2"]).await?;
    let large =
        export(&broker, "MediaServer", "twin", 100, "Casablanca", &["--prop", "connections=0"]).await?;

    async fn pick(broker: &BrokerProcess, offer: Option<&str>) -> Result<Json> {
        let mut args = vec!["pick", "MediaServer", "--title", "Casablanca", "--reserve", "5"];
        args.extend(offer.map(|o| ["--offer", o]).into_iter().flatten());
        json(broker, &args).await
    }
    let any = pick(&broker, None).await?;
    assert_eq!(any["candidates"], 2, "{any}");
    let reservation = any["reservation"]["id"].as_str().context("a reservation id")?;
    stdout_ok(&broker.bourse(&["release", reservation]).await?)?;
    for _ in 0..3 {
        let named = pick(&broker, Some(&small)).await?;
        assert_eq!(named["offer"]["id"].as_str(), Some(small.as_str()), "{named}");
        assert_eq!(named["candidates"], 1, "{named}");
    }
    // Two streams on it and three reservations: the small server is full,
    // and naming it does not fall back to the other.
    let full = broker.bourse(&["pick", "MediaServer", "--offer", &small]).await?;
    assert!(!full.status.success(), "a full named offer is refused");
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(stderr.contains("room"), "{stderr}");
    let other = pick(&broker, Some(&large)).await?;
    assert_eq!(other["offer"]["id"].as_str(), Some(large.as_str()), "{other}");
    broker.stop().await
}
