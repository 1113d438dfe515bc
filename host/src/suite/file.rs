//! Reading a suite (`formats.md`, "Suite"): its organization, plug-ins and steps, inline or in files of their
//! own, and its cases. Everything is checked before anything runs; aliases a request uses must be known to
//! the organization or saved by an earlier action of the same case.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value as Json};
use xrm_model::Uuid;
use xrm_model::json::{Path as JsonPath, Reader};

use super::{Action, Assert, Case, Expect, ExpectedError, RecordAssert, RequestAction, Suite, TraceAssert};
use crate::input::{self, FileError};
use crate::org::Organization;
use crate::pipeline::{self, Pipeline, Registrations};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    name: String,
    org: Json,
    #[serde(default)]
    plugins: Option<Json>,
    #[serde(default)]
    steps: Option<Json>,
    cases: Vec<CaseFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    name: String,
    actions: Vec<Json>,
}

/// A plug-in as the registrations name it: a built component or a crate to build.
#[derive(Deserialize)]
#[serde(untagged)]
enum PluginSource {
    Path(String),
    Crate {
        #[serde(rename = "crate")]
        dir: String,
    },
}

/// Loads and checks a suite file, its organization, its registrations and its plug-ins.
pub fn load(path: &Path) -> Result<Suite, FileError> {
    let file: SuiteFile = input::read_json(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let org = Arc::new(load_org(path, dir, file.org)?);
    let (plugins_file, plugins_json) = part(path, dir, "plugins", file.plugins, Json::Object(Map::new()))?;
    let (steps_file, steps_json) = part(path, dir, "steps", file.steps, Json::Array(Vec::new()))?;
    let sources: BTreeMap<String, PluginSource> =
        input::from_value(&plugins_file.file, &plugins_file.at, plugins_json)?;
    let names: Vec<String> = sources.keys().cloned().collect();
    let registrations = Registrations::load(&steps_file.file, &steps_file.at, steps_json, &org, &names)?;
    let mut plugins = HashMap::new();
    let plugin_dir = plugins_file.file.parent().unwrap_or(Path::new(".")).to_owned();
    for (name, source) in sources {
        // Only plug-ins a step uses are built and loaded.
        if registrations.all().iter().any(|s| s.plugin == name) {
            let at = format!("{}{}{name}", plugins_file.at, if plugins_file.at.is_empty() { "" } else { "." });
            let component = component_path(&plugins_file.file, &at, &plugin_dir, &source)?;
            let plugin = pipeline::load_plugin(&name, &component)
                .map_err(|e| FileError::new(&plugins_file.file, at, e.to_string()))?;
            plugins.insert(name, plugin);
        }
    }
    let pipeline =
        Pipeline::new(org.clone(), registrations, plugins).map_err(|e| FileError::new(path, "", e.reason))?;
    let mut cases = Vec::with_capacity(file.cases.len());
    let mut names = HashSet::new();
    for (i, case) in file.cases.into_iter().enumerate() {
        if !names.insert(case.name.clone()) {
            return Err(FileError::new(
                path,
                format!("cases[{i}].name"),
                format!("the case name `{}` is used twice", case.name),
            ));
        }
        cases.push(load_case(path, &org, i, case)?);
    }
    Ok(Suite { name: file.name, file: path.to_owned(), pipeline: Arc::new(pipeline), cases })
}

fn load_org(path: &Path, dir: &Path, json: Json) -> Result<Organization, FileError> {
    match json {
        Json::String(rel) => Organization::load(&dir.join(rel)),
        inline @ Json::Object(_) => Organization::from_json(path, inline),
        other => Err(FileError::new(
            path,
            "org",
            format!("expected a path or an organization, found {}", xrm_model::json::kind(&other)),
        )),
    }
}

/// Where a part of the registrations came from: the file, and the JSON path of the part in it.
struct Source {
    file: PathBuf,
    at: String,
}

/// `plugins` or `steps`: inline, or a path to a file holding either the part itself or a registrations file
/// with that key.
fn part(path: &Path, dir: &Path, key: &str, json: Option<Json>, empty: Json) -> Result<(Source, Json), FileError> {
    match json {
        None => Ok((Source { file: path.to_owned(), at: key.to_owned() }, empty)),
        Some(Json::String(rel)) => {
            let file = dir.join(rel);
            let mut json: Json = input::read_json(&file)?;
            match json.as_object_mut().and_then(|o| o.remove(key)) {
                Some(inner) => Ok((Source { file, at: key.to_owned() }, inner)),
                None => Ok((Source { file, at: String::new() }, json)),
            }
        }
        Some(inline) => Ok((Source { file: path.to_owned(), at: key.to_owned() }, inline)),
    }
}

fn component_path(file: &Path, at: &str, dir: &Path, source: &PluginSource) -> Result<PathBuf, FileError> {
    match source {
        PluginSource::Path(rel) => Ok(dir.join(rel)),
        PluginSource::Crate { dir: rel } => {
            crate::build::plugin_crate(&dir.join(rel)).map_err(|e| FileError::new(file, format!("{at}.crate"), e))
        }
    }
}

fn load_case(path: &Path, org: &Organization, index: usize, case: CaseFile) -> Result<Case, FileError> {
    let at = format!("cases[{index}]");
    let mut saved: HashSet<String> = HashSet::new();
    let mut actions = Vec::with_capacity(case.actions.len());
    for (i, json) in case.actions.into_iter().enumerate() {
        let at = format!("{at}.actions[{i}]");
        let action = load_action(path, &at, org, &saved, json)?;
        if let Action::Request(r) = &action
            && let Some(name) = &r.save
        {
            saved.insert(name.clone());
        }
        actions.push(action);
    }
    Ok(Case { name: case.name, actions })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFile {
    #[serde(rename = "as")]
    as_user: String,
    #[serde(default)]
    callerid: Option<String>,
    #[serde(default)]
    callerobjectid: Option<String>,
    #[serde(default)]
    mscrmcallerid: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    request: Json,
    #[serde(default)]
    save: Option<String>,
    #[serde(default)]
    expect: Option<ExpectFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    error: Option<ExpectedError>,
    #[serde(default)]
    output: Option<Map<String, Json>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssertFile {
    #[serde(default)]
    records: Vec<RecordAssert>,
    #[serde(default)]
    traces: Vec<TraceAssert>,
    #[serde(default)]
    jobs: Vec<super::JobAssert>,
}

fn load_action(
    path: &Path,
    at: &str,
    org: &Organization,
    saved: &HashSet<String>,
    json: Json,
) -> Result<Action, FileError> {
    let Some(obj) = json.as_object() else {
        return Err(FileError::new(
            path,
            at,
            "expected an action: a request, `{\"runasync\": true}` or `{\"assert\": …}`",
        ));
    };
    if let Some(flag) = obj.get("runasync") {
        xrm_model::json::check_keys(obj, &["runasync"], &JsonPath::Root(at)).map_err(|e| FileError::json(path, e))?;
        return match flag {
            Json::Bool(true) => Ok(Action::RunAsync),
            _ => Err(FileError::new(path, format!("{at}.runasync"), "expected `true`")),
        };
    }
    if let Some(assert) = obj.get("assert") {
        xrm_model::json::check_keys(obj, &["assert"], &JsonPath::Root(at)).map_err(|e| FileError::json(path, e))?;
        let a: AssertFile = input::from_value(path, &format!("{at}.assert"), assert.clone())?;
        check_assert_aliases(path, &format!("{at}.assert"), org, saved, &a)?;
        return Ok(Action::Assert(Assert { records: a.records, traces: a.traces, jobs: a.jobs }));
    }
    let r: RequestFile = input::from_value(path, at, json)?;
    let known = |alias: &str| org.alias(alias).or_else(|| saved.contains(alias).then(Uuid::nil));
    let reader = Reader::new(&known);
    let user = |key: &str, text: &str| {
        reader.guid_text(text, &JsonPath::Root(&format!("{at}.{key}"))).map_err(|e| FileError::json(path, e))
    };
    let caller = user("as", &r.as_user)?;
    if caller == org.system_user {
        return Err(FileError::new(
            path,
            format!("{at}.as"),
            "SYSTEM cannot be a calling user (ORG-2): it is reached only through CreateOrganizationService(null)",
        ));
    }
    let headers = [
        ("callerid", super::Header::CallerId, &r.callerid),
        ("callerobjectid", super::Header::CallerObjectId, &r.callerobjectid),
        ("mscrmcallerid", super::Header::MscrmCallerId, &r.mscrmcallerid),
    ];
    let mut on_behalf_of = None;
    for (key, header, value) in headers {
        let Some(value) = value else { continue };
        if on_behalf_of.is_some() {
            return Err(FileError::new(
                path,
                format!("{at}.{key}"),
                "one of callerid, callerobjectid and mscrmcallerid at a time",
            ));
        }
        user(key, value)?;
        on_behalf_of = Some((header, value.clone()));
    }
    // Checked now with placeholders for saved ids; read again when the action runs.
    let root = format!("{at}.request");
    reader.request(&r.request, &JsonPath::Root(&root)).map_err(|e| FileError::json(path, e))?;
    let expect = match r.expect {
        None => Expect::default(),
        Some(e) => {
            if e.ok == Some(true) && e.error.is_some() {
                return Err(FileError::new(
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
        return Err(FileError::new(
            path,
            format!("{at}.expect.error.code"),
            format!("`{code}` is not an error code such as \"0x80040220\""),
        ));
    }
    Ok(Action::Request(Box::new(RequestAction {
        as_user: r.as_user,
        on_behalf_of,
        tag: r.tag,
        request: r.request,
        save: r.save,
        expect,
    })))
}

/// Aliases in expected values must be known too: a typo is an input error, not a failed case.
fn check_assert_aliases(
    path: &Path,
    at: &str,
    org: &Organization,
    saved: &HashSet<String>,
    a: &AssertFile,
) -> Result<(), FileError> {
    for (i, r) in a.records.iter().enumerate() {
        if org.table(&r.table).is_none() {
            return Err(FileError::new(
                path,
                format!("{at}.records[{i}].@logicalname"),
                format!("unknown table `{}`", r.table),
            ));
        }
        for (key, value) in r.filter.iter().chain(r.columns.iter().flatten()) {
            check_aliases_in(path, &format!("{at}.records[{i}].{key}"), org, saved, value)?;
        }
    }
    Ok(())
}

fn check_aliases_in(
    path: &Path,
    at: &str,
    org: &Organization,
    saved: &HashSet<String>,
    value: &Json,
) -> Result<(), FileError> {
    match value {
        Json::String(s) => match s.strip_prefix('@') {
            Some(alias)
                if alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') && !alias.is_empty() =>
            {
                match org.alias(alias).is_some() || saved.contains(alias) {
                    true => Ok(()),
                    false => Err(FileError::new(path, at, format!("unknown alias `{s}`"))),
                }
            }
            _ => Ok(()),
        },
        Json::Array(items) => items.iter().try_for_each(|v| check_aliases_in(path, at, org, saved, v)),
        Json::Object(obj) => obj.values().try_for_each(|v| check_aliases_in(path, at, org, saved, v)),
        _ => Ok(()),
    }
}
