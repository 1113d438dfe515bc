//! The `xrm-sandbox` command: arguments in, a runner configuration and a reporter out, the exit code back.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xrm_sandbox::suite::report::HumanReporter;
use xrm_sandbox::suite::{self, Event, RunOptions, Suite};

/// Exit codes, fixed by the runner's contract.
mod exit {
    pub const PASSED: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const INVALID_INPUT: u8 = 2;
}

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
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Run only cases whose `suite::case` name contains this text, such as a rule id (`IMP-4`).
        #[arg(long)]
        filter: Option<String>,
        /// Cases run at once (default: the number of cores).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Stop starting cases after the first failure.
        #[arg(long)]
        fail_fast: bool,
        /// Print the execution tree of passing cases too.
        #[arg(long, short)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Test { paths, filter, jobs, fail_fast, verbose } => {
            let mut options = RunOptions { filter, fail_fast, ..RunOptions::default() };
            if let Some(jobs) = jobs {
                options.jobs = jobs.max(1);
            }
            ExitCode::from(test(&paths, &options, verbose))
        }
    }
}

fn test(paths: &[PathBuf], options: &RunOptions, verbose: bool) -> u8 {
    // Every file is loaded and checked before any case runs.
    let loaded =
        suite::discover(paths).and_then(|files| files.iter().map(|f| Suite::load(f)).collect::<Result<Vec<_>, _>>());
    let suites = match loaded {
        Ok(suites) if suites.is_empty() => {
            eprintln!("error: no suite found in the paths given");
            return exit::INVALID_INPUT;
        }
        Ok(suites) => suites,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
    };
    let reporter = HumanReporter { verbose };
    let stats = suite::run(suites, options, |event| match event {
        Event::CaseFinished(result) => print!("{}", reporter.case(&result)),
    });
    println!("{}", HumanReporter::summary(&stats));
    if stats.failed > 0 { exit::FAILED } else { exit::PASSED }
}
