//! Runs every suite under `tests/conformance/` and `examples/` through the same runner as `xrm-sandbox test`, one test per
//! case, named `suite::case` (each case's name carries the rule ids it checks).

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use xrm_sandbox::suite::{self, Suite};

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // The bundled example is the README's first command: it must keep passing too.
    let files = match suite::discover(&[root.join("tests/conformance"), root.join("examples")]) {
        Ok(files) => files,
        Err(e) => panic!("{e}"),
    };
    let mut trials = Vec::new();
    for file in files {
        let suite = match Suite::load(&file) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                // A suite that does not load is one failing test, named after its file.
                let name = file.display().to_string();
                trials.push(Trial::test(name, move || Err(Failed::from(e.to_string()))));
                continue;
            }
        };
        for index in 0..suite.cases.len() {
            let suite = suite.clone();
            let name = format!("{}::{}", suite.name, suite.cases[index].name);
            trials.push(Trial::test(name, move || {
                let result = suite::run_case(&suite, &suite.cases[index]);
                match result.passed {
                    true => Ok(()),
                    false => {
                        Err(Failed::from(format!("{}\n{}\n{}", result.failures.join("\n"), result.tree, result.traces)))
                    }
                }
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
