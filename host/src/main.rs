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
    /// Write the JSON Schemas of the organization, registrations and suite files, for editors.
    Schema(commands::schema::SchemaArgs),
    /// Create a plug-in project: crate, organization, registration, suite and CI workflow.
    Init(commands::init::InitArgs),
    /// Turn steps exported from an environment (Web API JSON or customizations.xml) into a registration file.
    Import(commands::import::ImportArgs),
    /// Run one request against an organization and registrations, and show what happened.
    Run(commands::run::RunArgs),
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    // Every command runs on a case thread: the stack nested plug-ins need, and no async runtime around them.
    let code = xrm_sandbox::threads::on_case_thread("xrm-sandbox", move || match command {
        Command::Test(args) => commands::test::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::Init(args) => commands::init::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Run(args) => commands::run::run(args),
    });
    ExitCode::from(code.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        commands::exit::FAILED
    }))
}
