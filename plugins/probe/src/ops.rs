//! The probe's ops: checked when the configuration is read, filled in and run one by one.

use serde_json::{Map, Value as Json};
use xrm_sandbox_guest::json::{self, JsonError, Path, Reader};
use xrm_sandbox_guest::{
    ColumnSet, Entity, OrganizationService, ParameterValue, PluginContext, PluginError, Request, Uuid, messages, trace,
};

use crate::placeholders::{NONE, Saved, Scope, parameter_text};
use crate::rows;

/// Each op's name and the other keys it accepts.
const OPS: &[(&str, &[&str])] = &[
    ("trace", &[]),
    ("create", &["as", "save"]),
    ("update", &["as"]),
    ("delete", &["as"]),
    ("retrieve", &["columns", "as", "trace", "formatted"]),
    ("retrievemultiple", &["as", "trace", "save", "formatted", "aliased"]),
    ("execute", &["as", "trace"]),
    ("settarget", &[]),
    ("settargets", &[]),
    ("setoutput", &[]),
    ("setshared", &[]),
    ("throw", &[]),
    ("retry", &[]),
    ("catch", &[]),
    ("panic", &[]),
    ("spin", &[]),
    ("allocate", &[]),
    ("recurse", &[]),
    ("when", &["ops"]),
    ("environmentvariable", &[]),
    ("http", &["trace", "save"]),
];

/// One op of the configuration, as written.
#[derive(Debug)]
pub struct Op {
    /// Where the op sits, such as `ops[2]` or `ops[1].catch[0]`, for error messages.
    path: String,
    name: &'static str,
    body: Map<String, Json>,
    /// Whether the body holds a `{` to fill in (outside nested ops); most ops have none and run as written.
    has_placeholders: bool,
    /// The ops of `catch` and `when`.
    nested: Vec<Op>,
}

/// The keys whose values are nested ops: they are filled in when they run, not with the op around them.
const NESTED_KEYS: &[&str] = &["catch", "ops"];

/// Reads `{"ops": [...]}`, checking every op's name and keys before anything runs.
pub fn parse_configuration(text: Option<&str>) -> Result<Vec<Op>, PluginError> {
    let text = text.ok_or_else(|| config_error("missing; expected {\"ops\": [...]}"))?;
    let json: Json = serde_json::from_str(text).map_err(|e| config_error(format!("not valid JSON: {e}")))?;
    let Json::Object(mut obj) = json else {
        return Err(config_error("expected an object {\"ops\": [...]}"));
    };
    json::check_keys(&obj, &["ops"], &Path::Root("configuration")).map_err(json_error)?;
    let ops = obj.remove("ops").ok_or_else(|| config_error("missing `ops`"))?;
    parse_list(ops, "ops")
}

fn parse_list(json: Json, path: &str) -> Result<Vec<Op>, PluginError> {
    let Json::Array(items) = json else {
        return Err(config_error(format!("{path}: expected a list of ops")));
    };
    items.into_iter().enumerate().map(|(i, item)| parse_op(item, format!("{path}[{i}]"))).collect()
}

fn parse_op(json: Json, path: String) -> Result<Op, PluginError> {
    let Json::Object(body) = json else {
        return Err(config_error(format!("{path}: expected an op object")));
    };
    // `trace` is an op and also a key of other ops: an op name that is another present op's key is that key.
    // The keys are compared as text, not looked up: an op has a few keys and there are many op names.
    let present: Vec<&(&str, &[&str])> = OPS.iter().filter(|(name, _)| body.keys().any(|k| k == name)).collect();
    let is_key = |name: &str| present.iter().any(|(_, extra)| extra.contains(&name));
    let mut names = present.iter().filter(|(name, _)| !is_key(name));
    let (name, extra) = match (names.next(), names.next()) {
        (Some(op), None) => **op,
        (Some((a, _)), Some((b, _))) => {
            return Err(config_error(format!("{path}: one op per object, found both `{a}` and `{b}`")));
        }
        (None, _) => {
            let known: Vec<&str> = OPS.iter().map(|(name, _)| *name).collect();
            return Err(config_error(format!("{path}: unknown op (expected one of: {})", known.join(", "))));
        }
    };
    if let Some(key) = body.keys().find(|k| k.as_str() != name && !extra.contains(&k.as_str())) {
        let allowed = if extra.is_empty() { "no other keys".to_owned() } else { extra.join(", ") };
        return Err(config_error(format!("{path}: unknown key `{key}` for `{name}` (allowed: {allowed})")));
    }
    let nested = match name {
        "catch" => parse_list(body.get(name).cloned().unwrap_or(Json::Null), &format!("{path}.catch"))?,
        "when" => {
            let ops = body.get("ops").ok_or_else(|| config_error(format!("{path}: `when` needs `ops`")))?;
            parse_list(ops.clone(), &format!("{path}.ops"))?
        }
        _ => Vec::new(),
    };
    let has_placeholders =
        body.iter().any(|(k, v)| k.contains('{') || (!NESTED_KEYS.contains(&k.as_str()) && braces(v)));
    Ok(Op { path, name, body, has_placeholders, nested })
}

/// Whether any text in `json` holds a `{`, keys included.
fn braces(json: &Json) -> bool {
    match json {
        Json::String(s) => s.contains('{'),
        Json::Array(items) => items.iter().any(braces),
        Json::Object(obj) => obj.iter().any(|(k, v)| k.contains('{') || braces(v)),
        _ => false,
    }
}

fn config_error(what: impl std::fmt::Display) -> PluginError {
    PluginError::invalid(format!("probe configuration: {what}"))
}

fn json_error(error: JsonError) -> PluginError {
    config_error(error)
}

/// Whose service an op calls through: the `as` key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    /// `"null"`: `CreateOrganizationService(null)`, SYSTEM.
    System,
    /// `"empty"`: the empty GUID, which the platform reads as `UserId`.
    Empty,
    /// `"user"` (the default): `context.UserId`.
    User,
    /// `"initiating"`: `context.InitiatingUserId`.
    Initiating,
    /// A user's GUID (aliases were replaced by the host).
    Id(Uuid),
}

impl Who {
    fn parse(json: Option<&Json>, path: &str) -> Result<Who, PluginError> {
        Ok(match json {
            None => Who::User,
            Some(Json::Null) => Who::System,
            Some(Json::String(s)) => match s.as_str() {
                "null" => Who::System,
                "empty" => Who::Empty,
                "user" => Who::User,
                "initiating" => Who::Initiating,
                other => Who::Id(Uuid::parse_str(other).map_err(|_| {
                    config_error(format!("{path}.as: `{other}` is not null, empty, user, initiating or a user's GUID"))
                })?),
            },
            Some(other) => {
                return Err(config_error(format!("{path}.as: expected a string, found {}", json::kind(other))));
            }
        })
    }

    fn user_id(self, context: &PluginContext) -> Option<Uuid> {
        match self {
            Who::System => None,
            Who::Empty => Some(Uuid::nil()),
            Who::User => Some(context.user_id()),
            Who::Initiating => Some(context.initiating_user_id()),
            Who::Id(id) => Some(id),
        }
    }
}

/// Runs ops against one execution, keeping the ids they save.
pub struct Runner<'c, 'a> {
    context: &'c PluginContext<'a>,
    saved: Saved,
}

impl<'c, 'a> Runner<'c, 'a> {
    pub fn new(context: &'c PluginContext<'a>) -> Self {
        Runner { context, saved: Saved::new() }
    }

    /// Runs the ops in order; the first error ends the run.
    pub fn run_all(&mut self, ops: &[Op]) -> Result<(), PluginError> {
        ops.iter().try_for_each(|op| self.run(op))
    }

    fn scope(&self) -> Scope<'_, 'a> {
        Scope { context: self.context, saved: &self.saved }
    }

    fn run(&mut self, op: &Op) -> Result<(), PluginError> {
        // Nested ops are filled in when they run, so they see what the ops before them saved.
        let expanded;
        let body = match op.has_placeholders {
            true => {
                expanded = self.scope().expand_object(&op.body, NESTED_KEYS);
                &expanded
            }
            false => &op.body,
        };
        let step = Step { op, body };
        match op.name {
            "trace" => step.trace(),
            "create" => self.create(&step),
            "update" => step.update(self.context),
            "delete" => step.delete(self.context),
            "retrieve" => step.retrieve(self.context),
            "retrievemultiple" => self.retrieve_multiple(&step),
            "execute" => step.execute(self.context),
            "settarget" => step.set_target(self.context),
            "settargets" => step.set_targets(self.context),
            "setoutput" => step.set_parameters(|name, value| self.context.set_output_parameter(name, value)),
            "setshared" => step.set_parameters(|name, value| self.context.set_shared_variable(name, value)),
            "throw" => Err(PluginError::invalid(step.text()?)),
            "retry" => Err(PluginError::retry(step.text()?)),
            "catch" => self.catch(&op.nested),
            "panic" => panic(&step.text()?),
            "spin" => step.spin(),
            "allocate" => step.allocate(),
            "recurse" => step.recurse(),
            "when" => self.when(&step),
            "environmentvariable" => step.environment_variable(self.context),
            "http" => self.http(&step),
            other => Err(config_error(format!("{}: unknown op `{other}`", op.path))),
        }
    }

    fn create(&mut self, step: &Step) -> Result<(), PluginError> {
        let entity = step.reader(|r, v, p| r.entity(v, p))?;
        let id = step.service(self.context)?.create(&entity)?;
        if let Some(name) = step.body.get("save") {
            let name = name.as_str().ok_or_else(|| step.error("`save` must be a string"))?;
            self.saved.insert(name.to_owned(), id.to_string());
        }
        Ok(())
    }

    /// Runs a query; `trace` traces the row count, `save` keeps it for `{saved.name}` (so `when` can branch on
    /// what the store holds).
    fn retrieve_multiple(&mut self, step: &Step) -> Result<(), PluginError> {
        let query = step.reader(|r, v, p| r.query(v, p))?;
        let rows = step.service(self.context)?.retrieve_multiple(query)?;
        if step.flag("trace")? {
            // QRY-9: the total record count, when the query asked for it.
            let total = match (rows.total_record_count, rows.total_record_count_limit_exceeded) {
                (-1, _) => String::new(),
                (n, false) => format!(" total={n}"),
                (n, true) => format!(" total={n} (limit exceeded)"),
            };
            trace!("retrievemultiple {}: count={}{total}", rows.entity_name, rows.entities.len());
        }
        if step.flag("formatted")? {
            for (i, row) in rows.entities.iter().enumerate() {
                trace!("formatted row {i}: {}", rows::formatted(row));
            }
        }
        if step.flag("aliased")? {
            for (i, row) in rows.entities.iter().enumerate() {
                trace!("aliased row {i}: {}", rows::aliased(row)?);
            }
        }
        if let Some(name) = step.body.get("save") {
            let name = name.as_str().ok_or_else(|| step.error("`save` must be a string"))?;
            self.saved.insert(name.to_owned(), rows.entities.len().to_string());
        }
        Ok(())
    }

    /// Runs the nested ops and swallows their error, tracing it, as a plug-in's `catch` block would.
    fn catch(&mut self, ops: &[Op]) -> Result<(), PluginError> {
        if let Err(error) = self.run_all(ops) {
            trace!("caught: {error}");
        }
        Ok(())
    }

    /// Sends an HTTP request (BOX-6); `trace` traces `http <status>: <body>`, `save` keeps the status for
    /// `{saved.name}`. A failed request fails the op with the client's error (catch it to trace it).
    #[cfg(feature = "http")]
    fn http(&mut self, step: &Step) -> Result<(), PluginError> {
        let request = step.http_request()?;
        let response = request.send()?;
        if step.flag("trace")? {
            trace!("http {}: {}", response.status, response.text());
        }
        if let Some(name) = step.body.get("save") {
            let name = name.as_str().ok_or_else(|| step.error("`save` must be a string"))?;
            self.saved.insert(name.to_owned(), response.status.to_string());
        }
        Ok(())
    }

    /// Without the `http` feature the probe imports no `wasi:http` function (the benchmarks build it so).
    #[cfg(not(feature = "http"))]
    fn http(&mut self, step: &Step) -> Result<(), PluginError> {
        Err(step.error("this probe is built without its `http` feature"))
    }

    fn when(&mut self, step: &Step) -> Result<(), PluginError> {
        let conditions = step.object()?;
        for (name, expected) in conditions {
            let name = name.trim_start_matches('{').trim_end_matches('}');
            let expected = match expected {
                Json::String(s) => s.clone(),
                Json::Number(_) | Json::Bool(_) => expected.to_string(),
                Json::Null => NONE.to_owned(),
                other => {
                    return Err(step.error(format!("`{name}` must be text, found {}", json::kind(other))));
                }
            };
            let actual =
                self.scope().render(name).ok_or_else(|| step.error(format!("unknown placeholder `{name}`")))?;
            if actual != expected {
                return Ok(());
            }
        }
        self.run_all(&step.op.nested)
    }
}

/// One op with its placeholders filled in.
struct Step<'o> {
    op: &'o Op,
    body: &'o Map<String, Json>,
}

impl Step<'_> {
    /// The op's own value (under its name).
    fn value(&self) -> &Json {
        self.body.get(self.op.name).unwrap_or(&Json::Null)
    }

    fn error(&self, what: impl std::fmt::Display) -> PluginError {
        config_error(format!("{}.{}: {what}", self.op.path, self.op.name))
    }

    fn text(&self) -> Result<String, PluginError> {
        self.value().as_str().map(str::to_owned).ok_or_else(|| self.error("expected text"))
    }

    fn trace(&self) -> Result<(), PluginError> {
        trace!("{}", self.text()?);
        Ok(())
    }

    fn object(&self) -> Result<&Map<String, Json>, PluginError> {
        self.value()
            .as_object()
            .ok_or_else(|| self.error(format!("expected an object, found {}", json::kind(self.value()))))
    }

    fn count(&self) -> Result<u64, PluginError> {
        self.value().as_u64().ok_or_else(|| self.error("expected a non-negative whole number"))
    }

    fn flag(&self, key: &str) -> Result<bool, PluginError> {
        match self.body.get(key) {
            None => Ok(false),
            Some(v) => {
                v.as_bool().ok_or_else(|| config_error(format!("{}.{key}: expected true or false", self.op.path)))
            }
        }
    }

    /// Reads the op's value with the model's JSON reader, reporting errors at `ops[i].name…`.
    fn reader<T>(&self, read: impl Fn(&Reader, &Json, &Path) -> json::Result<T>) -> Result<T, PluginError> {
        let root = format!("{}.{}", self.op.path, self.op.name);
        read(&Reader::default(), self.value(), &Path::Root(&root)).map_err(json_error)
    }

    fn service(&self, context: &PluginContext) -> Result<OrganizationService, PluginError> {
        let who = Who::parse(self.body.get("as"), &self.op.path)?;
        Ok(context.service_factory().create_organization_service(who.user_id(context)))
    }

    fn update(&self, context: &PluginContext) -> Result<(), PluginError> {
        let entity = self.reader(|r, v, p| r.entity(v, p))?;
        if entity.id.is_none() {
            return Err(self.error("an update needs `@id`"));
        }
        Ok(self.service(context)?.update(&entity)?)
    }

    /// Deletes by id, or through `Execute` for a reference by alternate key (as the platform's `Delete` method
    /// takes an id only).
    fn delete(&self, context: &PluginContext) -> Result<(), PluginError> {
        let target = self.reader(|r, v, p| r.reference(v, p))?;
        let service = self.service(context)?;
        match target.key_attributes.is_empty() {
            true => Ok(service.delete(&target.logical_name, target.id)?),
            false => Ok(service.execute(&Request::delete(target)).map(|_| ())?),
        }
    }

    /// Traces `retrieved <table> <id>: column=value, …` (the listed columns in order, else all it read).
    fn retrieve(&self, context: &PluginContext) -> Result<(), PluginError> {
        let target = self.reader(|r, v, p| r.reference(v, p))?;
        let columns = match self.body.get("columns") {
            Some(c) => json::column_set(c, &Path::Root(&format!("{}.columns", self.op.path))).map_err(json_error)?,
            None => ColumnSet::AllColumns,
        };
        let service = self.service(context)?;
        let entity = match target.key_attributes.is_empty() {
            true => service.retrieve(&target.logical_name, target.id, &columns)?,
            // By alternate key: through `Execute`, as the platform's `Retrieve` method takes an id only.
            false => {
                let response = service.execute(&Request::retrieve(target.clone(), columns.clone()))?;
                response.results.get(messages::ENTITY).and_then(ParameterValue::as_entity).cloned().unwrap_or_default()
            }
        };
        if self.flag("trace")? {
            let id = entity.id.unwrap_or(target.id);
            trace!("retrieved {} {id}: {}", target.logical_name, describe(&entity, &columns));
        }
        if self.flag("formatted")? {
            trace!("formatted {}: {}", target.logical_name, rows::formatted(&entity));
        }
        Ok(())
    }

    /// Traces `executed <message>: name=value, …` with the response's results.
    fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
        let request: Request = self.reader(|r, v, p| r.request(v, p))?;
        let response = self.service(context)?.execute(&request)?;
        if self.flag("trace")? {
            let results: Vec<String> =
                response.results.iter().map(|(name, value)| format!("{name}={}", parameter_text(value))).collect();
            trace!("executed {}: {}", request.message, results.join(", "));
        }
        Ok(())
    }

    fn set_target(&self, context: &PluginContext) -> Result<(), PluginError> {
        let mut target =
            context.target_entity().ok_or_else(|| self.error("the Target input parameter is not an entity"))?;
        let root = format!("{}.settarget", self.op.path);
        let path = Path::Root(&root);
        for (column, value) in self.object()? {
            let value = Reader::default().value(value, &path.key(column)).map_err(json_error)?;
            target.attributes.insert(column.clone(), value);
        }
        Ok(context.set_target(target)?)
    }

    /// Sets the columns on every entity of a bulk message's `Targets`.
    fn set_targets(&self, context: &PluginContext) -> Result<(), PluginError> {
        let mut targets =
            context.targets().ok_or_else(|| self.error("the Targets input parameter is not an entity collection"))?;
        let root = format!("{}.settargets", self.op.path);
        let path = Path::Root(&root);
        for (column, value) in self.object()? {
            let value = Reader::default().value(value, &path.key(column)).map_err(json_error)?;
            for target in &mut targets.entities {
                target.attributes.insert(column.clone(), value.clone());
            }
        }
        Ok(context.set_targets(targets)?)
    }

    fn set_parameters(
        &self,
        set: impl Fn(&str, xrm_sandbox_guest::ParameterValue) -> Result<(), xrm_sandbox_guest::Fault>,
    ) -> Result<(), PluginError> {
        let root = format!("{}.{}", self.op.path, self.op.name);
        let path = Path::Root(&root);
        for (name, value) in self.object()? {
            let value = Reader::default().parameter_value(value, &path.key(name)).map_err(json_error)?;
            set(name, value)?;
        }
        Ok(())
    }

    /// Traces `environment variable <name>=<value>`, read through `IEnvironmentVariableService` (ENV-1).
    fn environment_variable(&self, context: &PluginContext) -> Result<(), PluginError> {
        let name = self.text()?;
        let value = context.environment_variable_service().retrieve_environment_variable_value(&name)?;
        trace!("environment variable {name}={value}");
        Ok(())
    }

    /// `{"method": "POST", "url": "…", "headers": {"name": "value"}, "body": text or JSON, "timeoutMs": n}`.
    #[cfg(feature = "http")]
    fn http_request(&self) -> Result<xrm_sandbox_guest::http::Request, PluginError> {
        let spec = self.object()?;
        let known = ["method", "url", "headers", "body", "timeoutMs"];
        if let Some(key) = spec.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(self.error(format!("unknown key `{key}` (allowed: {})", known.join(", "))));
        }
        let text = |key: &str| spec.get(key).and_then(Json::as_str);
        let url = text("url").ok_or_else(|| self.error("`url` must be text"))?;
        let mut request = xrm_sandbox_guest::http::Request::new(text("method").unwrap_or("GET"), url);
        for (name, value) in spec.get("headers").and_then(Json::as_object).into_iter().flatten() {
            let value = value.as_str().ok_or_else(|| self.error(format!("header `{name}` must be text")))?;
            request = request.header(name, value);
        }
        request = match spec.get("body") {
            None | Some(Json::Null) => request,
            Some(Json::String(text)) => request.body(text.as_bytes()),
            Some(json) => request.json(json),
        };
        if let Some(ms) = spec.get("timeoutMs") {
            let ms = ms.as_u64().ok_or_else(|| self.error("`timeoutMs` must be a whole number"))?;
            request = request.timeout(std::time::Duration::from_millis(ms));
        }
        Ok(request)
    }

    fn spin(&self) -> Result<(), PluginError> {
        match self.value() {
            Json::Bool(true) => spin_forever(),
            Json::Bool(false) => Ok(()),
            _ => Err(self.error("expected true or false")),
        }
    }

    fn allocate(&self) -> Result<(), PluginError> {
        trace!("allocated {} bytes", allocate(self.count()?));
        Ok(())
    }

    fn recurse(&self) -> Result<(), PluginError> {
        let levels = self.count()?;
        std::hint::black_box(recurse(levels));
        trace!("recursed {levels} levels");
        Ok(())
    }
}

/// `column=value, …`: the listed columns in their order (absent ones as `<none>`), else every column read.
fn describe(entity: &Entity, columns: &ColumnSet) -> String {
    let pairs: Vec<String> = match columns {
        ColumnSet::Columns(cols) => cols
            .iter()
            .map(|c| format!("{c}={}", entity.get(c).map_or_else(|| NONE.to_owned(), ToString::to_string)))
            .collect(),
        ColumnSet::AllColumns => entity.attributes.iter().map(|(c, v)| format!("{c}={v}")).collect(),
    };
    pairs.join(", ")
}

/// A plug-in fault on purpose: the host must report it as `0x80040224` and keep running.
#[allow(clippy::panic)] // the `panic` op exists to panic
fn panic(message: &str) -> Result<(), PluginError> {
    panic!("{message}")
}

/// Loops until the host's time limit stops it; `black_box` keeps the optimiser from removing the loop.
fn spin_forever() -> ! {
    let mut turns: u64 = 0;
    loop {
        turns = std::hint::black_box(turns.wrapping_add(1));
    }
}

/// Allocates `bytes` and writes every one of them, so the memory is really used, not just reserved. Chunks
/// keep any count meaningful, even past the address space: the allocator fails when memory cannot grow, which
/// aborts the plug-in as a memory limit should.
fn allocate(bytes: u64) -> u64 {
    const CHUNK: usize = 16 << 20;
    let mut blocks = Vec::new();
    let mut left = bytes;
    while left > 0 {
        let size = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
        blocks.push(vec![0xA5_u8; size]);
        left -= size as u64;
    }
    std::hint::black_box(&blocks);
    bytes
}

/// Recurses `levels` deep, each frame holding 1 KiB on the stack: deep enough, it overflows the stack.
#[inline(never)]
fn recurse(levels: u64) -> u64 {
    let mut frame = [0_u8; 1024];
    std::hint::black_box(&mut frame);
    if levels == 0 {
        return 0;
    }
    let below = recurse(levels - 1);
    // Using the frame after the call keeps it alive across it (no tail call, no frame reuse).
    below.wrapping_add(u64::from(std::hint::black_box(&frame)[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(config: &str) -> String {
        parse_configuration(Some(config)).unwrap_err().to_string()
    }

    #[test]
    fn reads_every_op() {
        let config = r#"{"ops": [
            {"trace": "x"}, {"create": {"@logicalname": "task"}, "as": "null", "save": "t"},
            {"update": {"@logicalname": "task", "@id": "{saved.t}"}}, {"delete": {"@ref": "task", "id": "{saved.t}"}},
            {"retrieve": {"@ref": "task", "id": "{saved.t}"}, "columns": ["subject"], "trace": true},
            {"retrievemultiple": {"entityname": "task"}, "trace": true},
            {"execute": {"message": "WhoAmI"}, "as": "initiating"},
            {"settarget": {"name": "x"}}, {"settargets": {"name": "y"}}, {"setoutput": {"o": 1}}, {"setshared": {"s": true}},
            {"throw": "no"}, {"retry": "later"}, {"catch": [{"throw": "inner"}]}, {"panic": "boom"},
            {"spin": true}, {"allocate": 1024}, {"recurse": 3},
            {"when": {"Depth": "1"}, "ops": [{"trace": "deep"}]}
        ]}"#;
        let ops = parse_configuration(Some(config)).unwrap();
        assert_eq!(ops.len(), 19);
        assert_eq!(ops[13].nested[0].path, "ops[13].catch[0]");
        assert_eq!(ops[18].nested[0].path, "ops[18].ops[0]");
    }

    #[test]
    fn only_bodies_with_a_brace_are_filled_in() {
        let config = r#"{"ops": [
            {"trace": "x"}, {"trace": "{Depth}"}, {"create": {"@logicalname": "task", "{k}": 1}},
            {"catch": [{"trace": "{Depth}"}]}
        ]}"#;
        let ops = parse_configuration(Some(config)).unwrap();
        let filled: Vec<bool> = ops.iter().map(|op| op.has_placeholders).collect();
        // A nested op is filled in when it runs, not with the `catch` around it.
        assert_eq!(filled, [false, true, true, false]);
        assert!(ops[3].nested[0].has_placeholders);
    }

    #[test]
    fn malformed_configurations_name_the_op_and_the_problem() {
        assert!(error_of("nope").starts_with("probe configuration: not valid JSON"));
        assert_eq!(
            error_of(r#"{"opz": []}"#),
            "probe configuration: at `configuration.opz`: unknown key `opz`: did you mean `ops`? (expected one of: ops)"
        );
        assert!(
            error_of(r#"{"ops": [{"trace": "a"}, {"frobnicate": 1}]}"#)
                .starts_with("probe configuration: ops[1]: unknown op")
        );
        assert_eq!(
            error_of(r#"{"ops": [{"create": {}, "sav": "x"}]}"#),
            "probe configuration: ops[0]: unknown key `sav` for `create` (allowed: as, save)"
        );
        assert_eq!(
            error_of(r#"{"ops": [{"catch": [{"throw": "a", "retry": "b"}]}]}"#),
            "probe configuration: ops[0].catch[0]: one op per object, found both `throw` and `retry`"
        );
        assert_eq!(error_of(r#"{"ops": [{"when": {}}]}"#), "probe configuration: ops[0]: `when` needs `ops`");
        assert!(parse_configuration(None).is_err());
    }

    #[test]
    fn who_reads_every_form() {
        let id = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
        let read = |j: Json| Who::parse(Some(&j), "ops[0]");
        assert_eq!(Who::parse(None, "ops[0]").unwrap(), Who::User);
        assert_eq!(read(Json::Null).unwrap(), Who::System);
        assert_eq!(read("null".into()).unwrap(), Who::System);
        assert_eq!(read("empty".into()).unwrap(), Who::Empty);
        assert_eq!(read("initiating".into()).unwrap(), Who::Initiating);
        assert_eq!(read(id.into()).unwrap(), Who::Id(Uuid::parse_str(id).unwrap()));
        let err = read("@bob".into()).unwrap_err().to_string();
        assert_eq!(err, "probe configuration: ops[0].as: `@bob` is not null, empty, user, initiating or a user's GUID");
    }

    #[test]
    fn describes_what_was_read() {
        let mut e = Entity::new("account");
        e.set("name", "X").set("revenue", xrm_sandbox_guest::Value::Money("1.50".into()));
        assert_eq!(describe(&e, &ColumnSet::Columns(vec!["name".into(), "fax".into()])), "name=X, fax=<none>");
        assert_eq!(describe(&e, &ColumnSet::AllColumns), "name=X, revenue=1.50");
        e.formatted_values.insert("revenue".into(), "$1.50".into());
        assert_eq!(rows::formatted(&e), "revenue=$1.50");
        assert_eq!(allocate(4096), 4096);
        assert_eq!(allocate((16 << 20) + 1), (16 << 20) + 1);
        assert_eq!(recurse(10), 0);
    }
}
