//! `xrm-sandbox test`: load suites, run their cases, report.

use std::path::PathBuf;

use clap::Args;
use xrm_sandbox::suite::report::HumanReporter;
use xrm_sandbox::suite::{self, Event, RunOptions, Suite};

use super::exit;

#[derive(Args)]
pub struct TestArgs {
    /// Suite files, or folders searched for suite files.
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
}

pub fn run(args: TestArgs) -> u8 {
    let mut options = RunOptions { filter: args.filter, fail_fast: args.fail_fast, ..RunOptions::default() };
    if let Some(jobs) = args.jobs {
        options.jobs = jobs.max(1);
    }
    // Every file is loaded and checked before any case runs.
    let loaded = suite::discover(&args.paths)
        .and_then(|files| files.iter().map(|f| Suite::load(f)).collect::<Result<Vec<_>, _>>());
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
    let reporter = HumanReporter { verbose: args.verbose };
    let stats = suite::run(suites, &options, |event| match event {
        Event::CaseFinished(result) => print!("{}", reporter.case(&result)),
    });
    println!("{}", HumanReporter::summary(&stats));
    if stats.failed > 0 { exit::FAILED } else { exit::PASSED }
}
