//! The runner from Rust, for `cargo test` in a plug-in crate: run suite files, or build an organization,
//! registrations and cases in code with fluent builders, and assert on the results.
//!
//! The builders write the JSON of the file formats (`formats.md`) and hand it to the same loader and runner
//! as `xrm-sandbox test`: one set of rules, one set of error messages, whichever way a suite is written.
//!
//! ```no_run
//! use serde_json::json;
//! use xrm_sandbox::testing::{CaseBuilder, OrgBuilder, StepBuilder, SuiteBuilder};
//!
//! let org = OrgBuilder::new("contoso")
//!     .business_unit("root", "Contoso")
//!     .role("salesperson", "Salesperson", [("prvCreateAccount", "Basic"), ("prvReadAccount", "Basic")])
//!     .user("alice", "Alice", "root", ["salesperson"]);
//! let run = SuiteBuilder::new("account plug-ins")
//!     .org(org)
//!     .plugin_crate("probe", "plugins/probe")
//!     .step(
//!         StepBuilder::new("probe", "Create", 40)
//!             .table("account")
//!             .configuration(json!({ "ops": [{ "trace": "UserId={UserId}" }] })),
//!     )
//!     .case(
//!         CaseBuilder::new("alice creates an account")
//!             .request("@alice", json!({ "message": "Create", "target": { "@logicalname": "account", "name": "A" } }))
//!             .save("a")
//!             .assert_traces(json!([{ "contains": "UserId=@alice" }])),
//!     )
//!     .run()
//!     .unwrap();
//! run.assert_passed();
//! ```

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json, json};

use crate::input::FileErrors;
use crate::suite::report::HumanReporter;
use crate::suite::{self, CaseResult, Event, RunOptions, RunStats, Suite};

/// The results of a run.
#[derive(Debug, Clone)]
pub struct SuiteRun {
    pub stats: RunStats,
    /// Every case that ran, in the order they finished.
    pub results: Vec<CaseResult>,
}

impl SuiteRun {
    /// The result of the case named `name` (its name within its suite).
    pub fn case(&self, name: &str) -> Option<&CaseResult> {
        self.results.iter().find(|r| r.case == name)
    }

    /// Panics, as `assert!` does, with each failing case's report (what was expected, what came out, the
    /// execution tree and the traces) unless every case passed. The panic names the caller's line.
    #[allow(clippy::panic)]
    #[track_caller]
    pub fn assert_passed(&self) {
        if self.stats.failed == 0 {
            return;
        }
        let reporter = HumanReporter { quiet: true, ..HumanReporter::default() };
        let failed: String = self.results.iter().filter(|r| !r.passed).map(|r| reporter.case(r)).collect();
        panic!("{}\n{failed}", HumanReporter::summary(&self.stats));
    }
}

/// Panics, as `assert!` does, with the case's report (what was expected, what came out, the execution tree
/// and the traces) unless it passed. The panic names the caller's line.
#[allow(clippy::panic)]
#[track_caller]
pub fn assert_case_passed(result: &CaseResult) {
    if !result.passed {
        let reporter = HumanReporter { quiet: true, ..HumanReporter::default() };
        panic!("{}", reporter.case(result));
    }
}

/// Loads `suite` and runs only its case named `case` (its name within the suite): one `#[test]` per case, each
/// reported and filtered by `cargo test` on its own. An unknown name is an error listing the names there are.
pub fn run_case(suite: &Suite, case: &str) -> Result<CaseResult, String> {
    match suite.cases.iter().find(|c| c.name == case) {
        Some(c) => Ok(suite::run_case(suite, c)),
        None => {
            let names: Vec<&str> = suite.cases.iter().map(|c| c.name.as_str()).collect();
            Err(format!("suite `{}` has no case named `{case}`; its cases: {}", suite.name, names.join("; ")))
        }
    }
}

/// Loads the suite (built in code, or [`SuiteSource::File`]), runs its case named `case` and asserts that it
/// passed: the body of a `#[test]` per case (see [`case_tests!`](crate::case_tests)). A load error or an unknown
/// case fails the test with its message; the panic names the caller's line.
#[allow(clippy::panic)]
#[track_caller]
pub fn assert_case(suite: impl Into<SuiteSource>, case: &str) {
    let loaded = match suite.into() {
        SuiteSource::Built(builder) => builder.build(),
        SuiteSource::File(path) => Suite::load(&path),
    };
    // Matches, not closures: a closure would not pass the caller's location on.
    let suite = match loaded {
        Ok(suite) => suite,
        Err(e) => panic!("the suite does not load:\n{e}"),
    };
    match run_case(&suite, case) {
        Ok(result) => assert_case_passed(&result),
        Err(e) => panic!("{e}"),
    }
}

/// Where [`assert_case`] takes a suite from.
pub enum SuiteSource {
    Built(Box<SuiteBuilder>),
    File(PathBuf),
}

impl From<SuiteBuilder> for SuiteSource {
    fn from(builder: SuiteBuilder) -> Self {
        SuiteSource::Built(Box::new(builder))
    }
}

impl From<&SuiteBuilder> for SuiteSource {
    fn from(builder: &SuiteBuilder) -> Self {
        SuiteSource::Built(Box::new(builder.clone()))
    }
}

impl From<&str> for SuiteSource {
    fn from(path: &str) -> Self {
        SuiteSource::File(PathBuf::from(path))
    }
}

impl From<&Path> for SuiteSource {
    fn from(path: &Path) -> Self {
        SuiteSource::File(path.to_owned())
    }
}

impl From<PathBuf> for SuiteSource {
    fn from(path: PathBuf) -> Self {
        SuiteSource::File(path)
    }
}

/// One `#[test]` per case: `case_tests!(suite(); alice_creates => "alice creates an account", ...)` writes a
/// test function per name, each running only its case of the suite (`suite()` is evaluated in each: a
/// [`SuiteBuilder`] or a suite file's path), so `cargo test alice_creates` runs one case and a failure names
/// it and its line.
#[macro_export]
macro_rules! case_tests {
    ($suite:expr; $($test:ident => $case:expr),+ $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::testing::assert_case($suite, $case);
            }
        )+
    };
}

/// Runs suites with the given options and collects the results.
pub fn run(suites: Vec<Suite>, options: &RunOptions) -> SuiteRun {
    let mut results = Vec::new();
    let stats = suite::run(suites, options, |event| {
        if let Event::CaseFinished(r) = event {
            results.push(*r);
        }
    });
    SuiteRun { stats, results }
}

/// Loads suite files (or folders of them) and runs every case.
pub fn run_files(paths: &[impl AsRef<Path>]) -> Result<SuiteRun, FileErrors> {
    let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_owned()).collect();
    Ok(run(suite::load_all(&paths)?, &RunOptions::default()))
}

/// An organization (`formats.md`, "Organization"), built in code.
#[derive(Debug, Clone)]
pub struct OrgBuilder(Map<String, Json>);

impl OrgBuilder {
    pub fn new(name: &str) -> Self {
        let mut org = Map::new();
        org.insert("name".into(), name.into());
        org.insert("businessunits".into(), json!([]));
        org.insert("roles".into(), json!([]));
        org.insert("users".into(), json!([]));
        OrgBuilder(org)
    }

    fn push(mut self, key: &str, item: Json) -> Self {
        push(&mut self.0, key, item);
        self
    }

    /// A setting (`maxDepth`, `pluginTraceLogSetting`, `timeoutSeconds`, `memoryLimitMb`).
    pub fn setting(mut self, name: &str, value: impl Into<Json>) -> Self {
        let settings = self.0.entry("settings").or_insert_with(|| json!({}));
        if let Some(s) = settings.as_object_mut() {
            s.insert(name.into(), value.into());
        }
        self
    }

    /// The root business unit.
    pub fn business_unit(self, alias: &str, name: &str) -> Self {
        self.push("businessunits", json!({ "@alias": alias, "name": name }))
    }

    /// A business unit under `parent` (an alias).
    pub fn child_business_unit(self, alias: &str, name: &str, parent: &str) -> Self {
        self.push("businessunits", json!({ "@alias": alias, "name": name, "parent": at(parent) }))
    }

    /// A security role with privileges by name and depth (`("prvReadAccount", "Local")`).
    pub fn role<'a>(self, alias: &str, name: &str, privileges: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let privileges: Map<String, Json> = privileges.into_iter().map(|(p, d)| (p.to_owned(), d.into())).collect();
        self.push("roles", json!({ "@alias": alias, "name": name, "privileges": privileges }))
    }

    /// A user in `business_unit` with `roles` (aliases).
    pub fn user<'a>(
        self,
        alias: &str,
        fullname: &str,
        business_unit: &str,
        roles: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let roles: Vec<String> = roles.into_iter().map(at).collect();
        self.push(
            "users",
            json!({ "@alias": alias, "fullname": fullname, "businessunit": at(business_unit), "roles": roles }),
        )
    }

    /// An owner team in `business_unit` with `roles` and `members` (aliases).
    pub fn team<'a>(
        self,
        alias: &str,
        name: &str,
        business_unit: &str,
        roles: impl IntoIterator<Item = &'a str>,
        members: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let roles: Vec<String> = roles.into_iter().map(at).collect();
        let members: Vec<String> = members.into_iter().map(at).collect();
        let team = json!({ "@alias": alias, "name": name, "businessunit": at(business_unit), "roles": roles, "members": members });
        self.push("teams", team)
    }

    /// Any other entry, as the file format writes it: `"tables"`, `"customapis"`, `"records"`, or a user or
    /// role with more columns than the shortcuts above take.
    pub fn add(self, key: &str, item: Json) -> Self {
        self.push(key, item)
    }

    pub fn into_json(self) -> Json {
        Json::Object(self.0)
    }
}

/// Appends `item` to the list at `key`, starting the list if there is none.
fn push(map: &mut Map<String, Json>, key: &str, item: Json) {
    match map.entry(key).or_insert_with(|| json!([])) {
        Json::Array(items) => items.push(item),
        other => *other = json!([item]),
    }
}

/// `alice` or `@alice` as `@alice`.
fn at(alias: &str) -> String {
    if alias.starts_with('@') { alias.to_owned() } else { format!("@{alias}") }
}

/// A step registration (`formats.md`, "Plug-ins and registrations"), built in code.
#[derive(Debug, Clone)]
pub struct StepBuilder(Map<String, Json>);

impl StepBuilder {
    /// A synchronous step of `plugin` on `message` at `stage` (10, 20, 40; 30 for a custom API).
    pub fn new(plugin: &str, message: &str, stage: i32) -> Self {
        let mut step = Map::new();
        step.insert("name".into(), format!("{plugin}: {message} {stage}").into());
        step.insert("plugin".into(), plugin.into());
        step.insert("message".into(), message.into());
        step.insert("stage".into(), stage.into());
        StepBuilder(step)
    }

    fn set(mut self, key: &str, value: impl Into<Json>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    pub fn name(self, name: &str) -> Self {
        self.set("name", name)
    }

    /// The table (`primaryentity`); without it the step runs for every table.
    pub fn table(self, table: &str) -> Self {
        self.set("primaryentity", table)
    }

    /// Runs asynchronously after the request (mode 1).
    pub fn asynchronous(self) -> Self {
        self.set("mode", 1)
    }

    pub fn rank(self, rank: i32) -> Self {
        self.set("rank", rank)
    }

    /// Runs as this user (`impersonatinguserid`, an alias) instead of the caller.
    pub fn run_as(self, user: &str) -> Self {
        self.set("impersonatinguserid", at(user))
    }

    /// An Update step runs only when the Target has one of these columns.
    pub fn filtering_attributes(self, columns: &str) -> Self {
        self.set("filteringattributes", columns)
    }

    /// The unsecure configuration: a string, or JSON passed as its text with aliases replaced.
    pub fn configuration(self, config: impl Into<Json>) -> Self {
        self.set("configuration", config)
    }

    pub fn secure_configuration(self, config: impl Into<Json>) -> Self {
        self.set("secureconfiguration", config)
    }

    /// The plug-in type the step runs (`type`), for a component of several types (PIPE-18): its full name
    /// (`Contoso.Plugins.FollowUp`), the last part of it, or its Rust name.
    pub fn plugin_type(self, name: &str) -> Self {
        self.set("type", name)
    }

    /// An entity image: `imagetype` 0 pre, 1 post, 2 both; `attributes` comma-separated, or every column.
    pub fn image(mut self, alias: &str, imagetype: i32, attributes: Option<&str>) -> Self {
        let mut image = json!({ "entityalias": alias, "imagetype": imagetype });
        if let (Some(a), Some(obj)) = (attributes, image.as_object_mut()) {
            obj.insert("attributes".into(), a.into());
        }
        push(&mut self.0, "images", image);
        self
    }

    pub fn into_json(self) -> Json {
        Json::Object(self.0)
    }
}

/// A case: actions in order (`formats.md`, "Suite").
#[derive(Debug, Clone)]
pub struct CaseBuilder {
    name: String,
    actions: Vec<Json>,
}

impl CaseBuilder {
    pub fn new(name: &str) -> Self {
        CaseBuilder { name: name.into(), actions: Vec::new() }
    }

    /// A request by `user` (an alias) that must succeed unless an `expect_…` follows.
    pub fn request(mut self, user: &str, request: Json) -> Self {
        self.actions.push(json!({ "as": at(user), "request": request }));
        self
    }

    /// A request by `user` on behalf of `on_behalf_of`, with the CallerId header (IMP-6).
    pub fn request_on_behalf(mut self, user: &str, on_behalf_of: &str, request: Json) -> Self {
        self.actions.push(json!({ "as": at(user), "callerid": at(on_behalf_of), "request": request }));
        self
    }

    /// Changes the last request.
    fn last(mut self, key: &str, value: Json) -> Self {
        if let Some(Json::Object(action)) = self.actions.last_mut()
            && action.contains_key("request")
        {
            action.insert(key.into(), value);
        }
        self
    }

    /// Names the id the last request created or targeted, for later actions (`@name`).
    pub fn save(self, name: &str) -> Self {
        self.last("save", name.into())
    }

    /// The last request must fail with this code (`"0x80040220"`); `None` accepts any code.
    pub fn expect_error(self, code: Option<&str>, contains: Option<&str>) -> Self {
        let mut error = Map::new();
        if let Some(c) = code {
            error.insert("code".into(), c.into());
        }
        if let Some(c) = contains {
            error.insert("contains".into(), c.into());
        }
        self.last("expect", json!({ "error": error }))
    }

    /// The last request must succeed with these output parameters.
    pub fn expect_output(self, output: Json) -> Self {
        self.last("expect", json!({ "ok": true, "output": output }))
    }

    /// Runs the queued asynchronous jobs.
    pub fn run_async(mut self) -> Self {
        self.actions.push(json!({ "runasync": true }));
        self
    }

    /// Checks records: `[{"@logicalname": …, "where": {…}, "count": n, "columns": {…}}]`.
    pub fn assert_records(mut self, records: Json) -> Self {
        self.actions.push(json!({ "assert": { "records": records } }));
        self
    }

    /// Checks traces: `[{"step": …, "contains": …, "count": n, "absent": bool}]`.
    pub fn assert_traces(mut self, traces: Json) -> Self {
        self.actions.push(json!({ "assert": { "traces": traces } }));
        self
    }

    /// Checks asynchronous jobs: `[{"step": …, "status": "Succeeded", "contains": …}]`.
    pub fn assert_jobs(mut self, jobs: Json) -> Self {
        self.actions.push(json!({ "assert": { "jobs": jobs } }));
        self
    }

    /// Any other action, as the file format writes it.
    pub fn action(mut self, action: Json) -> Self {
        self.actions.push(action);
        self
    }

    fn into_json(self) -> Json {
        json!({ "name": self.name, "actions": self.actions })
    }
}

/// A suite built in code: an organization (built or a file), plug-ins, steps and cases.
#[derive(Debug, Clone)]
pub struct SuiteBuilder {
    name: String,
    dir: PathBuf,
    org: Json,
    plugins: Map<String, Json>,
    steps: Vec<Json>,
    cases: Vec<Json>,
}

impl SuiteBuilder {
    /// A suite whose relative paths are relative to the current directory (a crate's root under `cargo test`).
    pub fn new(name: &str) -> Self {
        SuiteBuilder {
            name: name.into(),
            dir: PathBuf::from("."),
            org: Json::Null,
            plugins: Map::new(),
            steps: Vec::new(),
            cases: Vec::new(),
        }
    }

    /// Resolves relative paths (organization file, plug-in crates and components) against `dir`.
    pub fn relative_to(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    pub fn org(mut self, org: OrgBuilder) -> Self {
        self.org = org.into_json();
        self
    }

    pub fn org_file(mut self, path: impl AsRef<Path>) -> Self {
        self.org = path.as_ref().display().to_string().into();
        self
    }

    /// A plug-in crate, built for the plug-in target when the suite loads.
    pub fn plugin_crate(mut self, name: &str, dir: impl AsRef<Path>) -> Self {
        self.plugins.insert(name.into(), json!({ "crate": dir.as_ref().display().to_string() }));
        self
    }

    /// A built component (`.wasm`).
    pub fn plugin_component(mut self, name: &str, path: impl AsRef<Path>) -> Self {
        self.plugins.insert(name.into(), path.as_ref().display().to_string().into());
        self
    }

    pub fn step(mut self, step: StepBuilder) -> Self {
        self.steps.push(step.into_json());
        self
    }

    pub fn case(mut self, case: CaseBuilder) -> Self {
        self.cases.push(case.into_json());
        self
    }

    /// The suite as the file format writes it.
    pub fn to_json(&self) -> Json {
        json!({ "name": self.name, "org": self.org, "plugins": self.plugins, "steps": self.steps, "cases": self.cases })
    }

    /// Loads the suite, checking it as a suite file is checked; errors name the suite as `<dir>/<name>`.
    pub fn build(&self) -> Result<Suite, FileErrors> {
        Suite::from_json(&self.dir.join(format!("{} (built in code)", self.name)), self.to_json())
    }

    /// Loads and runs the suite.
    pub fn run(&self) -> Result<SuiteRun, FileErrors> {
        Ok(run(vec![self.build()?], &RunOptions::default()))
    }
}
