//! `xrm-sandbox run`: one request against an organization and registrations, printing the response and the
//! execution tree: for exploring, not for asserting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde_json::Value as Json;
use xrm_sandbox::suite::{self, OnBehalfOf};

use super::exit;

#[derive(Args)]
#[command(after_help = "Exit status: 0 the request succeeded; 1 it failed (the fault is printed); 2 bad input \
                        (nothing run).\n\nReference: docs/reference/ in the xrm-sandbox repository (formats.md: \
                        the files and the request JSON).")]
pub struct RunArgs {
    /// The organization file (default: the organization of the suite given with -r).
    #[arg(long)]
    org: Option<PathBuf>,
    /// A registrations file (`plugins` and `steps`), or a suite: its plug-ins and steps (and its organization,
    /// without --org); none: no plug-ins run.
    #[arg(long, short)]
    registrations: Option<PathBuf>,
    /// The calling user: `@alias` or a systemuserid.
    #[arg(long = "as", value_name = "USER")]
    as_user: String,
    /// Impersonate this user from outside with the CallerId header (IMP-6).
    #[arg(long, value_name = "USER", group = "header")]
    callerid: Option<String>,
    /// Impersonate the user with this Entra object id (`@alias` takes the user's) (IMP-6).
    #[arg(long, value_name = "ID", group = "header")]
    callerobjectid: Option<String>,
    /// Impersonate this user with the Web API's MSCRMCallerID header (IMP-6).
    #[arg(long, value_name = "USER", group = "header")]
    mscrmcallerid: Option<String>,
    /// A file of HTTP stubs answering the plug-ins' outbound requests (docs/http.md): a list of stubs, or
    /// `{"http": [...]}`. None: every request is refused.
    #[arg(long, value_name = "FILE")]
    http_stubs: Option<PathBuf>,
    /// The request as JSON (docs/reference/formats.md, "Suite"), or a file holding it:
    /// '{"message": "Create", "target": {"@logicalname": "account", "name": "Contoso"}}'.
    request: String,
}

pub fn run(args: RunArgs) -> u8 {
    match explore(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            exit::INVALID_INPUT
        }
    }
}

fn explore(args: &RunArgs) -> Result<u8, String> {
    let (request, source) = read_request(&args.request)?;
    let pipeline = pipeline(args.org.as_deref(), args.registrations.as_deref())?;
    // Checked as a suite's request is when it loads: every problem, with its path and the form to write.
    if let Err(problems) = suite::check_request(&pipeline, &request) {
        let lines: Vec<String> = problems
            .into_iter()
            .map(|p| xrm_sandbox::input::FileError::new(Path::new(&source), p.path, p.message).to_string())
            .collect();
        return Err(lines.join("\nerror: "));
    }
    let on_behalf_of = match (&args.callerid, &args.callerobjectid, &args.mscrmcallerid) {
        (Some(u), _, _) => Some(OnBehalfOf::CallerId(u.clone())),
        (_, Some(u), _) => Some(OnBehalfOf::CallerObjectId(u.clone())),
        (_, _, Some(u)) => Some(OnBehalfOf::MscrmCallerId(u.clone())),
        _ => None,
    };
    let stubs = match &args.http_stubs {
        Some(path) => suite::load_stub_file(path).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let explored = suite::explore(Arc::new(pipeline), &args.as_user, on_behalf_of.as_ref(), &request, stubs)?;
    println!("Execution tree:\n{}", indent(&explored.tree));
    if !explored.traces.is_empty() {
        println!("Traces:\n{}", indent(&explored.traces));
    }
    if !explored.written.is_empty() {
        let written: String = explored.written.iter().map(|w| w.detailed()).collect();
        println!("Records written:\n{}", indent(&written));
    }
    Ok(match explored.response {
        Ok(json) => {
            println!("Response:\n{}", serde_json::to_string_pretty(&json).unwrap_or_default());
            exit::PASSED
        }
        Err(fault) => {
            println!("Failed: {fault}");
            exit::FAILED
        }
    })
}

/// The organization and registrations: `-r` names a registrations file, or a suite whose plug-ins, steps and
/// (without `--org`) organization are taken, its paths relative to it.
pub(super) fn pipeline(org: Option<&Path>, registrations: Option<&Path>) -> Result<suite::Pipeline, String> {
    let org = org.map(|o| Json::String(absolute(o)));
    let suite = match registrations {
        Some(file) => read_suite(file)?,
        None => None,
    };
    let pipeline = match (suite, registrations) {
        (Some(mut suite), Some(file)) => {
            let org = org.or_else(|| suite.remove("org")).ok_or_else(|| {
                format!("{}: the suite names no organization (`org`); give one with --org", file.display())
            })?;
            suite::load_pipeline(file, org, suite.remove("plugins"), suite.remove("steps"))
        }
        (_, registrations) => {
            let org = org.ok_or("--org is required unless -r names a suite that names its organization")?;
            let parts = registrations.as_ref().map(|r| Json::String(absolute(r)));
            // The command line is the "file": the parts it names are paths, each reported as itself in an error.
            suite::load_pipeline(Path::new("command line"), org, parts.clone(), parts)
        }
    };
    pipeline.map_err(|e| e.to_string())
}

/// The file's JSON object when it is a suite (it has `cases` or `org`), else `None` (a registrations file).
fn read_suite(file: &Path) -> Result<Option<serde_json::Map<String, Json>>, String> {
    let text = xrm_sandbox::input::read_text(file).map_err(|e| e.to_string())?;
    let json: Json = serde_json::from_str(&text).map_err(|e| format!("{}: invalid JSON: {e}", file.display()))?;
    let is_suite = suite::looks_like_a_suite(&json);
    Ok(match json {
        Json::Object(map) if is_suite => Some(map),
        _ => None,
    })
}

/// JSON text as it is, or the file it names; with what errors call it (`request` on the command line, else
/// the file).
fn read_request(arg: &str) -> Result<(Json, String), String> {
    let (text, source) = if arg.trim_start().starts_with('{') {
        (arg.to_owned(), "request".to_owned())
    } else {
        let text = xrm_sandbox::input::read_text(Path::new(arg)).map_err(|e| e.to_string())?;
        (text, arg.to_owned())
    };
    let json = serde_json::from_str(&text).map_err(|e| format!("{source}: not JSON: {e}"))?;
    Ok((json, source))
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned()).display().to_string()
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
