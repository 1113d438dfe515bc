//! `xrm-sandbox schema`: write the JSON Schemas of the organization, registrations and suite files.

use std::fs;
use std::path::PathBuf;

use clap::Args;
use xrm_sandbox::schema;

use super::exit;

#[derive(Args)]
pub struct SchemaArgs {
    /// The folder to write the schemas into, created if missing (default: the current folder).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: SchemaArgs) -> u8 {
    let dir = args.out.unwrap_or_else(|| PathBuf::from("."));
    match write(&dir) {
        Ok(paths) => {
            for path in paths {
                println!("{}", path.display());
            }
            exit::PASSED
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::INVALID_INPUT
        }
    }
}

fn write(dir: &PathBuf) -> Result<Vec<PathBuf>, String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create the folder `{}`: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (file, schema) in schema::schemas() {
        let path = dir.join(file);
        let text = serde_json::to_string_pretty(&schema).map_err(|e| format!("cannot render {file}: {e}"))?;
        fs::write(&path, text + "\n").map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
