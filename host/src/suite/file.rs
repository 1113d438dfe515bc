//! Reading a suite (`formats.md`, "Suite"): its organization, plug-ins and steps, inline or in files of their
//! own, and its cases. Everything is checked before anything runs; aliases a request uses must be known to
//! the organization or saved by an earlier action of the same case.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};
use xrm_model::Uuid;
use xrm_model::json::{JsonError, Path as JsonPath, Reader};

use super::validate::Known;
use super::{Action, Assert, Case, Expect, ExpectedError, OnBehalfOf, RecordAssert, RequestAction, Suite, TraceAssert};
use crate::input::{self, FileError, FileErrors};
use crate::org::Organization;
use crate::pipeline::registration::StepFile;
use crate::pipeline::{self, Pipeline, Registrations};
use crate::schema::object;

/// A suite: an organization, plug-ins and their steps, and cases of requests by users with what must come out.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Suite", title = "xrm-sandbox suite")]
pub(crate) struct SuiteFile {
    /// The JSON Schema of this file, for editors (such as `./schemas/suite.schema.json`); the sandbox ignores it.
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    /// The suite's name, which reports put before each case's name.
    name: String,
    /// The organization: a path to an organization file (relative to this file), or the organization itself.
    #[schemars(with = "OrgSource")]
    org: Json,
    /// The plug-ins by name: inline, or a path to a registrations file (relative to this file).
    #[serde(default)]
    #[schemars(with = "PluginsSource")]
    plugins: Option<Json>,
    /// The step registrations: inline, or a path to a registrations file (relative to this file).
    #[serde(default)]
    #[schemars(with = "StepsSource")]
    steps: Option<Json>,
    /// HTTP stubs answering the plug-ins' outbound requests in every case, after the case's own (BOX-6).
    #[serde(default)]
    http: Vec<super::http::StubFile>,
    /// The cases; each starts from a fresh copy of the organization.
    cases: Vec<CaseFile>,
}

/// The plug-ins and steps of suites, kept in a file of their own that suites name in `plugins` and `steps`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Registrations", title = "xrm-sandbox registrations")]
pub(crate) struct RegistrationsFile {
    /// The JSON Schema of this file, for editors (such as `./schemas/registrations.schema.json`); the sandbox
    /// ignores it.
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    /// The plug-ins by name: a path to a built component (`.wasm`), or `{"crate": "path"}` for a crate the
    /// sandbox builds; paths are relative to this file.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, PluginSource>")]
    plugins: Option<Json>,
    /// The step registrations, in registration order.
    #[serde(default)]
    #[schemars(with = "Vec<StepFile>")]
    steps: Option<Json>,
}

/// A case: actions run in order on a fresh copy of the organization.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Case")]
struct CaseFile {
    /// The case's name, unique in the suite; put the ids of the rules it checks in it to run them with `--filter`.
    name: String,
    /// Requests, `{"runasync": true}` and assertions, in order.
    #[schemars(with = "Vec<ActionForm>")]
    actions: Vec<Json>,
    /// HTTP stubs for this case, tried before the suite's (BOX-6).
    #[serde(default)]
    http: Vec<super::http::StubFile>,
}

/// A plug-in as the registrations name it: a built component or a crate to build.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum PluginSource {
    /// The path of a built component (`.wasm`).
    Path(String),
    /// A plug-in crate the sandbox builds for `wasm32-wasip2` itself.
    Crate {
        /// The crate's folder.
        #[serde(rename = "crate")]
        dir: String,
    },
}

/// `org` in a suite: a path, or the organization inline.
enum OrgSource {}

impl JsonSchema for OrgSource {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OrgSource".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        object(json!({
            "anyOf": [
                { "type": "string", "description": "The path of an organization file, relative to this file." },
                g.subschema_for::<crate::org::OrgFile>(),
            ],
        }))
    }
}

/// `plugins` in a suite: the map inline, or the path of a file (see `part`).
enum PluginsSource {}

impl JsonSchema for PluginsSource {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PluginsSource".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        path_or(g.subschema_for::<BTreeMap<String, PluginSource>>())
    }
}

/// `steps` in a suite: the list inline, or the path of a file (see `part`).
enum StepsSource {}

impl JsonSchema for StepsSource {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepsSource".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        path_or(g.subschema_for::<Vec<StepFile>>())
    }
}

fn path_or(inline: Schema) -> Schema {
    object(json!({
        "anyOf": [
            { "type": "string", "description": "The path of a registrations file, relative to this file." },
            inline,
        ],
    }))
}

/// An action of a case, as `load_action` tells them apart: `runasync`, `assert`, or else a request.
enum ActionForm {}

impl JsonSchema for ActionForm {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Action".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        object(json!({
            "anyOf": [
                g.subschema_for::<RequestFile>(),
                {
                    "type": "object",
                    "description": "Runs every queued asynchronous job (and the jobs they queue) to completion.",
                    "properties": { "runasync": { "const": true } },
                    "required": ["runasync"],
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "description": "Sets the case's clock (RFC 3339); it stands there until moved.",
                    "properties": { "clock": { "type": "string", "format": "date-time" } },
                    "required": ["clock"],
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "description": "Moves the case's clock by an ISO 8601 duration (P3D, PT2H, -P1M).",
                    "properties": { "advance": { "type": "string", "pattern": "^[-+]?P" } },
                    "required": ["advance"],
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "description": "Checks the records, traces and jobs as they are now, reading as SYSTEM.",
                    "properties": { "assert": g.subschema_for::<AssertFile>() },
                    "required": ["assert"],
                    "additionalProperties": false,
                },
            ],
        }))
    }
}

/// Loads and checks a suite file, its organization, its registrations and its plug-ins.
pub fn load(path: &Path) -> Result<Suite, FileErrors> {
    from_json(path, input::read_json(path)?)
}

/// Loads a suite given as JSON; `path` names it in errors, and relative paths in it are relative to its folder.
/// Every case is checked, and every mistake in them reported.
pub fn from_json(path: &Path, json: Json) -> Result<Suite, FileErrors> {
    let file: SuiteFile = input::from_value(path, "", json)?;
    let http = super::http::load_stubs(path, "http", file.http)?;
    let pipeline = load_pipeline(path, file.org, file.plugins, file.steps)?;
    let org = pipeline.org().clone();
    let steps: Vec<String> = pipeline.registrations().all().iter().map(|s| s.name.clone()).collect();
    let mut cases = Vec::with_capacity(file.cases.len());
    let mut names = HashSet::new();
    let mut errors = FileErrors::default();
    for (i, case) in file.cases.into_iter().enumerate() {
        if !names.insert(case.name.clone()) {
            errors.push(FileError::new(
                path,
                format!("cases[{i}].name"),
                format!("the case name `{}` is used twice", case.name),
            ));
        }
        if let Some(case) = errors.take(load_case(path, &org, &steps, i, case)) {
            cases.push(case);
        }
    }
    errors.or(Suite { name: file.name, file: path.to_owned(), pipeline: Arc::new(pipeline), cases, http })
}

/// Builds the pipeline a file describes: its organization, registrations and plug-ins (built if named by
/// crate), each inline in `path` or a path relative to it.
pub fn load_pipeline(
    path: &Path,
    org: Json,
    plugins: Option<Json>,
    steps: Option<Json>,
) -> Result<Pipeline, FileErrors> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let org = Arc::new(load_org(path, dir, org)?);
    let (plugins_file, plugins_json) = part(path, dir, "plugins", plugins, Json::Object(Map::new()))?;
    let (steps_file, steps_json) = part(path, dir, "steps", steps, Json::Array(Vec::new()))?;
    let sources: BTreeMap<String, PluginSource> =
        input::from_value(&plugins_file.file, &plugins_file.at, plugins_json)?;
    let names: Vec<String> = sources.keys().cloned().collect();
    let registrations = Registrations::load(&steps_file.file, &steps_file.at, steps_json, &org, &names)?;
    let mut loaded = HashMap::new();
    let mut errors = FileErrors::default();
    let plugin_dir = plugins_file.file.parent().unwrap_or(Path::new(".")).to_owned();
    for (name, source) in sources {
        // Only plug-ins a step uses are built and loaded.
        if registrations.all().iter().any(|s| s.plugin == name) {
            let at = input::join(&plugins_file.at, &name);
            let component = component_path(&plugins_file.file, &at, &plugin_dir, &source);
            let plugin = component.and_then(|c| {
                pipeline::load_plugin(&name, &c).map_err(|e| FileError::new(&plugins_file.file, at, e.to_string()))
            });
            if let Some(plugin) = errors.take(plugin) {
                loaded.insert(name, plugin);
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Pipeline::new(org, registrations, loaded).map_err(|e| FileError::new(path, "", e.reason).into())
}

fn load_org(path: &Path, dir: &Path, json: Json) -> Result<Organization, FileErrors> {
    match json {
        Json::String(rel) => Organization::load(&dir.join(rel)),
        inline @ Json::Object(_) => Organization::from_json(path, inline).map_err(|e| e.under("org")),
        other => Err(FileError::new(
            path,
            "org",
            format!("expected a path or an organization, found {}", xrm_model::json::kind(&other)),
        )
        .into()),
    }
}

/// Where a part of the registrations came from: the file, and the JSON path of the part in it.
struct Source {
    file: PathBuf,
    at: String,
}

/// `plugins` or `steps`: inline, or a path to a file holding either the part itself or a registrations file
/// (`RegistrationsFile`, read strictly so that a misspelt key is an error, and a missing part is empty).
fn part(path: &Path, dir: &Path, key: &str, json: Option<Json>, empty: Json) -> Result<(Source, Json), FileError> {
    match json {
        None => Ok((Source { file: path.to_owned(), at: key.to_owned() }, empty)),
        Some(Json::String(rel)) => {
            let file = dir.join(rel);
            let json: Json = input::read_json(&file)?;
            if !is_registrations(&json) {
                return Ok((Source { file, at: String::new() }, json));
            }
            let registrations: RegistrationsFile = input::from_value(&file, "", json)?;
            let inner = if key == "steps" { registrations.steps } else { registrations.plugins };
            Ok((Source { file, at: key.to_owned() }, inner.unwrap_or(empty)))
        }
        Some(inline) => Ok((Source { file: path.to_owned(), at: key.to_owned() }, inline)),
    }
}

/// A registrations file is an object with `plugins`, `steps` or `$schema`; any other file is the part itself.
fn is_registrations(json: &Json) -> bool {
    json.as_object().is_some_and(|o| ["$schema", "plugins", "steps"].iter().any(|k| o.contains_key(*k)))
}

fn component_path(file: &Path, at: &str, dir: &Path, source: &PluginSource) -> Result<PathBuf, FileError> {
    match source {
        PluginSource::Path(rel) => Ok(dir.join(rel)),
        PluginSource::Crate { dir: rel } => {
            crate::build::plugin_crate(&dir.join(rel)).map_err(|e| FileError::new(file, format!("{at}.crate"), e))
        }
    }
}

fn load_case(
    path: &Path,
    org: &Organization,
    steps: &[String],
    index: usize,
    case: CaseFile,
) -> Result<Case, FileErrors> {
    let at = format!("cases[{index}]");
    // The aliases earlier actions saved, with the table of the record each names (for hints).
    let mut saved: HashMap<String, Option<String>> = HashMap::new();
    let mut actions = Vec::with_capacity(case.actions.len());
    let mut errors = FileErrors::default();
    for (i, json) in case.actions.into_iter().enumerate() {
        let at = format!("{at}.actions[{i}]");
        // What the action saves is known to later actions even when the action itself is in error, so one
        // mistake is reported once, not again at every use of the name.
        let save = json.get("save").and_then(Json::as_str).map(str::to_owned);
        let known = Known { org, steps, saved: &saved };
        let loaded = errors.take(load_action(path, &at, &known, json));
        if let Some(name) = save {
            saved.insert(name, loaded.as_ref().and_then(|(_, table)| table.clone()));
        }
        if let Some((action, _)) = loaded {
            actions.push(action);
        }
    }
    if let Some(http) = errors.take(super::http::load_stubs(path, &format!("{at}.http"), case.http)) {
        return errors.or(Case { name: case.name, actions, http });
    }
    Err(errors)
}

/// A request by a user, and what must come of it (without `expect`, it must succeed).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RequestAction")]
struct RequestFile {
    /// The calling user (`@alias` or GUID).
    #[serde(rename = "as")]
    as_user: String,
    /// Acts on behalf of this user (`systemuserid`, `@alias` or GUID), as the SDK's CallerId.
    #[serde(default)]
    callerid: Option<String>,
    /// Acts on behalf of the user with this Microsoft Entra object id, as the Web API's CallerObjectId header.
    #[serde(default)]
    callerobjectid: Option<String>,
    /// Acts on behalf of this user (`systemuserid`, `@alias` or GUID), as the Web API's MSCRMCallerID header.
    #[serde(default)]
    mscrmcallerid: Option<String>,
    /// A label for the request in reports.
    #[serde(default)]
    tag: Option<String>,
    /// The client's user agent, which plug-ins read as `InitiatingUserAgent`.
    #[serde(default)]
    useragent: Option<String>,
    /// The request: its message and parameters.
    #[schemars(with = "crate::schema::RequestForm")]
    request: Json,
    /// Names the id the request created or targeted, for `@name` in later actions of the case.
    #[serde(default)]
    save: Option<String>,
    /// What must come of the request.
    #[serde(default)]
    expect: Option<ExpectFile>,
}

/// What a request must end with: success (`"ok": true`, the default) or an error, and output parameters.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Expect")]
struct ExpectFile {
    /// `true`: the request must succeed; `false`: it must fail, with any error.
    #[serde(default)]
    ok: Option<bool>,
    /// The error the request must fail with.
    #[serde(default)]
    error: Option<ExpectedError>,
    /// Output parameters the response must have (Create gives `id`, Retrieve `entity`, RetrieveMultiple
    /// `entities` and `count`).
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, crate::schema::ExpectedForm>>")]
    output: Option<Map<String, Json>>,
}

/// Checks on the store as it is now, reading as SYSTEM.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Assert")]
struct AssertFile {
    /// Records that must exist, or not.
    #[serde(default)]
    records: Vec<RecordAssert>,
    /// Trace log text the steps wrote.
    #[serde(default)]
    traces: Vec<TraceAssert>,
    /// Asynchronous jobs and their status.
    #[serde(default)]
    jobs: Vec<super::JobAssert>,
    /// HTTP requests the plug-ins sent (BOX-6).
    #[serde(default)]
    http: Option<super::http::HttpAssert>,
}

/// An action, and for a request the table of the record it is about (what `save` names).
fn load_action(path: &Path, at: &str, known: &Known, json: Json) -> Result<(Action, Option<String>), FileErrors> {
    let fail = |errors: Vec<JsonError>| FileErrors(errors.into_iter().map(|e| FileError::json(path, e)).collect());
    let Some(obj) = json.as_object() else {
        return Err(FileError::new(
            path,
            at,
            "expected an action: a request, `{\"runasync\": true}`, `{\"assert\": …}`, `{\"clock\": …}` or `{\"advance\": …}`",
        )
        .into());
    };
    if let Some(flag) = obj.get("runasync") {
        xrm_model::json::check_keys(obj, &["runasync"], &JsonPath::Root(at)).map_err(|e| FileError::json(path, e))?;
        return match flag {
            Json::Bool(true) => Ok((Action::RunAsync, None)),
            _ => Err(FileError::new(path, format!("{at}.runasync"), "expected `true`").into()),
        };
    }
    if let Some(at_text) = obj.get("clock") {
        xrm_model::json::check_keys(obj, &["clock"], &JsonPath::Root(at)).map_err(|e| FileError::json(path, e))?;
        let when = at_text.as_str().and_then(xrm_model::json::parse_datetime);
        return when.map(|w| (Action::Clock(w), None)).ok_or_else(|| {
            FileError::new(
                path,
                format!("{at}.clock"),
                "expected an RFC 3339 date and time, such as \"2026-12-01T09:00:00Z\"",
            )
            .into()
        });
    }
    if let Some(by) = obj.get("advance") {
        xrm_model::json::check_keys(obj, &["advance"], &JsonPath::Root(at)).map_err(|e| FileError::json(path, e))?;
        let period = by.as_str().and_then(crate::clock::Period::parse);
        return period.map(|p| (Action::Advance(p), None)).ok_or_else(|| {
            FileError::new(
                path,
                format!("{at}.advance"),
                "expected an ISO 8601 duration, such as \"P3D\", \"PT2H\" or \"-P1M\"",
            )
            .into()
        });
    }
    if let Some(assert) = obj.get("assert") {
        xrm_model::json::check_keys(obj, &["assert"], &JsonPath::Root(at)).map_err(|e| FileError::json(path, e))?;
        let root = format!("{at}.assert");
        let a: AssertFile = input::from_value(path, &root, assert.clone())?;
        let problems = known.assert(&a.records, &a.traces, &a.jobs, &root);
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        return Ok((Action::Assert(Assert { records: a.records, traces: a.traces, jobs: a.jobs, http: a.http }), None));
    }
    let r: RequestFile = input::from_value(path, at, json)?;
    let org = known.org;
    let unknown = RefCell::new(Vec::new());
    let resolve = |alias: &str| org.alias(alias).or_else(|| known.saved.contains_key(alias).then(Uuid::nil));
    let reader = Reader::noting_unknown(&resolve, &unknown);
    let mut problems = Vec::new();
    let user = |key: &str, text: &str| {
        let at = format!("{at}.{key}");
        let id = reader.guid_text(text, &JsonPath::Root(&at))?;
        org.check_user_alias(text).map(|()| id).map_err(|e| JsonError { path: at, message: e })
    };
    match user("as", &r.as_user) {
        Ok(id) if id == org.system_user => problems.push(JsonError {
            path: format!("{at}.as"),
            message:
                "SYSTEM cannot be a calling user (ORG-2): it is reached only through CreateOrganizationService(null)"
                    .into(),
        }),
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    // The first constructor's type, a plain function pointer, is the array's: each variant is one.
    let headers = [
        ("callerid", OnBehalfOf::CallerId as fn(String) -> OnBehalfOf, &r.callerid),
        ("callerobjectid", OnBehalfOf::CallerObjectId, &r.callerobjectid),
        ("mscrmcallerid", OnBehalfOf::MscrmCallerId, &r.mscrmcallerid),
    ];
    let mut on_behalf_of = None;
    for (key, header, value) in headers {
        let Some(value) = value else { continue };
        if on_behalf_of.is_some() {
            problems.push(JsonError {
                path: format!("{at}.{key}"),
                message: "one of callerid, callerobjectid and mscrmcallerid at a time".into(),
            });
        }
        if let Err(e) = user(key, value) {
            problems.push(e);
        }
        on_behalf_of = Some(header(value.clone()));
    }
    // Checked now with placeholders for saved ids; read again when the action runs.
    let root = format!("{at}.request");
    let request = match reader.request(&r.request, &JsonPath::Root(&root)) {
        Ok(request) => Some(request),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    problems.extend(unknown.borrow().iter().map(|u| known.unknown_alias(u)));
    // A request that must fail may name what does not exist on purpose (that is what it tests): its shape
    // and aliases are checked, not its names.
    let must_fail = r.expect.as_ref().is_some_and(|e| e.error.is_some() || e.ok == Some(false));
    if let Some(request) = request.as_ref().filter(|_| !must_fail) {
        problems.extend(known.request(&r.request, request, &root));
        if let Some(output) = r.expect.as_ref().and_then(|e| e.output.as_ref()) {
            problems.extend(known.output(output, request, &format!("{at}.expect.output")));
        }
    }
    let mut errors = fail(problems);
    let expect = match r.expect {
        None => Expect::default(),
        Some(e) => {
            if e.ok == Some(true) && e.error.is_some() {
                errors.push(FileError::new(
                    path,
                    format!("{at}.expect"),
                    "`ok: true` and `error` contradict each other",
                ));
            }
            Expect { error: e.error.or_else(|| (e.ok == Some(false)).then(ExpectedError::default)), output: e.output }
        }
    };
    if let Some(code) = expect.error.as_ref().and_then(|e| e.code.as_ref())
        && super::check::parse_code(code).is_none()
    {
        errors.push(FileError::new(
            path,
            format!("{at}.expect.error.code"),
            format!("`{code}` is not an error code such as \"0x80040220\""),
        ));
    }
    let table = request.as_ref().and_then(|r| r.target_reference()).map(|t| t.logical_name);
    let action = Action::Request(Box::new(RequestAction {
        as_user: r.as_user,
        on_behalf_of,
        tag: r.tag,
        user_agent: r.useragent,
        request: r.request,
        save: r.save,
        expect,
    }));
    errors.or((action, table))
}
