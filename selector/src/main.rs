//! `bourse`: the command line of Bourse. Everything but start-up lives in
//! the `bourse_selector` library.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Logs go to stderr, quiet unless RUST_LOG asks for more.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .init();
    let cli = bourse_selector::parse_args();
    let width = bourse_selector::stdout_width();
    ExitCode::from(bourse_selector::run(&cli, &mut std::io::stdout(), &mut std::io::stderr(), width).await)
}
