//! `xrm-sandbox test`: load suites, run their cases, report on the terminal and in the files asked for.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use xrm_sandbox::input::{FileError, FileErrors};
use xrm_sandbox::suite::report::{Collected, HumanReporter, html, junit};
use xrm_sandbox::suite::{self, Event, Partition, RunOptions, RunStats, Suite};

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
    /// Run only shard k of n (`--partition 2/3`): the selected cases are dealt round-robin in file order, so
    /// the n shards of a CI matrix run every case exactly once.
    #[arg(long, value_name = "K/N")]
    partition: Option<Partition>,
    /// Write a JUnit XML report (GitHub Actions, Azure DevOps, GitLab) to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the HTML execution report (one self-contained file) to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Stop starting cases after the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// Print only failing cases and the closing line.
    #[arg(long, short, conflicts_with = "verbose")]
    quiet: bool,
    /// Print the execution tree of passing cases too.
    #[arg(long, short)]
    verbose: bool,
}

pub fn run(args: TestArgs) -> u8 {
    let mut options = RunOptions {
        filter: args.filter.clone(),
        fail_fast: args.fail_fast,
        partition: args.partition,
        ..RunOptions::default()
    };
    if let Some(jobs) = args.jobs {
        options.jobs = jobs.max(1);
    }
    let suites = match load(&args.paths) {
        Ok(suites) => suites,
        Err(errors) => {
            report_input_errors(&errors);
            return exit::INVALID_INPUT;
        }
    };
    let color = anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    let reporter = HumanReporter { verbose: args.verbose, quiet: args.quiet, color };
    let wants_files = args.junit.is_some() || args.report.is_some();
    let mut collected = wants_files.then(|| Collected::new(&suites));
    let mut bar: Option<ProgressBar> = None;
    let stats = suite::run(suites, &options, |event| {
        let text = match &event {
            Event::Started { cases } => {
                bar = progress_bar(*cases as u64);
                return;
            }
            Event::CaseFinished(result) => reporter.case(result),
            Event::CaseSkipped { suite, case, .. } => reporter.skipped(&format!("{suite}::{case}")),
        };
        match &bar {
            Some(bar) => {
                bar.suspend(|| print!("{text}"));
                bar.inc(1);
            }
            None => print!("{text}"),
        }
        if let Some(c) = collected.as_mut() {
            c.record(event);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let written = collected.map_or(Ok(()), |mut c| {
        c.finish();
        write_reports(&c, &stats, args.junit.as_deref(), args.report.as_deref())
    });
    println!("{}", HumanReporter::summary(&stats));
    if let Err(message) = written {
        eprintln!("error: {message}");
        return exit::INVALID_INPUT;
    }
    if stats.failed > 0 { exit::FAILED } else { exit::PASSED }
}

/// Every file is loaded and checked before any case runs; what a folder held that was left out is named.
fn load(paths: &[PathBuf]) -> Result<Vec<Suite>, FileErrors> {
    let found = suite::find(paths)?;
    for skipped in &found.skipped {
        eprintln!("skipped {}: {}", skipped.path.display(), skipped.why);
    }
    let mut errors = FileErrors::default();
    let suites: Vec<Suite> = found.files.iter().filter_map(|f| errors.take(Suite::load(f))).collect();
    let suites = errors.or(suites)?;
    if suites.is_empty() {
        let place = paths.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
        return Err(FileError::new(place, "", "no suite found in the paths given").into());
    }
    Ok(suites)
}

/// Each error on a line of its own, then how many: nothing ran.
pub fn report_input_errors(errors: &FileErrors) {
    for e in errors {
        eprintln!("error: {e}");
    }
    if errors.len() > 1 {
        eprintln!("{} errors in the input: nothing ran", errors.len());
    }
}

/// A bar on a terminal only: never in a CI log or a pipe, where it would be noise.
fn progress_bar(cases: u64) -> Option<ProgressBar> {
    let on_terminal = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    if !on_terminal || cases == 0 {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(cases), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} cases  {elapsed_precise}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn write_reports(run: &Collected, stats: &RunStats, junit: Option<&Path>, report: Option<&Path>) -> Result<(), String> {
    if let Some(path) = junit {
        write_file(path, &junit::render(run))?;
    }
    if let Some(path) = report {
        write_file(path, &html::render(run, stats))?;
    }
    Ok(())
}

/// Writes beside the target and renames, so a reader never sees half a report; a failed write or rename
/// leaves neither the target nor the file beside it.
fn write_file(path: &Path, text: &str) -> Result<(), String> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&partial, text).and_then(|()| std::fs::rename(&partial, path)).map_err(|e| {
        // It may not exist (the write failed); either way nothing of it should stay.
        let _ = std::fs::remove_file(&partial);
        format!("{}: cannot write the report: {e}", path.display())
    })
}
