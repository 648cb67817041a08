//! `bourse`: the command line of Bourse. Everything but start-up lives in
//! the `bourse_selector` library.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = bourse_selector::parse_args();
    bourse_selector::init_logging(&cli);
    let width = bourse_selector::stdout_width();
    ExitCode::from(bourse_selector::run(&cli, &mut std::io::stdout(), &mut std::io::stderr(), width).await)
}
