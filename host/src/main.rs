//! The `xrm-sandbox` command: arguments in, one subcommand run, its exit code back.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xrm-sandbox",
    version,
    about = "Run Dataverse plug-ins, compiled to WebAssembly, in a local sandboxed pipeline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run suites: files, or folders searched for suite files.
    Test(commands::test::TestArgs),
}

fn main() -> ExitCode {
    let code = match Cli::parse().command {
        Command::Test(args) => commands::test::run(args),
    };
    ExitCode::from(code)
}
