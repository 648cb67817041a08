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
pub mod error;
pub mod render;
pub mod table;
pub mod values;

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

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
/// reported to `err` (and with `--json` to `out` too), and the exit code.
/// A closed output pipe (`bourse ... | head`) ends the command quietly.
pub async fn run(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write, width: Option<usize>) -> ExitCode {
    match execute(cli, out, width).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Output(e)) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            // Reporting is best effort: if stderr or stdout are gone there is
            // nobody left to tell.
            let _ = err.write_all(error.render_text().as_bytes());
            if cli.global.json {
                let _ = commands::write_json(out, &error.to_json());
            }
            ExitCode::from(error.exit_code())
        }
    }
}

/// The width of the terminal on stdout, or `None` when stdout is not a
/// terminal (so piped output is never cut).
pub fn stdout_width() -> Option<usize> {
    terminal_size::terminal_size_of(std::io::stdout()).map(|(width, _)| usize::from(width.0))
}
