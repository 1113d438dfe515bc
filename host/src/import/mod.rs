//! `xrm-sandbox import`: a real solution turned into a project the sandbox runs (`docs/import.md`).
//!
//! - Reading: solution folders and customizations.xml (`package`, `solution`, `entity`, over the bounded XML
//!   reader of `xml`), the Web API's JSON (`webapi`); the mapping file (`mapping`).
//! - Mapping steps (here): pure functions from exported steps to an [`Imported`]: the steps that could be
//!   mapped, and every step that could not, with its reasons. A step is left out rather than written in a form
//!   the loader would refuse.
//! - The project (`project`, `starter`, `identity_map`): organization, registrations, starter suite and
//!   identity map; `files` reads the inputs and writes them, checked to load first.

mod archive;
mod entity;
mod files;
mod identity_map;
mod mapping;
mod package;
mod project;
mod register;
mod solution;
mod starter;
mod webapi;
mod xml;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::Serialize;
use serde_json::Value as Json;
use xrm_model::Uuid;

use crate::input::FileError;
use crate::pipeline::registration::{POST_IMAGE_MESSAGES, PRE_IMAGE_MESSAGES};
pub use files::{Written, import_project};
pub use mapping::{Mapping, UserRef};

/// The two export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `GET /api/data/v9.2/sdkmessageprocessingsteps?$expand=…`, saved as JSON.
    WebApi,
    /// A solution's `customizations.xml`.
    Solution,
}

/// Tells the formats apart by the first character of the text, else by the file's extension.
pub fn detect(file: &Path, text: &str) -> Result<Format, FileError> {
    match text.trim_start_matches('\u{feff}').trim_start().chars().next() {
        Some('{') => return Ok(Format::WebApi),
        Some('<') => return Ok(Format::Solution),
        _ => {}
    }
    match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("json") => Ok(Format::WebApi),
        Some("xml") => Ok(Format::Solution),
        _ => Err(FileError::new(
            file,
            "",
            "neither a Web API export (JSON) nor a solution's customizations.xml (XML): see docs/import.md",
        )),
    }
}

/// One step as an export describes it, before mapping.
#[derive(Debug, Clone, Default)]
pub struct ExportedStep {
    /// Where the step is in the export (`value[3]`, `line 120`).
    pub at: String,
    pub id: Option<Uuid>,
    pub name: Option<String>,
    /// The .NET type name, without the assembly (`Contoso.Plugins.FollowUp`); None for a step that runs a
    /// service endpoint or webhook.
    pub plugin_type: Option<String>,
    /// The plug-in type's id, to find its name in the assembly's `*.data.xml` when the step gives none.
    pub plugin_type_id: Option<Uuid>,
    pub message: MessageRef,
    /// None: every table.
    pub primary_entity: Option<String>,
    pub stage: i32,
    pub mode: i32,
    pub rank: i32,
    pub filtering_attributes: Option<String>,
    pub configuration: Option<String>,
    pub secure_configuration: Option<String>,
    pub statecode: i32,
    pub async_auto_delete: bool,
    /// 0 server, 1 the Outlook client only, 2 both.
    pub supported_deployment: i32,
    pub impersonating_user: Option<UserRef>,
    pub images: Vec<ExportedImage>,
}

/// How an export names a step's message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MessageRef {
    Name(String),
    /// The `sdkmessageid` alone (customizations.xml names messages only this way).
    Id(Uuid),
    #[default]
    Missing,
}

/// An entity image of an exported step.
#[derive(Debug, Clone, Default)]
pub struct ExportedImage {
    pub name: Option<String>,
    pub entity_alias: Option<String>,
    pub image_type: i32,
    pub attributes: Option<String>,
}

/// A registration file (`{"plugins": …, "steps": […]}`), every key one the loader accepts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegistrationFile {
    pub plugins: BTreeMap<String, Json>,
    pub steps: Vec<StepOut>,
}

/// A step as the loader reads it (`pipeline::registration::StepFile`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdkmessageprocessingstepid: Option<Uuid>,
    pub plugin: String,
    /// The plug-in type the step runs (PIPE-18): the exported step's type name, without its assembly.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub plugin_type: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primaryentity: Option<String>,
    pub stage: i32,
    pub mode: i32,
    pub rank: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filteringattributes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonatinguserid: Option<String>,
    /// The step's configuration, or the stand-in's when the mapping gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secureconfiguration: Option<String>,
    /// The step's real configuration, kept for reference when a stand-in's replaces it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub originalconfiguration: Option<String>,
    pub statecode: i32,
    pub asyncautodelete: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageOut>,
}

/// An image as the loader reads it (`pipeline::registration::ImageFile`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageOut {
    pub entityalias: String,
    pub imagetype: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<String>,
}

/// A step that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub name: Option<String>,
    pub id: Option<Uuid>,
    pub at: String,
    pub reasons: Vec<String>,
}

impl fmt::Display for LeftOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_deref().unwrap_or("(no name)");
        let id = self.id.map_or_else(|| "no id".to_owned(), |id| id.to_string());
        write!(f, "step \"{name}\" ({id}) at {}: {}", self.at, self.reasons.join("; "))
    }
}

/// What an import gives: the file to write and the steps left out of it.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    pub file: RegistrationFile,
    pub left_out: Vec<LeftOut>,
    /// What was inferred on the way (a message taken from a step's name).
    pub notes: Vec<String>,
}

/// Reads an export (either format) and maps its steps.
pub fn import(export_file: &Path, export_text: &str, mapping: &Mapping) -> Result<Imported, FileError> {
    let format = detect(export_file, export_text)?;
    let text = export_text.trim_start_matches('\u{feff}');
    let steps = match format {
        Format::WebApi => webapi::read(export_file, text)?,
        Format::Solution => solution::read(export_file, text)?,
    };
    Ok(map_steps(&steps, mapping))
}

/// Maps every step: the ones with no reason to leave them out go into the file, in export order.
pub fn map_steps(steps: &[ExportedStep], mapping: &Mapping) -> Imported {
    map_steps_with(steps, mapping, &HashSet::new())
}

/// Maps every step, knowing the custom APIs the organization will declare (their stage-30 steps are kept).
pub fn map_steps_with(steps: &[ExportedStep], mapping: &Mapping, apis: &HashSet<String>) -> Imported {
    let mut imported = Imported::default();
    for step in steps {
        let message = message_name(step, mapping);
        if let Ok((name, true)) = &message {
            imported.notes.push(format!(
                "step \"{}\": message `{name}` taken from the step's name (its message id is not one the import \
                 knows: add it to the mapping's `messages` if that is wrong)",
                step.name.as_deref().unwrap_or_default()
            ));
        }
        match map_step(step, message.map(|(name, _)| name), mapping, apis) {
            Ok((out, plugin, component)) => {
                imported.file.plugins.insert(plugin, component);
                imported.file.steps.push(out);
            }
            Err(reasons) => {
                imported.left_out.push(LeftOut { name: step.name.clone(), id: step.id, at: step.at.clone(), reasons })
            }
        }
    }
    imported
}

/// The step as the loader reads it, with its plug-in's name and component; or every reason it cannot be.
fn map_step(
    step: &ExportedStep,
    message: Result<String, String>,
    mapping: &Mapping,
    apis: &HashSet<String>,
) -> Result<(StepOut, String, Json), Vec<String>> {
    let mut reasons = Vec::new();
    let plugin = match &step.plugin_type {
        None => {
            reasons.push("not a plug-in step: it runs a service endpoint or webhook".to_owned());
            None
        }
        Some(t) => mapping.plugin(t).or_else(|| {
            reasons.push(format!("unmapped plug-in type `{t}` (add it to the mapping's `plugins`)"));
            None
        }),
    };
    let message = message.map_err(|r| reasons.push(r)).ok();
    let implements_api = step.stage == 30 && message.as_ref().is_some_and(|m| apis.contains(m));
    if let Err(r) = check_stage_and_mode(step).or_else(|e| if implements_api { Ok(()) } else { Err(e) }) {
        reasons.push(r);
    }
    if !matches!(step.statecode, 0 | 1) {
        reasons.push(format!("statecode {} is not 0 (enabled) or 1 (disabled)", step.statecode));
    }
    if let Err(r) = check_deployment(step.supported_deployment) {
        reasons.push(r);
    }
    let impersonating = step.impersonating_user.as_ref().and_then(|user| {
        mapping.user(user).or_else(|| {
            reasons.push(format!(
                "unmapped impersonating user {user} (add its id, domain name or full name to the mapping's `users`)"
            ));
            None
        })
    });
    let images =
        step.images.iter().filter_map(|i| image(i, step, message.as_deref()).map_err(|r| reasons.push(r)).ok());
    let images: Vec<ImageOut> = images.collect();
    match (plugin, message) {
        (Some(stand_in), Some(message)) if reasons.is_empty() => {
            let (configuration, originalconfiguration) = match &stand_in.configuration {
                Some(c) => (Some(c.clone()), step.configuration.clone()),
                None => (step.configuration.clone().map(Json::String), None),
            };
            let out = StepOut {
                name: step.name.clone(),
                sdkmessageprocessingstepid: step.id,
                plugin: stand_in.plugin.clone(),
                plugin_type: step.plugin_type.clone(),
                message,
                primaryentity: step.primary_entity.clone(),
                stage: step.stage,
                mode: step.mode,
                rank: step.rank,
                filteringattributes: non_empty(step.filtering_attributes.as_deref()),
                impersonatinguserid: impersonating.map(str::to_owned),
                configuration,
                secureconfiguration: step.secure_configuration.clone(),
                originalconfiguration,
                statecode: step.statecode,
                asyncautodelete: step.async_auto_delete,
                images,
            };
            Ok((out, stand_in.plugin.clone(), stand_in.component.clone()))
        }
        _ => Err(reasons),
    }
}

/// An empty column list means every column to the platform, but no column to the loader: leave it out.
fn non_empty(columns: Option<&str>) -> Option<String> {
    columns.map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned)
}

/// The step's message, and whether it was taken from the step's name: an id neither the mapping nor the
/// platform's table knows is read from the name the Plugin Registration Tool gives steps, `<type>: <message>
/// of <table>` (`any Entity` for every table), when that name agrees with the step's table.
fn message_name(step: &ExportedStep, mapping: &Mapping) -> Result<(String, bool), String> {
    match &step.message {
        MessageRef::Name(name) => Ok((name.clone(), false)),
        MessageRef::Id(id) => match mapping.message(*id).or_else(|| builtin_message(*id)) {
            Some(name) => Ok((name.to_owned(), false)),
            None => message_from_name(step).map(|m| (m, true)).ok_or_else(|| {
                format!("unknown message id {id} (add it to the mapping's `messages`: {id} → the message's name)")
            }),
        },
        MessageRef::Missing => Err("the export does not say which message the step is on".to_owned()),
    }
}

/// `Associate` from `Contoso.Plugins.Link: Associate of any Entity`, when the table part is the step's.
fn message_from_name(step: &ExportedStep) -> Option<String> {
    let name = step.name.as_deref()?;
    let (_, tail) = name.rsplit_once(": ")?;
    let (message, table) = tail.split_once(" of ")?;
    let table_agrees = match &step.primary_entity {
        Some(t) => table.trim().eq_ignore_ascii_case(t),
        None => table.trim().eq_ignore_ascii_case("any Entity"),
    };
    let word = !message.is_empty() && message.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (table_agrees && word).then(|| message.to_owned())
}

/// The `sdkmessageid`s of built-in messages: the same in every environment. These are the ones Microsoft's
/// documentation shows (the messages of the account table, "Use messages with the SDK for .NET"); any other
/// message id goes in the mapping file.
const BUILTIN_MESSAGES: &[(&str, &str)] = &[
    ("8cbdbb1b-ea3e-db11-86a7-000a3a5473e8", "Assign"),
    ("9ebdbb1b-ea3e-db11-86a7-000a3a5473e8", "Create"),
    ("a1bdbb1b-ea3e-db11-86a7-000a3a5473e8", "Delete"),
    ("c5bdbb1b-ea3e-db11-86a7-000a3a5473e8", "GrantAccess"),
    ("dbbdbb1b-ea3e-db11-86a7-000a3a5473e8", "Merge"),
    ("dcbdbb1b-ea3e-db11-86a7-000a3a5473e8", "ModifyAccess"),
    ("f2bdbb1b-ea3e-db11-86a7-000a3a5473e8", "Retrieve"),
    ("03bebb1b-ea3e-db11-86a7-000a3a5473e8", "RetrieveMultiple"),
    ("04bebb1b-ea3e-db11-86a7-000a3a5473e8", "RetrievePrincipalAccess"),
    ("10bebb1b-ea3e-db11-86a7-000a3a5473e8", "RetrieveSharedPrincipalsAndAccess"),
    ("11bebb1b-ea3e-db11-86a7-000a3a5473e8", "RevokeAccess"),
    ("1cbebb1b-ea3e-db11-86a7-000a3a5473e8", "SetState"),
    ("1dbebb1b-ea3e-db11-86a7-000a3a5473e8", "SetStateDynamicEntity"),
    ("20bebb1b-ea3e-db11-86a7-000a3a5473e8", "Update"),
    ("f6bdbb1b-ea3e-db11-86a7-000a3a5473e8", "RetrieveUnpublishedMultiple"),
];

fn builtin_message(id: Uuid) -> Option<&'static str> {
    BUILTIN_MESSAGES.iter().find(|(known, _)| Uuid::parse_str(known).ok() == Some(id)).map(|(_, name)| *name)
}

/// The loader's PIPE-2 rules, checked here so that a step it would refuse is listed instead of written.
fn check_stage_and_mode(step: &ExportedStep) -> Result<(), String> {
    match step.stage {
        10 | 20 | 40 => {}
        30 => {
            return Err("stage 30 (MainOperation) is the platform's own or a Custom API's plug-in: declare the \
                        Custom API in the organization and register its plug-in by hand"
                .to_owned());
        }
        other => return Err(format!("stage {other} is internal to the platform: plug-ins register on 10, 20 or 40")),
    }
    match (step.mode, step.stage) {
        (0, _) | (1, 40) => Ok(()),
        (1, stage) => Err(format!("asynchronous (mode 1) at stage {stage}: only stage 40 may be asynchronous")),
        (other, _) => Err(format!("mode {other} is not 0 (synchronous) or 1 (asynchronous)")),
    }
}

fn check_deployment(deployment: i32) -> Result<(), String> {
    match deployment {
        0 | 2 => Ok(()),
        1 => Err("registered for the Dynamics 365 for Outlook client only (supporteddeployment 1): it never runs on \
                  the server"
            .to_owned()),
        other => Err(format!("supporteddeployment {other} is not 0 (server), 1 (Outlook client) or 2 (both)")),
    }
}

/// An image as the loader accepts it (PIPE-8: the messages whose images the sandbox offers are the loader's).
fn image(img: &ExportedImage, step: &ExportedStep, message: Option<&str>) -> Result<ImageOut, String> {
    let label = img.name.as_deref().or(img.entity_alias.as_deref()).unwrap_or("(no name)");
    let (pre, post) = match img.image_type {
        0 => (true, false),
        1 => (false, true),
        2 => (true, true),
        other => return Err(format!("image `{label}`: imagetype {other} is not 0 (pre), 1 (post) or 2 (both)")),
    };
    // The platform requires an alias; an image that only has a name is still usable by that name.
    let alias = non_empty(img.entity_alias.as_deref()).or_else(|| non_empty(img.name.as_deref()));
    let alias = alias.ok_or_else(|| "an image has no entityalias".to_owned())?;
    if let Some(message) = message.map(xrm_model::messages::fires_for) {
        if pre && !PRE_IMAGE_MESSAGES.contains(&message) {
            return Err(format!(
                "image `{label}`: the sandbox offers pre-images only on Update, Delete, Assign and SetState, not {message}"
            ));
        }
        if post && !POST_IMAGE_MESSAGES.contains(&message) {
            return Err(format!(
                "image `{label}`: the sandbox offers post-images only on Create, Update, Assign and SetState, not {message}"
            ));
        }
    }
    if post && step.stage != 40 {
        return Err(format!("image `{label}`: a post-image is available only at stage 40, not {}", step.stage));
    }
    Ok(ImageOut { entityalias: alias, imagetype: img.image_type, attributes: non_empty(img.attributes.as_deref()) })
}

/// `Contoso.Plugins.FollowUp` from `Contoso.Plugins.FollowUp, Contoso.Plugins, Version=1.0.0.0, …`.
pub fn type_name(qualified: &str) -> &str {
    qualified.split(',').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests;
