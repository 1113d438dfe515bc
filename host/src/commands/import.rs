//! `xrm-sandbox import`: read a solution (folders, customizations.xml, step files, the Web API's JSON) and
//! write a runnable project into a folder (organization, registrations, starter suite, identity map, and the
//! mapping file the user edits), or, with `--out <file>.json`, only the registrations (`docs/import.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use xrm_sandbox::import::{self, Mapping, Written};
use xrm_sandbox::input::FileError;

use super::exit;

#[derive(Args)]
#[command(
    after_help = "Exit status: 0 every step imported and able to fire; 1 some steps cannot fire yet or were left \
                        out (each listed on stderr, the files still written); 2 an input or the mapping is unreadable \
                        or malformed, or a file cannot be written (nothing written)."
)]
pub struct ImportArgs {
    /// What to import: solution folders (SolutionPackager or `pac solution unpack`, with or without `src/`, or
    /// an unzipped export), solution .zip exports (managed or unmanaged), customizations.xml files, step
    /// files, the Web API's JSON of `sdkmessageprocessingsteps`, spkl.json (its solution packages), or the
    /// Plugin Registration Tool's register file (.crmregister). Several paths merge into one project.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// The folder to write the project into, created if missing: org.json, registrations.json, suite.json,
    /// identity-map.html and mapping.json. A path ending in `.json` writes only that registrations file.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The mapping file: .NET plug-in types to our plug-ins (`"*"` for every type not named), users to
    /// aliases, message ids to names. Default: mapping.json in the output folder, written on the first import
    /// and kept, with your edits, after.
    #[arg(long, value_name = "MAPPING.JSON")]
    mapping: Option<PathBuf>,
}

pub fn run(args: ImportArgs) -> u8 {
    if args.out.extension().is_some_and(|e| e == "json") {
        return registrations_only(&args);
    }
    let mapping = args.mapping.clone().unwrap_or_else(|| args.out.join("mapping.json"));
    match import::import_project(&args.paths, &mapping, &args.out) {
        Ok(written) => report(&written, &args.out),
        Err(e) => {
            eprintln!("error: {e}");
            exit::INVALID_INPUT
        }
    }
}

fn report(written: &Written, out: &Path) -> u8 {
    print!("{}", written.identity_map);
    for note in &written.notes {
        eprintln!("note: {note}");
    }
    for warning in &written.cannot_fire {
        eprintln!("warning: {warning}");
    }
    for left_out in &written.left_out {
        eprintln!("left out: {left_out}");
    }
    println!(
        "imported {} steps into {} ({} cannot fire yet, {} left out); run them with: xrm-sandbox test {}",
        written.steps,
        out.display(),
        written.cannot_fire.len(),
        written.left_out.len(),
        out.join("suite.json").display()
    );
    if written.cannot_fire.is_empty() && written.left_out.is_empty() { exit::PASSED } else { exit::FAILED }
}

/// `--out registrations.json`: one export and its mapping in, that one file out.
fn registrations_only(args: &ImportArgs) -> u8 {
    match registrations(args) {
        Ok(imported) => {
            for note in &imported.notes {
                eprintln!("note: {note}");
            }
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

fn registrations(args: &ImportArgs) -> Result<import::Imported, FileError> {
    let [export] = args.paths.as_slice() else {
        return Err(FileError::new(
            &args.out,
            "",
            "a registrations file is written from one export: pass one path, or an output folder",
        ));
    };
    let Some(mapping_file) = &args.mapping else {
        return Err(FileError::new(&args.out, "", "a registrations file needs --mapping (an output folder does not)"));
    };
    let mapping = Mapping::parse(mapping_file, &read(mapping_file)?)?;
    let mapping = mapping.relative_to(&folder(mapping_file)?, &folder(&args.out)?);
    let imported = import::import(export, &read(export)?, &mapping)?;
    let mut text = serde_json::to_string_pretty(&imported.file)
        .map_err(|e| FileError::new(&args.out, "", format!("cannot write the registrations: {e}")))?;
    text.push('\n');
    write_atomically(&args.out, &text)
        .map_err(|e| FileError::new(&args.out, "", format!("cannot write the file: {e}")))?;
    Ok(imported)
}

fn read(file: &Path) -> Result<String, FileError> {
    xrm_sandbox::input::read_text(file)
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
