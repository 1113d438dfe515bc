//! `xrm-sandbox init`: create a plug-in project with an organization, a registration, a suite and a CI
//! workflow, ready for `xrm-sandbox test`.

use std::path::PathBuf;

use clap::Args;
use xrm_sandbox::init;

use super::exit;

#[derive(Args)]
pub struct InitArgs {
    /// The project's folder: new, or empty.
    dir: PathBuf,
    /// The crate's name (default: the folder's name).
    #[arg(long)]
    name: Option<String>,
    /// Depend on this guest SDK folder (`guest-sdk` in the xrm-sandbox sources) instead of the copy written
    /// into the project's `vendor/` (the default): for a project that also takes the host crate as a
    /// dev-dependency from the same sources.
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

pub fn run(args: InitArgs) -> u8 {
    match init::create(&args.dir, args.name.as_deref(), args.sdk.as_deref()) {
        Ok(files) => {
            println!("Created the plug-in project in {}:", args.dir.display());
            for file in files {
                println!("  {}", file.display());
            }
            println!("Run its suite: cd {} && xrm-sandbox test suite.json", args.dir.display());
            exit::PASSED
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::INVALID_INPUT
        }
    }
}
