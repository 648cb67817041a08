//! `bourse select`: the terminal UI for the three-phase selection of the
//! CORBA A/V prototype, brought to a Bourse broker.
//!
//! 1. titles that servers able to stream to this client (formats,
//!    protocols) with a free connection hold, merged across servers;
//! 2. the servers that hold the chosen title, with their live figures,
//!    ranked by the broker;
//! 3. live charts of those servers (a Watch), and Enter picks one (a Pick,
//!    which reserves room on it); then the terminal is restored and the
//!    title's play URL goes to the player, or to stdout with `--print`.
//!
//! The parts: [`model`] (state), [`update`] (messages in, effects out, no
//! I/O), [`view`] (draws, only reads), [`runtime`] (effects as tasks, the
//! event loop, the terminal), [`handoff`] (the player).
//!
//! Entry points: [`select`] runs the UI and the hand-off, as `bourse
//! select` does; an embedded demo starts its broker and agents, then calls
//! it with [`SelectOptions::new`] and the broker's address.

pub mod handoff;
pub mod model;
pub mod runtime;
pub mod update;
pub mod view;

use std::io::Write;
use std::time::Duration;

use bourse_proto::ReleaseRequest;

use crate::cli::{GlobalArgs, SelectArgs};
use crate::client::Broker;
use crate::commands::Context;
use crate::error::CliError;
use crate::media::{ClientConfigFile, parse_list};
use model::{Outcome, Picked, Settings};
use runtime::{ScreenKind, Session, TerminalGuard, system_clock};

/// Everything `bourse select` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectOptions {
    pub settings: Settings,
    /// Deadline of each unary call to the broker.
    pub call_timeout: Duration,
    /// Player command template (`{url}` is replaced); `None`: the first of
    /// ffplay, mpv and vlc on PATH.
    pub player: Option<String>,
    /// Print the URL on stdout instead of starting a player; the UI is
    /// drawn on the terminal (`/dev/tty`) so stdout holds only the URL.
    pub print: bool,
}

impl SelectOptions {
    /// Defaults for a broker: any format, most free connections first.
    pub fn new(broker: &str) -> SelectOptions {
        SelectOptions {
            settings: Settings::new(broker, Default::default()),
            call_timeout: Duration::from_secs(10),
            player: None,
            print: false,
        }
    }

    /// From the command line: the config file, then the flags over it.
    /// The broker is `--broker` or [`DEFAULT_BROKER`](crate::cli::DEFAULT_BROKER);
    /// callers that discover it set `settings.broker` afterwards.
    pub fn from_args(global: &GlobalArgs, args: &SelectArgs) -> Result<SelectOptions, CliError> {
        let file = match &args.client_config {
            Some(path) => ClientConfigFile::read(path)?,
            None => ClientConfigFile::default(),
        };
        let mut client = file.client();
        for (flag, list) in [
            (&args.video, &mut client.video),
            (&args.audio, &mut client.audio),
            (&args.protocols, &mut client.protocols),
        ] {
            if let Some(text) = flag {
                *list = parse_list(text);
            }
        }
        let mut options = SelectOptions::new(global.broker.as_deref().unwrap_or(crate::cli::DEFAULT_BROKER));
        options.settings.client = client;
        options.settings.order = args.order.or(file.order).unwrap_or_default();
        if let Some(interval) = args.interval_ms {
            options.settings.interval_ms = interval;
        }
        if let Some(name) = &args.client {
            options.settings.client_name.clone_from(name);
        }
        options.settings.reserve_seconds = args.reserve.unwrap_or(0);
        options.call_timeout = Duration::from_secs(global.timeout);
        options.player = args.player.clone().or(file.player);
        options.print = args.print;
        Ok(options)
    }
}

/// Runs the UI on the terminal until the user picks a server or quits.
/// The terminal is restored before this returns, also on error.
pub async fn run_ui(options: &SelectOptions) -> Result<Outcome, CliError> {
    let kind = ScreenKind::choose(options.print);
    if !kind.is_terminal() {
        return Err(CliError::Player(
            "bourse select needs a terminal; for scripts use bourse pick (or bourse select --print on a terminal)"
                .to_string(),
        ));
    }
    let mut session = Session::new(options.settings.clone(), options.call_timeout, system_clock())?;
    let terminal_error = |e: std::io::Error| CliError::Player(format!("terminal: {e}"));
    let guard = TerminalGuard::enter(kind).map_err(terminal_error)?;
    let backend = ratatui::backend::CrosstermBackend::new(kind.open().map_err(terminal_error)?);
    let mut terminal = ratatui::Terminal::new(backend).map_err(terminal_error)?;
    let outcome = runtime::run(&mut terminal, &mut session, crossterm::event::EventStream::new()).await;
    drop(terminal);
    drop(guard);
    outcome.map_err(terminal_error)
}

/// `bourse select`: the UI, then the hand-off of the picked URL.
pub async fn select(options: &SelectOptions, out: &mut dyn Write) -> Result<(), CliError> {
    match run_ui(options).await? {
        Outcome::Quit => Ok(()),
        Outcome::Picked(picked) => hand_off(options, &picked, out).await,
    }
}

pub(crate) async fn select_command(ctx: &mut Context<'_>, args: &SelectArgs) -> Result<(), CliError> {
    let mut options = SelectOptions::from_args(ctx.global, args)?;
    options.settings.broker = crate::client::resolve_broker(ctx.global).await?;
    select(&options, ctx.out).await
}

/// Prints the URL (`--print`) or plays it; the reservation is given back
/// when the player ends or cannot start.
async fn hand_off(options: &SelectOptions, picked: &Picked, out: &mut dyn Write) -> Result<(), CliError> {
    if options.print {
        writeln!(out, "{}", picked.url)?;
        return Ok(out.flush()?);
    }
    let template =
        options.player.clone().or_else(|| handoff::default_player(std::env::var_os("PATH").as_deref()));
    let Some(template) = template else {
        release(options, picked).await;
        return Err(CliError::Player(format!(
            "no player found (looked for ffplay, mpv and vlc on PATH); pass --player or --print. \
             The stream is at {}",
            picked.url
        )));
    };
    let command = handoff::player_command(&template, &picked.url);
    eprintln!(
        "playing {} from {} (reservation {} for {} s): {command}",
        picked.title, picked.host, picked.reservation_id, picked.reservation_seconds
    );
    let status = tokio::process::Command::new("sh").arg("-c").arg(&command).status().await;
    release(options, picked).await;
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(CliError::Player(format!("the player exited with {status}: {command}"))),
        Err(error) => Err(CliError::Player(format!("cannot start the player: {error}: {command}"))),
    }
}

/// Gives the reservation back, best effort: once the stream runs, the
/// server's own figures count it; a lapsed reservation is not an error.
async fn release(options: &SelectOptions, picked: &Picked) {
    let Ok(broker) = Broker::connect(&options.settings.broker, options.call_timeout).await else { return };
    let request = ReleaseRequest { reservation_id: picked.reservation_id.clone() };
    if let Err(status) = broker.lookup().release(broker.request(request)).await {
        tracing::debug!(%status, "release after playing");
    }
}
