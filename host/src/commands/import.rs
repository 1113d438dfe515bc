//! `xrm-sandbox import`: read an export of step registrations and a mapping file, write a registration file,
//! list the steps left out (`docs/import.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use xrm_sandbox::import::{self, Mapping};
use xrm_sandbox::input::FileError;

use super::exit;

#[derive(Args)]
#[command(after_help = "Exit status: 0 every step written; 1 some steps left out (each listed on stderr, the file \
                        still written); 2 the export or the mapping is unreadable or malformed (nothing written).")]
pub struct ImportArgs {
    /// The export: the Web API's JSON of `sdkmessageprocessingsteps` (with the `$expand` of docs/import.md) or
    /// a solution's customizations.xml. The format is told by the content.
    #[arg(value_name = "EXPORT")]
    export: PathBuf,
    /// The mapping file: .NET plug-in types to our plug-ins, users to organization aliases, message ids to
    /// names (docs/import.md).
    #[arg(long, value_name = "MAPPING.JSON")]
    mapping: PathBuf,
    /// The registration file to write. It is replaced only once the import succeeded (atomically), and is
    /// written even when some steps are left out.
    #[arg(long, value_name = "REGISTRATIONS.JSON")]
    out: PathBuf,
}

/// 0: every step written; 1: some left out (each listed on stderr), the file still written; 2: the export or
/// the mapping is unreadable or malformed, or the file cannot be written: nothing written.
pub fn run(args: ImportArgs) -> u8 {
    match import(&args) {
        Ok(imported) => {
            for left_out in &imported.left_out {
                eprintln!("left out: {left_out}");
            }
            let written = imported.file.steps.len();
            let total = written + imported.left_out.len();
            println!("imported {written} of {total} steps into {}", args.out.display());
            if imported.left_out.is_empty() { exit::PASSED } else { exit::FAILED }
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::INVALID_INPUT
        }
    }
}

fn import(args: &ImportArgs) -> Result<import::Imported, FileError> {
    let export = read(&args.export)?;
    let mapping = Mapping::parse(&args.mapping, &read(&args.mapping)?)?;
    let mapping = mapping.relative_to(&folder(&args.mapping)?, &folder(&args.out)?);
    let imported = import::import(&args.export, &export, &mapping)?;
    let mut text = serde_json::to_string_pretty(&imported.file)
        .map_err(|e| FileError::new(&args.out, "", format!("cannot write the registrations: {e}")))?;
    text.push('\n');
    write_atomically(&args.out, &text)
        .map_err(|e| FileError::new(&args.out, "", format!("cannot write the file: {e}")))?;
    Ok(imported)
}

fn read(file: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(file).map_err(|e| FileError::new(file, "", format!("cannot read the file: {e}")))
}

/// The absolute folder of a file, which need not exist yet.
fn folder(file: &Path) -> Result<PathBuf, FileError> {
    let absolute =
        std::path::absolute(file).map_err(|e| FileError::new(file, "", format!("cannot resolve the path: {e}")))?;
    Ok(absolute.parent().map(Path::to_owned).unwrap_or(absolute))
}

/// Writes a temporary file beside `out`, then renames it over `out`: a failure never leaves half a file.
fn write_atomically(out: &Path, text: &str) -> std::io::Result<()> {
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "registrations".into());
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&temp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let result = written.and_then(|()| std::fs::rename(&temp, out));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
