//! `bourse select` as a person meets it: the real `bourse` binary in a
//! pseudo-terminal (a tmux pane), driven through the three phases with
//! keys, against the real `bourse-broker` binary. The servers' live
//! figures come from real `DynamicPropEval` servers in this process.
//!
//! Checks that `--print` writes only the picked server's play URL on
//! stdout (the UI draws on the terminal), that the broker holds the
//! reservation, and that the terminal is restored.
//!
//! Needs tmux (`apt-get install -y tmux`), hence ignored by plain
//! `cargo test`; CI runs it with `--include-ignored`.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use bourse_proto as pb;
use bourse_tests::tmux::{Tmux, path_text, shell_quote, wait_for_file};
use bourse_tests::{BrokerProcess, TempDir, binary};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// A DynamicPropEval server with fixed figures.
#[derive(Clone)]
struct Figures(Arc<HashMap<&'static str, pb::Value>>);

#[tonic::async_trait]
impl pb::dynamic_prop_eval_server::DynamicPropEval for Figures {
    async fn eval(&self, request: Request<pb::EvalRequest>) -> Result<Response<pb::EvalResponse>, Status> {
        let results = request
            .into_inner()
            .items
            .into_iter()
            .map(|item| pb::EvalResult {
                outcome: Some(match self.0.get(item.property.as_str()) {
                    Some(value) => pb::eval_result::Outcome::Value(value.clone()),
                    None => pb::eval_result::Outcome::Error(format!("no {}", item.property)),
                }),
                offer_id: item.offer_id,
                property: item.property,
                age_ms: None,
            })
            .collect();
        Ok(Response::new(pb::EvalResponse { results }))
    }
}

/// Serves `figures` on a loopback port; returns the evaluator URL.
async fn serve_figures(connections: u64, load: f64) -> Result<String> {
    let figures: HashMap<&'static str, pb::Value> = [
        ("connections", pb::Value::uint64(connections)),
        ("load", pb::Value::double(load)),
        ("cpu", pb::Value::double(load / 2.0)),
        ("bandwidth_out", pb::Value::uint64(connections * 5_000_000)),
        ("bandwidth_free", pb::Value::uint64(100_000_000 - connections * 5_000_000)),
        ("disk_free", pb::Value::uint64(500_000_000_000)),
    ]
    .into_iter()
    .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        Server::builder()
            .add_service(pb::dynamic_prop_eval_server::DynamicPropEvalServer::new(Figures(Arc::new(figures))))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    Ok(format!("http://{addr}"))
}

async fn export(
    broker: &BrokerProcess,
    host: &str,
    max: u64,
    titles: &[&str],
    connections: u64,
    load: f64,
) -> Result<()> {
    let evaluator = serve_figures(connections, load).await?;
    let field = |name: &str, value: pb::Value| pb::Field { name: name.into(), value: Some(value) };
    let records = titles
        .iter()
        .map(|title| pb::Record {
            fields: vec![
                field("name", pb::Value::string(*title)),
                field("duration", pb::Value::double(6000.0)),
                field("frame_rate", pb::Value::double(24.0)),
                field("play_url", pb::Value::string(format!("rtsp://{host}:8554/{}", title.to_lowercase()))),
            ],
        })
        .collect();
    let mut properties = vec![
        pb::Property::value("host", pb::Value::string(host)),
        pb::Property::value("video_formats", pb::Value::string_seq(["h264"])),
        pb::Property::value("audio_formats", pb::Value::string_seq(["aac"])),
        pb::Property::value("protocols", pb::Value::string_seq(["rtsp"])),
        pb::Property::value("max_connections", pb::Value::uint64(max)),
        pb::Property::value("titles", pb::Value::string_seq(titles.iter().copied())),
        pb::Property::value(
            "movies",
            pb::Value { kind: Some(pb::value::Kind::RecordList(pb::RecordList { records })) },
        ),
    ];
    for (name, value_type) in [
        ("connections", pb::ValueType::Uint64),
        ("load", pb::ValueType::Double),
        ("cpu", pb::ValueType::Double),
        ("bandwidth_out", pb::ValueType::Uint64),
        ("bandwidth_free", pb::ValueType::Uint64),
        ("disk_free", pb::ValueType::Uint64),
    ] {
        let dynamic = pb::DynamicProp {
            evaluator: evaluator.clone(),
            extra_info: None,
            max_age_ms: 0,
            value_type: value_type as i32,
        };
        properties.push(pb::Property::dynamic(name, dynamic));
    }
    broker
        .register()
        .await?
        .export(pb::ExportRequest {
            r#type: "MediaServer".into(),
            reference: format!("rtsp://{host}:8554/"),
            properties,
            lease_seconds: 0,
            owner: "e2e".into(),
        })
        .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs tmux"]
async fn select_goes_through_three_phases_and_prints_the_pick() -> Result<()> {
    let data = TempDir::new("select")?;
    let broker_dir = data.path().join("broker");
    std::fs::create_dir_all(&broker_dir)?;
    let broker = BrokerProcess::start(&broker_dir, &[]).await?;
    // alpha has the most room for Casablanca; gamma holds no Casablanca.
    export(&broker, "alpha", 10, &["Casablanca", "Metropolis"], 1, 0.1).await?;
    export(&broker, "beta", 10, &["Casablanca", "Nosferatu"], 8, 0.6).await?;
    export(&broker, "gamma", 4, &["Metropolis"], 0, 0.0).await?;

    let url_file = data.path().join("url");
    let status_file = data.path().join("status");
    let command = format!(
        "{} --broker {} select --print --video h264 --audio aac --protocols rtsp --interval-ms 200 > {}; echo $? > {}",
        shell_quote(path_text(&binary("bourse")?)?),
        broker.addr,
        shell_quote(path_text(&url_file)?),
        shell_quote(path_text(&status_file)?),
    );
    let tmux = Tmux::start(&format!("sh -c {}", shell_quote(&command)))?;

    // Phase 1: the titles of the three servers, merged.
    let screen = tmux.wait_for("phase 1", |s| s.contains("Titles (3)") && s.contains("Nosferatu")).await?;
    assert!(screen.contains("On 2 of 3 servers with room"), "Casablanca is on alpha and beta:\n{screen}");
    assert!(screen.contains(&format!("broker {}", broker.addr)), "status line:\n{screen}");
    tmux.text("/casa")?;
    tmux.wait_for("the filter", |s| s.contains("Titles (1 of 3)")).await?;
    tmux.keys(&["Enter", "Enter"])?;

    // Phase 2: the servers with Casablanca, ranked by free connections.
    let screen =
        tmux.wait_for("phase 2", |s| s.contains("Servers with Casablanca (2)") && s.contains("1/10")).await?;
    assert!(screen.contains("ranked by most free connections"), "{screen}");
    let alpha = screen.lines().find(|l| l.contains("alpha")).context("alpha row")?;
    assert!(alpha.contains('★') && alpha.contains("1/10"), "alpha is recommended: {alpha}");
    tmux.keys(&["Enter"])?;

    // Phase 3: live charts, fed by Watch updates.
    tmux.wait_for("phase 3", |s| s.contains("Live: Casablanca") && s.contains("update 3")).await?;
    tmux.keys(&["Enter"])?;

    // The pick: the UI ends, stdout had only the URL.
    let status = wait_for_file(&status_file).await;
    let url = std::fs::read_to_string(&url_file).unwrap_or_default();
    assert_eq!(status.trim(), "0", "bourse select exited with {status:?}; screen:\n{}", tmux.screen()?);
    assert_eq!(url, "rtsp://alpha:8554/casablanca\n");

    // The terminal is back to the shell's screen: nothing of the UI left.
    let screen = tmux.screen()?;
    assert!(!screen.contains("bourse select") && !screen.contains("Casablanca"), "UI left behind:\n{screen}");

    // The broker holds the reservation.
    let stats = broker.admin().await?.stats(pb::StatsRequest {}).await?.into_inner();
    assert_eq!(stats.counters.get("pick.picks"), Some(&1), "{:?}", stats.counters);
    assert_eq!(stats.counters.get("pick.reservations_outstanding"), Some(&1), "{:?}", stats.counters);
    drop(tmux);
    broker.stop().await
}
