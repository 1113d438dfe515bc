//! `xrm-sandbox test`: load suites, run their cases, report on the terminal and in the files asked for.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use xrm_sandbox::input::{FileError, FileErrors};
use xrm_sandbox::suite::report::{Collected, HumanReporter, html, junit};
use xrm_sandbox::suite::{self, Event, Partition, RunOptions, RunStats, Suite};

use super::exit;

#[derive(Args)]
#[command(after_help = concat!(
    "Exit status:\n",
    "  0  every selected case passed\n",
    "  1  a case failed\n",
    "  2  bad input: a file, a flag or a report path refused, nothing run (every error listed, each with its file \
     and JSON path)\n",
    "  4  no case selected (the filter and partition left none), with --no-tests=fail (the default)\n",
    "\n",
    "A JUnit file (--junit) is written on exit 0, 1 and 2: input refused shows as one failed test per file in error.\n",
    "\n",
    "Reference: docs/reference/ in the xrm-sandbox repository (formats.md: the files; rules.md: the behaviour \
     rules and the cases that prove them; tables.md: the built-in tables; messages.md: the messages)."
))]
pub struct TestArgs {
    /// Suite files, or folders searched for suite files (a folder's JSON file that does not parse, or that
    /// looks like a suite and is not a valid one, is an error; other JSON files are named with --verbose).
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
    /// What a run that selects no case does: `fail` (exit 4), `warn` (a warning, exit 0) or `pass` (exit 0).
    #[arg(long, value_enum, value_name = "ACTION", default_value_t = NoTests::Fail)]
    no_tests: NoTests,
    /// Write a JUnit XML report (GitHub Actions, Azure DevOps, GitLab) to this file, checked before anything
    /// runs; written when the input is refused too.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the HTML execution report (one self-contained file) to this file, checked before anything runs.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Stop starting cases after the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// Print only failing cases and the closing lines.
    #[arg(long, short, conflicts_with = "verbose")]
    quiet: bool,
    /// Print the execution tree of passing cases too, and the JSON files a folder held that are not suites.
    #[arg(long, short)]
    verbose: bool,
}

/// What a run that selects no case does, as cargo-nextest's `--no-tests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum NoTests {
    /// Exit 0, silently.
    Pass,
    /// Exit 0 with a warning.
    Warn,
    /// Exit 4 with an error.
    Fail,
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
    // The report paths first: a typo there must not cost a whole run.
    let outputs: Vec<&Path> = [args.junit.as_deref(), args.report.as_deref()].into_iter().flatten().collect();
    if let Some(message) = outputs.iter().find_map(|p| writable(p).err()) {
        eprintln!("error: {message}");
        return exit::INVALID_INPUT;
    }
    let suites = match load(&args.paths, args.verbose) {
        Ok(suites) => suites,
        Err(errors) => {
            report_input_errors(&errors);
            if let Some(path) = &args.junit
                && let Err(message) = write_file(path, &junit::render(&Collected::refused(&errors)))
            {
                eprintln!("error: {message}");
            }
            return exit::INVALID_INPUT;
        }
    };
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let color = anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    let reporter = HumanReporter { verbose: args.verbose, quiet: args.quiet, color };
    let wants_files = args.junit.is_some() || args.report.is_some();
    let mut collected = wants_files.then(|| Collected::new(&suites));
    let mut bar: Option<ProgressBar> = None;
    let mut selected = 0;
    let mut failed = Vec::new();
    let stats = suite::run(suites, &options, |event| {
        let text = match &event {
            Event::Started { cases } => {
                selected = *cases;
                bar = progress_bar(*cases as u64);
                return;
            }
            Event::CaseFinished(result) => {
                if !result.passed {
                    failed.push((result.id(), result.failures.first().cloned().unwrap_or_default()));
                }
                reporter.case(result)
            }
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
    print!("{}", reporter.recap(&failed));
    if let Err(message) = written {
        eprintln!("error: {message}");
        return exit::INVALID_INPUT;
    }
    if selected == 0 {
        return no_tests(args.no_tests, &args, total);
    }
    if stats.failed > 0 { exit::FAILED } else { exit::PASSED }
}

/// A run that selected no case: an error by default, since a filter that matches nothing is most often a typo.
fn no_tests(action: NoTests, args: &TestArgs, total: usize) -> u8 {
    let why = match (&args.filter, &args.partition) {
        (Some(f), _) => format!("no case matches the filter `{f}` ({total} cases loaded)"),
        (None, Some(p)) => format!("shard {}/{} has no case ({total} cases loaded)", p.index, p.count),
        (None, None) => "the suites hold no case".to_owned(),
    };
    match action {
        NoTests::Pass => exit::PASSED,
        NoTests::Warn => {
            eprintln!("warning: {why}");
            exit::PASSED
        }
        NoTests::Fail => {
            eprintln!("error: {why}; exit {} (--no-tests=warn or pass accepts it)", exit::NO_TESTS);
            exit::NO_TESTS
        }
    }
}

/// Every file is loaded and checked before any case runs; what a folder held that was left out is named (the
/// JSON files that are simply not suites with `--verbose` only).
fn load(paths: &[PathBuf], verbose: bool) -> Result<Vec<Suite>, FileErrors> {
    let found = suite::find(paths)?;
    for skipped in found.skipped.iter().filter(|s| verbose || !s.not_a_suite) {
        eprintln!("skipped {}: {}", skipped.path.display(), skipped.why);
    }
    let mut errors = found.errors;
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

/// The file beside `path` a report is written to before it is renamed over `path`.
fn partial(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// Whether a report can be written at `path`, checked before anything runs: its folder exists, it is not a
/// folder itself, and a file can be created beside it (and is removed at once).
fn writable(path: &Path) -> Result<(), String> {
    let refuse = |why: String| format!("{}: cannot write the report: {why}", path.display());
    if path.file_name().is_none() || path.is_dir() {
        return Err(refuse("it is a folder; name a file".into()));
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return Err(refuse(format!("the folder `{}` does not exist", folder.display())));
    }
    let probe = partial(path);
    std::fs::write(&probe, "").map_err(|e| refuse(e.to_string()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Writes beside the target and renames, so a reader never sees half a report; a failed write or rename
/// leaves neither the target nor the file beside it.
fn write_file(path: &Path, text: &str) -> Result<(), String> {
    let partial = partial(path);
    std::fs::write(&partial, text).and_then(|()| std::fs::rename(&partial, path)).map_err(|e| {
        // It may not exist (the write failed); either way nothing of it should stay.
        let _ = std::fs::remove_file(&partial);
        format!("{}: cannot write the report: {e}", path.display())
    })
}
