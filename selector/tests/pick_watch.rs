//! `bourse pick`, `bourse release` and `bourse watch` against a real broker
//! in process, whose media servers' live figures come from real
//! `DynamicPropEval` servers.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bourse_selector::Cli;
use clap::Parser;
use common::Fleet;

async fn run(fleet: &Fleet, args: &[&str]) -> (u8, String, String) {
    let address = fleet.address();
    let full = ["bourse", "--broker", &address].into_iter().chain(args.iter().copied());
    let cli = Cli::try_parse_from(full).expect("arguments parse");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = bourse_selector::run(&cli, &mut out, &mut err, None).await;
    (code, String::from_utf8(out).expect("utf-8"), String::from_utf8(err).expect("utf-8"))
}

#[tokio::test]
async fn pick_prints_the_play_url_then_the_reservation() {
    let fleet = Fleet::start().await;
    let (code, out, err) =
        run(&fleet, &["pick", "MediaServer", "'rtsp' in protocols", "--title", "Nosferatu"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rtsp://beta:8554/nosferatu", "only beta holds Nosferatu:\n{out}");
    assert!(lines[1].starts_with("offer        "), "{out}");
    assert!(lines[2].starts_with("reservation  ") && lines[2].contains(" for 10 s, until "), "{out}");
    assert_eq!(lines[3], "candidates   1");
    assert_eq!(fleet.counter("pick.reservations_outstanding").await, 1);

    // --json gives everything, and release gives the reservation back.
    let (code, out, err) = run(
        &fleet,
        &["--json", "pick", "MediaServer", "--title", "Metropolis", "--reserve", "30", "--props", "host"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let host = json["offer"]["properties"]["host"].as_str().expect("host asked for");
    assert!(host == "alpha" || host == "gamma", "{json}");
    assert_eq!(json["endpoint"], format!("rtsp://{host}:8554/metropolis"));
    assert_eq!(json["reservation"]["seconds"], 30);
    assert!(json["offer"]["properties"]["movies"].is_array(), "movies come along for the URL: {json}");
    let id = json["reservation"]["id"].as_str().expect("id").to_string();
    assert_eq!(fleet.counter("pick.reservations_outstanding").await, 2);

    let (code, out, _) = run(&fleet, &["release", &id]).await;
    assert_eq!((code, out), (0, format!("released {id}\n")));
    assert_eq!(fleet.counter("pick.reservations_outstanding").await, 1);
    let (code, _, err) = run(&fleet, &["release", &id]).await;
    assert_eq!(code, 1, "twice: {err}");
    assert!(err.contains("unknown or lapsed reservation"), "{err}");
    fleet.broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn pick_says_clearly_when_every_server_is_full() {
    let fleet = Fleet::start().await;
    // Only epsilon holds Sunrise, and it is full.
    let (code, out, err) = run(&fleet, &["pick", "MediaServer", "--title", "Sunrise"]).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("error: no server has room for one more stream; try again later ("), "{err}");
    let (code, out, _) = run(&fleet, &["--json", "pick", "MediaServer", "--title", "Sunrise"]).await;
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON error");
    assert_eq!(json["error"]["code"], "ResourceExhausted");
    // No server at all is another message.
    let (code, _, err) = run(&fleet, &["pick", "MediaServer", "--title", "Nothing Like It"]).await;
    assert_eq!(code, 1);
    assert!(err.starts_with("error: no MediaServer matches the constraint"), "{err}");
    fleet.broker.shutdown().await.expect("shutdown");
}

/// A writer that a test reads while a command still writes to it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
    }
}

fn parse(fleet: &Fleet, args: &[&str]) -> Cli {
    let address = fleet.address();
    let full = ["bourse", "--broker", &address].into_iter().chain(args.iter().copied());
    Cli::try_parse_from(full).expect("arguments parse")
}

/// Runs a watch until it has printed `n` lines, then stops it (as Ctrl-C
/// would) and returns what it printed.
async fn watch_lines(fleet: &Fleet, args: &[&str], n: usize) -> String {
    let cli = parse(fleet, args);
    let out = Shared::default();
    let mut writer = out.clone();
    let mut err = Vec::new();
    let watch = bourse_selector::run(&cli, &mut writer, &mut err, None);
    let enough = async {
        for _ in 0..200 {
            if out.text().lines().count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        code = watch => panic!("the watch ended with {code}: {}", out.text()),
        () = enough => {}
    }
    let text = out.text();
    assert!(text.lines().count() >= n, "fewer than {n} lines: {text}");
    text
}

#[tokio::test]
async fn watch_prints_one_json_line_per_update() {
    let fleet = Fleet::start().await;
    let args = [
        "--json",
        "watch",
        "MediaServer",
        "'Casablanca' in titles",
        "--pref",
        "min load",
        "--props",
        "host,load",
        "--interval-ms",
        "100",
    ];
    let text = watch_lines(&fleet, &args, 3).await;
    for (i, line) in text.lines().take(3).enumerate() {
        let update: serde_json::Value = serde_json::from_str(line).expect("each line is a JSON document");
        assert_eq!(update["sequence"], i + 1);
        assert_eq!(update["matched"], 3);
        let hosts: Vec<&str> = update["offers"]
            .as_array()
            .expect("offers")
            .iter()
            .filter_map(|o| o["properties"]["host"].as_str())
            .collect();
        assert_eq!(hosts, ["gamma", "alpha", "beta"], "least load first");
    }

    // Readable form: each update after the last (stdout is no terminal here).
    let text = watch_lines(
        &fleet,
        &["watch", "MediaServer", "--props", "host,connections", "--interval-ms", "100"],
        18,
    )
    .await;
    assert!(text.starts_with("MediaServer (all) · update 1 at "), "{text}");
    assert!(text.contains("5 of 5 matched\n"), "{text}");
    assert!(text.contains("· update 2 at "), "{text}");

    // The broker going away ends the watch as unreachable (exit 3).
    let cli = parse(&fleet, &["watch", "MediaServer", "--interval-ms", "100"]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let watch = bourse_selector::run(&cli, &mut out, &mut err, None);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        fleet.broker.shutdown().await.expect("shutdown");
    };
    let (code, ()) = tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(watch, stop) })
        .await
        .expect("the watch ends with the broker");
    assert_eq!(code, 3, "{}", String::from_utf8_lossy(&err));
}
