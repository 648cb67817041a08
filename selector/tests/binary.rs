//! The `bourse` binary as a user meets it without a broker: help, usage
//! errors and an unreachable broker, each with its exit status.

use std::process::Command;

fn bourse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bourse")).args(args).env("RUST_LOG", "off").output().expect("run bourse")
}

#[test]
fn help_lists_every_command() {
    let out = bourse(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in [
        "types",
        "export",
        "describe",
        "modify",
        "withdraw",
        "withdraw-matching",
        "keepalive",
        "query",
        "next-page",
        "admin",
    ] {
        assert!(text.contains(command), "--help mentions {command}:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = bourse(&["query"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = bourse(&["export", "--type", "MediaServer"]);
    assert_eq!(out.status.code(), Some(2), "--ref is required: {out:?}");
}

#[test]
fn unreachable_broker_is_reported() {
    // Port 1 on loopback: nothing listens there.
    let out = bourse(&["--broker", "127.0.0.1:1", "--timeout", "2", "types", "list"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("127.0.0.1:1"), "the message names the address: {stderr}");
}
