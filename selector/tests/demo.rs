//! `bourse demo --headless`: the embedded fleet comes up, serves queries
//! with live figures from its three agents, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn the_demo_fleet_serves_and_stops_cleanly() {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["demo", "--headless"])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start bourse demo");
    let mut lines = BufReader::new(demo.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let addr = first.strip_prefix("broker listening on ").expect("the broker's address first").to_string();

    let query = Command::new(env!("CARGO_BIN_EXE_bourse"))
        .args(["--broker", &addr, "--json", "query", "MediaServer", "'Casablanca' in titles and load < 1.0"])
        .args(["--pref", "min load", "--props", "host,load"])
        .output()
        .expect("run bourse query");
    assert!(query.status.success(), "{query:?}");
    let reply: serde_json::Value = serde_json::from_slice(&query.stdout).expect("JSON");
    let hosts: Vec<&str> = reply["offers"]
        .as_array()
        .expect("offers")
        .iter()
        .filter_map(|o| o["properties"]["host"].as_str())
        .collect();
    assert_eq!(hosts, ["studio-a", "studio-b", "studio-c"], "three agents, ordered by their simulated load");

    let status = Command::new("kill").args(["-TERM", &demo.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = demo.try_wait().expect("wait") {
            assert!(exit.success(), "demo exits cleanly: {exit}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "demo did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}
