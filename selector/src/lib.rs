//! `bourse`, the command line of Bourse: drives a broker over the
//! `bourse.v1` gRPC contract.
//!
//! The binary is a thin wrapper around [`run`]; tests and later front ends
//! (the terminal UI) call the same entry points:
//!
//! - [`run`] runs a parsed [`Cli`] and reports any error the way the binary
//!   does (text on `err`, and with `--json` a JSON error document on `out`),
//!   returning the exit code;
//! - [`execute`] runs it and hands the error back instead.
//!
//! Output contract: results go to `out`, readable by default or as one JSON
//! document with `--json`; errors go to `err` as `error: <message>` (with
//! carets under a rejected constraint or preference) and, with `--json`,
//! also to `out` as `{"error":{"code","message",...}}`. Exit codes are in
//! [`error::exit_code`].

pub mod cli;
pub mod client;
pub mod commands;
pub mod demo;
pub mod error;
pub mod media;
pub mod render;
pub mod table;
pub mod tui;
pub mod values;

use std::io::{ErrorKind, Write};

pub use cli::Cli;
pub use error::CliError;

use commands::Context;

/// Runs a command, writing results to `out`. `width` is the terminal width
/// that tables are cut to (`None`: never cut).
pub async fn execute(cli: &Cli, out: &mut dyn Write, width: Option<usize>) -> Result<(), CliError> {
    let mut ctx = Context { global: &cli.global, out, width };
    commands::dispatch(&mut ctx, &cli.command).await
}

/// Runs a command like the `bourse` binary: results to `out`, errors
/// reported to `err` (and with `--json` to `out` too). Returns the exit
/// status (0, or one of [`error::exit_code`]). A closed output pipe
/// (`bourse ... | head`) ends the command quietly with 0.
pub async fn run(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write, width: Option<usize>) -> u8 {
    match execute(cli, out, width).await {
        Ok(()) => 0,
        Err(CliError::Output(e)) if e.kind() == ErrorKind::BrokenPipe => 0,
        Err(error) => {
            // Reporting is best effort: if stderr or stdout are gone there is
            // nobody left to tell.
            let _ = err.write_all(error.render_text().as_bytes());
            if cli.global.json {
                let _ = commands::write_json(out, &error.to_json());
            }
            error.exit_code()
        }
    }
}

/// Parses the process arguments. On a usage error clap prints its message
/// and exits with 2; when `--json` is among the arguments, the error is
/// first also printed on stdout as a JSON document. `--help` and
/// `--version` print and exit 0 as usual.
pub fn parse_args() -> Cli {
    use clap::Parser;
    use clap::error::ErrorKind;
    use std::io::IsTerminal;
    match Cli::try_parse() {
        Ok(cli) => cli,
        // `bourse` without a command, on a terminal: the terminal UI.
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) && std::io::stdin().is_terminal()
                && std::io::stdout().is_terminal() =>
        {
            let args = std::env::args_os().chain(std::iter::once("select".into()));
            Cli::try_parse_from(args).unwrap_or_else(|error| error.exit())
        }
        Err(error) => {
            if error.use_stderr() && std::env::args_os().skip(1).any(|a| a == "--json") {
                let _ = commands::write_json(&mut std::io::stdout(), &error::usage_error_json(&error));
            }
            error.exit()
        }
    }
}

/// Sends logs where they do not disturb the output: to stderr, filtered
/// by `RUST_LOG` (default `warn`); for `bourse select`, whose UI owns the
/// terminal, to `--log-file` or nowhere.
pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    match &cli.command {
        cli::Command::Select(cli::SelectArgs { log_file, .. })
        | cli::Command::Demo(cli::DemoArgs {
            select: cli::SelectArgs { log_file, .. },
            headless: false,
            ..
        }) => {
            let Some(path) = log_file else { return };
            match std::fs::File::options().create(true).append(true).open(path) {
                Ok(file) => tracing_subscriber::fmt()
                    .with_env_filter(filter())
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file))
                    .init(),
                Err(error) => {
                    eprintln!("warning: cannot open log file {}: {error}; not logging", path.display())
                }
            }
        }
        _ => tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).init(),
    }
}

/// The width of the terminal on stdout, or `None` when stdout is not a
/// terminal (so piped output is never cut).
pub fn stdout_width() -> Option<usize> {
    terminal_size::terminal_size_of(std::io::stdout()).map(|(width, _)| usize::from(width.0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;
    use clap::Parser;

    async fn run_args(args: &[&str]) -> (u8, String, String) {
        let cli = Cli::try_parse_from(std::iter::once("bourse").chain(args.iter().copied())).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&cli, &mut out, &mut err, None).await;
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    /// A local address where nothing listens.
    fn closed_address() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    }

    #[tokio::test]
    async fn usage_errors_need_no_broker() {
        let (code, out, err) = run_args(&["types", "add", "/nonexistent/types.toml"]).await;
        assert_eq!(code, error::exit_code::USAGE);
        assert_eq!(out, "");
        assert!(err.starts_with("error: cannot read /nonexistent/types.toml: "), "{err}");

        let (code, out, err) = run_args(&["--json", "withdraw-matching", "MediaServer", " "]).await;
        assert_eq!(code, error::exit_code::USAGE);
        assert_eq!(err, "error: withdraw-matching needs a non-empty constraint\n");
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "Usage", "message": "withdraw-matching needs a non-empty constraint"}})
        );
    }

    #[tokio::test]
    async fn an_unreachable_broker_exits_with_its_own_code() {
        let address = closed_address();
        let (code, out, err) = run_args(&["--broker", &address, "types", "list"]).await;
        assert_eq!(code, error::exit_code::UNREACHABLE);
        assert_eq!(out, "");
        assert!(err.starts_with(&format!("error: cannot reach broker at {address}: ")), "{err}");

        let (code, out, _) = run_args(&["--broker", &address, "--json", "query", "MediaServer"]).await;
        assert_eq!(code, error::exit_code::UNREACHABLE);
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["error"]["code"], "Unreachable");
    }
}
