//! The subcommands of `bourse`: one module per group, all driven through
//! [`Context`], which holds the global flags and where output goes.

pub mod admin;
pub mod offers;
pub mod pick;
pub mod query;
pub mod types;

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::{Command, GlobalArgs};
use crate::client::Broker;
use crate::error::CliError;

/// What every command needs besides its own arguments.
pub struct Context<'a> {
    pub global: &'a GlobalArgs,
    /// Where results go (stdout for the binary).
    pub out: &'a mut dyn Write,
    /// Terminal width to fit tables to; `None` leaves lines uncut (output
    /// to a pipe or a file).
    pub width: Option<usize>,
}

impl Context<'_> {
    /// Connects to the broker named by `--broker` (or `BOURSE_BROKER`), or
    /// else found by mDNS.
    pub async fn connect(&self) -> Result<Broker, CliError> {
        let address = crate::client::resolve_broker(self.global).await?;
        Broker::connect(&address, Duration::from_secs(self.global.timeout)).await
    }

    /// Writes the readable form, or with `--json` the JSON document; only
    /// the one that is printed is built.
    pub fn emit<J: serde::Serialize>(
        &mut self,
        human: impl FnOnce(Option<usize>) -> String,
        json: impl FnOnce() -> J,
    ) -> Result<(), CliError> {
        if self.global.json {
            write_json(self.out, &json())
        } else {
            self.out.write_all(human(self.width).as_bytes())?;
            Ok(self.out.flush()?)
        }
    }

    /// Writes a line of the readable form now (for progress such as each
    /// type added); nothing with `--json`.
    pub fn progress(&mut self, line: &str) -> Result<(), CliError> {
        if !self.global.json {
            writeln!(self.out, "{line}")?;
            self.out.flush()?;
        }
        Ok(())
    }
}

/// One JSON document, pretty-printed, ending in a newline.
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(out.flush()?)
}

/// The current time as Unix milliseconds, for showing lease expiries.
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs one subcommand.
pub async fn dispatch(ctx: &mut Context<'_>, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Types(command) => types::run(ctx, command).await,
        Command::Export(args) => offers::export(ctx, args).await,
        Command::Describe(args) => offers::describe(ctx, &args.id).await,
        Command::Modify(args) => offers::modify(ctx, args).await,
        Command::Withdraw(args) => offers::withdraw(ctx, &args.id).await,
        Command::WithdrawMatching(args) => offers::withdraw_matching(ctx, args).await,
        Command::Keepalive(args) => offers::keepalive(ctx, args).await,
        Command::Query(args) => query::query(ctx, args).await,
        Command::NextPage(args) => query::next_page(ctx, args).await,
        Command::Admin(command) => admin::run(ctx, command).await,
        Command::Pick(args) => pick::pick(ctx, args).await,
        Command::Release(args) => pick::release(ctx, args).await,
        Command::Watch(args) => pick::watch(ctx, args).await,
        Command::Select(args) => crate::tui::select_command(ctx, args).await,
        Command::Demo(args) => crate::demo::run(ctx.global, args, ctx.out).await,
    }
}
