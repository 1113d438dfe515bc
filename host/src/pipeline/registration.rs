//! Step registrations (`formats.md`, "Plug-ins and registrations") and the rules every one must pass when it
//! is loaded (PIPE-2, PIPE-8): a broken registration is refused with the step and the rule, never run.

use std::path::Path;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;
use xrm_model::{Entity, Uuid, messages, suggest};

use crate::input::{self, FileError, FileErrors};
use crate::org::Organization;

/// An entity image a step asks for (PIPE-8).
#[derive(Debug, Clone)]
pub struct Image {
    pub alias: String,
    pub pre: bool,
    pub post: bool,
    /// None: every column.
    pub columns: Option<Vec<String>>,
}

impl Image {
    /// The image of `record` with this image's columns.
    pub fn of(&self, record: &Entity) -> Entity {
        let mut image = record.clone();
        if let Some(cols) = &self.columns {
            image.attributes.retain(|name, _| cols.iter().any(|c| c == name));
        }
        image
    }
}

/// One registered step (`sdkmessageprocessingstep`).
#[derive(Debug, Clone)]
pub struct Step {
    pub id: Uuid,
    pub name: String,
    pub plugin: String,
    /// The plug-in type the step runs, of the component's types (PIPE-18); checked when the step runs.
    pub plugin_type: Option<String>,
    pub message: String,
    /// None: every table.
    pub primary_entity: Option<String>,
    pub stage: i32,
    pub mode: i32,
    pub rank: i32,
    pub filtering_attributes: Option<Vec<String>>,
    pub impersonating_user: Option<Uuid>,
    pub unsecure: Option<String>,
    pub secure: Option<String>,
    pub enabled: bool,
    pub async_auto_delete: bool,
    pub images: Vec<Image>,
    /// Per-step overrides of the organization's limits (BOX-3).
    pub timeout: Option<Duration>,
    pub memory_limit_bytes: Option<usize>,
}

impl Step {
    /// Whether this step runs for an Update whose Target carries `columns` (PIPE-4).
    pub fn filters_in(&self, target: Option<&Entity>) -> bool {
        self.filters_in_any(target.into_iter())
    }

    /// Whether this step runs for an Update or UpdateMultiple whose targets are `targets`: for UpdateMultiple,
    /// when any of them carries a listed column (PIPE-4, PIPE-17).
    pub fn filters_in_any<'e>(&self, mut targets: impl Iterator<Item = &'e Entity>) -> bool {
        match &self.filtering_attributes {
            Some(cols) if matches!(self.message.as_str(), messages::UPDATE | messages::UPDATE_MULTIPLE) => {
                targets.any(|t| cols.iter().any(|c| t.contains(c)))
            }
            _ => true,
        }
    }
}

/// A step registration (`sdkmessageprocessingstep`): which plug-in runs on which message, table and stage,
/// and as whom.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Step")]
pub struct StepFile {
    /// The step's name, which traces, jobs and reports show (default: plug-in, message and stage).
    #[serde(default)]
    name: Option<String>,
    /// The step's id (default: generated from its place and name).
    #[serde(default)]
    sdkmessageprocessingstepid: Option<Uuid>,
    /// The plug-in, by its name in `plugins`.
    plugin: String,
    /// The plug-in type the step runs, when the plug-in's component holds several (PIPE-18): its full name
    /// (`Contoso.Plugins.FollowUp`), the last part of it, or its Rust name. Checked when the step runs, as the
    /// platform loads a type when its step fires. Default: none, which a component of one type runs.
    #[serde(default, rename = "type")]
    #[schemars(length(min = 1), regex(pattern = r"^\S(.*\S)?$"))]
    plugin_type: Option<String>,
    /// The message the step runs on: Create, Update, Delete, Retrieve, RetrieveMultiple, Associate, Assign,
    /// SetState, …, or a custom API's unique name.
    message: String,
    /// The table the step runs on (default: every table).
    #[serde(default)]
    primaryentity: Option<String>,
    /// 10 PreValidation, 20 PreOperation, 30 MainOperation (custom APIs only) or 40 PostOperation.
    #[schemars(extend("enum" = [10, 20, 30, 40]))]
    stage: i32,
    /// 0 synchronous (the default) or 1 asynchronous (stage 40 only).
    #[serde(default)]
    #[schemars(extend("enum" = [0, 1]))]
    mode: i32,
    /// Order among the steps of the same stage, lowest first (default 1).
    #[serde(default = "one")]
    rank: i32,
    /// For Update: the step runs only when one of these comma-separated columns is sent.
    #[serde(default)]
    filteringattributes: Option<String>,
    /// "Run in User's Context": the user the step runs as (`@alias` or GUID); absent, null or the empty GUID:
    /// the calling user.
    #[serde(default)]
    impersonatinguserid: Option<String>,
    /// The unsecure configuration, passed to the plug-in's constructor.
    #[serde(default)]
    #[schemars(with = "crate::schema::ConfigurationForm")]
    configuration: Option<Json>,
    /// The secure configuration, passed to the plug-in's constructor.
    #[serde(default)]
    #[schemars(with = "crate::schema::ConfigurationForm")]
    secureconfiguration: Option<Json>,
    /// The step's configuration in the environment, kept by `xrm-sandbox import` for reference when a stand-in's
    /// configuration replaces it; the sandbox ignores it.
    #[serde(default, rename = "originalconfiguration")]
    #[schemars(with = "crate::schema::ConfigurationForm")]
    _originalconfiguration: Option<Json>,
    /// 0 enabled (the default) or 1 disabled.
    #[serde(default)]
    #[schemars(extend("enum" = [0, 1]))]
    statecode: i32,
    /// For an asynchronous step: delete its job once it succeeds.
    #[serde(default)]
    asyncautodelete: bool,
    /// The entity images the step is given.
    #[serde(default)]
    images: Vec<ImageFile>,
    /// This step's time limit, overriding the organization's.
    #[serde(default)]
    timeoutseconds: Option<f64>,
    /// This step's memory limit in MiB, overriding the organization's.
    #[serde(default)]
    memorylimitmb: Option<f64>,
}

fn one() -> i32 {
    1
}

/// An entity image: the record as it was before the operation, or as it is after it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Image")]
pub struct ImageFile {
    /// The name the plug-in asks for the image by.
    entityalias: String,
    /// 0 pre-image, 1 post-image, 2 both.
    #[schemars(extend("enum" = [0, 1, 2]))]
    imagetype: i32,
    /// The comma-separated columns in the image (default: every column).
    #[serde(default)]
    attributes: Option<String>,
}

/// The steps in registration order.
#[derive(Debug, Clone, Default)]
pub struct Registrations {
    steps: Vec<Step>,
}

impl Registrations {
    /// Checks and resolves the `steps` of `file` (whose JSON is `json`, at `at`); `plugins` are the names
    /// the file may use. Every step is checked, and every mistake in them reported.
    pub fn load(file: &Path, at: &str, json: Json, org: &Organization, plugins: &[String]) -> Result<Self, FileErrors> {
        let raw: Vec<StepFile> = input::from_value(file, at, json)?;
        let mut steps: Vec<Step> = Vec::with_capacity(raw.len());
        let mut errors = FileErrors::default();
        for (i, s) in raw.into_iter().enumerate() {
            let Some(step) = errors.take(resolve(file, &format!("{at}[{i}]"), s, org, plugins)) else { continue };
            if step.stage == 30 && steps.iter().any(|other| other.stage == 30 && other.message == step.message) {
                errors.push(FileError::new(
                    file,
                    format!("{at}[{i}].stage"),
                    format!(
                        "step `{}`: `{}` already has its stage-30 plug-in: a custom message has one implementation (PIPE-2)",
                        step.name, step.message
                    ),
                ));
            }
            steps.push(step);
        }
        errors.or(Registrations { steps })
    }

    pub fn all(&self) -> &[Step] {
        &self.steps
    }

    /// The enabled steps for a message, table, stage and mode, by rank and then registration order (PIPE-3):
    /// steps on the message itself, and on a message that fires for it (SetStateDynamicEntity for SetState,
    /// PIPE-1), in one order.
    pub fn matching(&self, message: &str, table: &str, stage: i32, mode: i32) -> Vec<&Step> {
        self.matching_any(&[message], table, stage, mode)
    }

    /// The enabled steps for any of `names` (a message and the one it merges with, PIPE-17), in one order:
    /// by rank, then registration order.
    pub fn matching_any(&self, names: &[&str], table: &str, stage: i32, mode: i32) -> Vec<&Step> {
        let mut steps: Vec<&Step> = self
            .steps
            .iter()
            .filter(|s| {
                s.enabled && s.stage == stage && s.mode == mode && names.contains(&messages::fires_for(&s.message))
            })
            .filter(|s| s.primary_entity.as_deref().is_none_or(|t| t == table))
            .collect();
        // A stable sort keeps registration order among equal ranks.
        steps.sort_by_key(|s| s.rank);
        steps
    }
}

/// Messages whose pre-images and post-images the platform offers (PIPE-8); the bulk messages give them as
/// collections, one per target (PIPE-17).
pub(crate) const PRE_IMAGE_MESSAGES: &[&str] = &[
    messages::UPDATE,
    messages::DELETE,
    messages::ASSIGN,
    messages::SET_STATE,
    messages::UPSERT,
    messages::UPDATE_MULTIPLE,
    messages::UPSERT_MULTIPLE,
];
pub(crate) const POST_IMAGE_MESSAGES: &[&str] = &[
    messages::CREATE,
    messages::UPDATE,
    messages::ASSIGN,
    messages::SET_STATE,
    messages::UPSERT,
    messages::CREATE_MULTIPLE,
    messages::UPDATE_MULTIPLE,
    messages::UPSERT_MULTIPLE,
];

fn resolve(file: &Path, at: &str, s: StepFile, org: &Organization, plugins: &[String]) -> Result<Step, FileErrors> {
    let name = s.name.clone().unwrap_or_else(|| format!("{} of {} at {}", s.plugin, s.message, s.stage));
    let fail = |key: &str, rule: &str| FileError::new(file, format!("{at}.{key}"), format!("step `{name}`: {rule}"));
    // [choice] A batch is no pipeline of its own: each of its requests runs through the pipeline of its message.
    if messages::BATCHES.contains(&s.message.as_str()) {
        return Err(fail(
            "message",
            &format!(
                "steps cannot be registered on {}: each of its requests runs through its own pipeline, so register the step on the message of the requests (PIPE-17)",
                s.message
            ),
        )
        .into());
    }
    let mut errors = FileErrors::default();
    if !plugins.contains(&s.plugin) {
        errors.push(fail("plugin", &suggest::unknown("plug-in", &s.plugin, plugins.iter().map(String::as_str))));
    }
    if let Some(t) = &s.plugin_type
        && let Err(e) = check_type_name(t)
    {
        errors.push(fail("type", &e));
    }
    if let Err(e) = org.check_step_message(&s.message) {
        errors.push(fail("message", &e));
    }
    match s.stage {
        10 | 20 | 40 => {}
        30 if org.custom_apis.contains_key(&s.message) => {}
        30 => errors.push(fail(
            "stage",
            &format!(
                "stage 30 (MainOperation) is only for custom messages, and `{}` is not one the organization declares (PIPE-2)",
                s.message
            ),
        )),
        other => errors.push(fail(
            "stage",
            &format!("stage {other} is not a stage: use 10 PreValidation, 20 PreOperation or 40 PostOperation (PIPE-2)"),
        )),
    }
    match (s.mode, s.stage) {
        (0, _) | (1, 40) => {}
        (1, _) => errors.push(fail("mode", "asynchronous steps (mode 1) are allowed only at stage 40 (PIPE-2)")),
        (other, _) => errors
            .push(fail("mode", &format!("mode {other} is not a mode: use 0 synchronous or 1 asynchronous (PIPE-2)"))),
    }
    if !matches!(s.statecode, 0 | 1) {
        errors.push(fail("statecode", "statecode must be 0 (enabled) or 1 (disabled)"));
    }
    let table = match &s.primaryentity {
        Some(t) => org.check_table(t).map_err(|e| errors.push(fail("primaryentity", &e))).ok(),
        None => None,
    };
    let filtering_attributes = s.filteringattributes.as_deref().map(split_columns);
    if let (Some(table), Some(columns)) = (table, &filtering_attributes) {
        for column in columns {
            if let Err(e) = table.check_column(column) {
                errors.push(fail("filteringattributes", &e));
            }
        }
    }
    let impersonating_user = match s.impersonatinguserid.as_deref() {
        None => None,
        Some(text) => {
            let key = format!("{at}.impersonatinguserid");
            match org
                .check_user_alias(text)
                .map_err(|e| FileError::new(file, &key, e))
                .and_then(|()| guid(file, &key, text, org))
            {
                // IMP-1: null or the empty GUID means the calling user's context.
                Ok(id) => (!id.is_nil()).then_some(id),
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        }
    };
    let mut images = Vec::new();
    for (i, img) in s.images.iter().enumerate() {
        match image(&s, img) {
            Ok(image) => {
                for column in image.columns.iter().flatten() {
                    if let Some(Err(e)) = table.map(|t| t.check_column(column)) {
                        errors.push(fail(&format!("images[{i}].attributes"), &e));
                    }
                }
                images.push(image);
            }
            Err(rule) => errors.push(fail(&format!("images[{i}]"), &rule)),
        }
    }
    let unsecure = errors.take(configuration(file, &format!("{at}.configuration"), s.configuration.as_ref(), org));
    let secure =
        errors.take(configuration(file, &format!("{at}.secureconfiguration"), s.secureconfiguration.as_ref(), org));
    // `from_secs_f64` panics past `Duration::MAX`: a file's number must not.
    let timeout = match s.timeoutseconds.filter(|t| *t > 0.0) {
        Some(t) => Duration::try_from_secs_f64(t)
            .map_err(|_| errors.push(fail("timeoutseconds", "timeoutseconds is too large")))
            .ok(),
        None => None,
    };
    let step = Step {
        id: s
            .sdkmessageprocessingstepid
            .unwrap_or_else(|| Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("step:{at}:{name}").as_bytes())),
        name,
        plugin: s.plugin,
        plugin_type: s.plugin_type,
        message: s.message,
        primary_entity: s.primaryentity,
        stage: s.stage,
        mode: s.mode,
        rank: s.rank,
        filtering_attributes,
        impersonating_user,
        unsecure: unsecure.flatten(),
        secure: secure.flatten(),
        enabled: s.statecode == 0,
        async_auto_delete: s.asyncautodelete,
        images,
        timeout,
        // INVARIANT: the filter keeps positive sizes; `as` saturates a huge one.
        memory_limit_bytes: s.memorylimitmb.filter(|m| *m > 0.0).map(|m| (m * 1024.0 * 1024.0) as usize),
    };
    errors.or(step)
}

/// A plug-in type's name as a registration gives it (PIPE-18): which type it is, the component says when the
/// step runs; here only its form, text without spaces around it.
fn check_type_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("`type` is empty: name the plug-in type the step runs, such as `Contoso.Plugins.FollowUp` \
                    or `FollowUp`, or leave `type` out for a component of one type (PIPE-18)"
            .to_owned());
    }
    if name.trim() != name {
        return Err(format!("`type` has spaces around the name (\"{name}\"): write `{}` (PIPE-18)", name.trim()));
    }
    Ok(())
}

fn image(s: &StepFile, img: &ImageFile) -> Result<Image, String> {
    let message = messages::fires_for(&s.message);
    let (pre, post) = match img.imagetype {
        0 => (true, false),
        1 => (false, true),
        2 => (true, true),
        other => return Err(format!("imagetype {other} is not 0 (pre), 1 (post) or 2 (both)")),
    };
    if pre && !PRE_IMAGE_MESSAGES.contains(&message) {
        return Err(format!(
            "a pre-image is not available on {} (PIPE-8: only Update, Delete, Assign, SetState, Upsert, UpdateMultiple and UpsertMultiple)",
            s.message
        ));
    }
    if post && !POST_IMAGE_MESSAGES.contains(&message) {
        return Err(format!(
            "a post-image is not available on {} (PIPE-8: only Create, Update, Assign, SetState, Upsert and the bulk messages)",
            s.message
        ));
    }
    if post && s.stage != 40 {
        return Err(format!("a post-image is available only at stage 40, not {} (PIPE-8)", s.stage));
    }
    Ok(Image { alias: img.entityalias.clone(), pre, post, columns: img.attributes.as_deref().map(split_columns) })
}

fn split_columns(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
}

fn guid(file: &Path, at: &str, text: &str, org: &Organization) -> Result<Uuid, FileError> {
    let resolve = |a: &str| org.alias(a);
    xrm_model::json::Reader::new(&resolve)
        .guid_text(text, &xrm_model::json::Path::Root(at))
        .map_err(|e| FileError::json(file, e))
}

/// A configuration string as it is, or a JSON value as its text with every `@alias` string replaced by the
/// GUID it stands for.
fn configuration(file: &Path, at: &str, value: Option<&Json>, org: &Organization) -> Result<Option<String>, FileError> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(v) => {
            let mut v = v.clone();
            replace_aliases(&mut v, org, file, at)?;
            Ok(Some(v.to_string()))
        }
    }
}

fn replace_aliases(v: &mut Json, org: &Organization, file: &Path, at: &str) -> Result<(), FileError> {
    match v {
        Json::String(s) => {
            if let Some(alias) = s.strip_prefix('@').filter(|a| is_alias_name(a)) {
                let id = org.alias(alias).ok_or_else(|| {
                    FileError::new(
                        file,
                        at,
                        format!("unknown alias `{s}` (a configuration may use the organization's aliases)"),
                    )
                })?;
                *s = id.to_string();
            }
            Ok(())
        }
        Json::Array(items) => items
            .iter_mut()
            .enumerate()
            .try_for_each(|(i, item)| replace_aliases(item, org, file, &format!("{at}[{i}]"))),
        Json::Object(obj) => {
            obj.iter_mut().try_for_each(|(k, item)| replace_aliases(item, org, file, &format!("{at}.{k}")))
        }
        _ => Ok(()),
    }
}

/// Text that can follow `@` in an alias.
pub(crate) fn is_alias_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
