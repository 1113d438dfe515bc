//! `xrm-sandbox run`: one request against an organization and registrations, printing the response and the
//! execution tree: for exploring, not for asserting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use serde_json::Value as Json;
use xrm_sandbox::suite::{self, OnBehalfOf};

use super::exit;

#[derive(Args)]
pub struct RunArgs {
    /// The organization file.
    #[arg(long)]
    org: PathBuf,
    /// A registrations file (`plugins` and `steps`), or a suite holding them; none: no plug-ins run.
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
    let request = read_request(&args.request)?;
    let parts = args.registrations.as_ref().map(|r| Json::String(absolute(r)));
    // The command line is the "file": the parts it names are paths, each reported as itself in an error.
    let pipeline =
        suite::load_pipeline(Path::new("command line"), Json::String(absolute(&args.org)), parts.clone(), parts)
            .map_err(|e| e.to_string())?;
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

/// JSON text as it is, or the file it names.
fn read_request(arg: &str) -> Result<Json, String> {
    let (text, source) = if arg.trim_start().starts_with('{') {
        (arg.to_owned(), "the request".to_owned())
    } else {
        let text = xrm_sandbox::input::read_text(Path::new(arg)).map_err(|e| e.to_string())?;
        (text, arg.to_owned())
    };
    serde_json::from_str(&text).map_err(|e| format!("{source}: not JSON: {e}"))
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned()).display().to_string()
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
