//! The `xrm-sandbox` command: arguments in, one subcommand run, its exit code back.

mod commands;

/// A case writes on its own copy of the organization's persistent store, allocating and freeing many small
/// nodes: glibc's malloc spent a third of a 3-step Create on that (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "xrm-sandbox",
    version,
    about = "Run Dataverse plug-ins, compiled to WebAssembly, in a local sandboxed pipeline",
    after_help = "Exit status (test): 0 all passed, 1 a case failed, 2 bad input (nothing run), 4 no case selected \
                  (see `xrm-sandbox test --help`).\n\n\
                  Reference: docs/reference/ in the xrm-sandbox repository: formats.md (the organization, \
                  registrations and suite files), rules.md (every behaviour rule by id, with the cases that prove \
                  it), tables.md (the built-in tables and their columns), messages.md (the messages)."
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
    /// Serve an organization as a local Dataverse Web API, for client libraries and their tests.
    Serve(commands::serve::ServeArgs),
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == xrm_sandbox::sandbox::COMPILE_COMMAND) {
        return match xrm_sandbox::sandbox::compile_stdin_to_stdout() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(commands::exit::FAILED)
            }
        };
    }
    // Plug-ins are compiled in child processes of this binary, which give the compiler's memory back (BOX-5).
    if let Ok(exe) = std::env::current_exe() {
        xrm_sandbox::sandbox::compile_in_child_processes(exe);
    }
    let command = Cli::parse().command;
    // Plug-in crates are built on demand: a person at a terminal sees cargo's progress, a CI log a line each.
    let on_terminal = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    xrm_sandbox::build::show_progress(match on_terminal {
        true => xrm_sandbox::build::Progress::Terminal,
        false => xrm_sandbox::build::Progress::Log,
    });
    // Every command runs on a case thread: the stack nested plug-ins need, and no async runtime around them.
    let code = xrm_sandbox::threads::on_case_thread("xrm-sandbox", move || match command {
        Command::Test(args) => commands::test::run(args),
        Command::Schema(args) => commands::schema::run(args),
        Command::Init(args) => commands::init::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Serve(args) => commands::serve::run(args),
    });
    ExitCode::from(code.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        commands::exit::FAILED
    }))
}
