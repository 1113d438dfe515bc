//! Steps as solutions write them: `<SdkMessageProcessingStep Name="…" SdkMessageProcessingStepId="{…}">` in a
//! `customizations.xml` (under `<SdkMessageProcessingSteps>`, the element names of the solution schema,
//! CustomizationsSolution.xsd), or one step per file as SolutionPackager and `pac solution unpack` write them
//! (`SdkMessageProcessingSteps/{id}.xml`, a `<SdkMessageProcessingStep>` root).
//!
//! Older exports name the message only by `<SdkMessageId>`, current `pac` ones by `<SdkMessageName>` too; the
//! run-as user only by its full name (`<ImpersonatingUserIdName>`); the plug-in type by its assembly-qualified
//! name (`<PluginTypeName>`) and id (`<PluginTypeId>`).

use std::path::Path;

use xrm_model::Uuid;

use super::xml::{self, Keep, Node};
use super::{ExportedImage, ExportedStep, MessageRef, UserRef, type_name};
use crate::input::FileError;

pub const ROOT: &str = "ImportExportXml";
const STEPS: &str = "SdkMessageProcessingSteps";
pub const STEP: &str = "SdkMessageProcessingStep";

/// Reads every step of a customizations.xml or of one step file, in document order.
pub fn read(file: &Path, text: &str) -> Result<Vec<ExportedStep>, FileError> {
    let starts_step =
        |open: &[String], name: &str| name == STEP && (open.is_empty() || open.last().is_some_and(|p| p == STEPS));
    let doc = xml::parse(file, text, &Keep { start: &starts_step, skip: &[] })?;
    check_root(file, &doc.root, doc.root_line)?;
    doc.kept.iter().map(|node| step(file, node)).collect()
}

/// The first element must be a solution's root (or a single step, as unpacked).
pub fn check_root(file: &Path, root: &str, line: usize) -> Result<(), FileError> {
    if root == ROOT || root == STEP {
        return Ok(());
    }
    Err(FileError::new(
        file,
        format!("line {line}"),
        format!("the root element is <{root}>: expected a solution's customizations.xml (<{ROOT}>)"),
    ))
}

pub fn step(file: &Path, node: &Node) -> Result<ExportedStep, FileError> {
    let err = |n: &Node, message: String| FileError::new(file, format!("line {}: <{}>", n.line, n.name), message);
    let id = match node.attribute("SdkMessageProcessingStepId") {
        Some(text) => {
            Some(guid(text).ok_or_else(|| err(node, format!("SdkMessageProcessingStepId `{text}` is not a GUID")))?)
        }
        None => None,
    };
    let text = |name: &str| node.child(name).map(|c| c.text.clone());
    let trimmed = |name: &str| node.value(name).map(str::to_owned);
    let int = |name: &str| -> Result<Option<i32>, FileError> {
        match node.child(name) {
            None => Ok(None),
            Some(c) => c
                .text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| err(c, format!("expected a whole number, found {:?}", c.text))),
        }
    };
    let optional_guid = |name: &str| -> Result<Option<Uuid>, FileError> {
        match node.child(name).filter(|c| !c.text.trim().is_empty()) {
            None => Ok(None),
            Some(c) => guid(&c.text).map(Some).ok_or_else(|| err(c, format!("`{}` is not a GUID", c.text.trim()))),
        }
    };
    let stage = int("Stage")?.ok_or_else(|| err(node, "the step has no <Stage>".to_owned()))?;
    let message = match (trimmed("SdkMessageName"), optional_guid("SdkMessageId")?) {
        (Some(name), _) => MessageRef::Name(name),
        (None, Some(id)) => MessageRef::Id(id),
        (None, None) => MessageRef::Missing,
    };
    let table = trimmed("PrimaryEntity").or_else(|| trimmed("PrimaryObjectTypeCode")).filter(|t| t != "none");
    let user = UserRef {
        id: optional_guid("ImpersonatingUserId")?,
        fullname: trimmed("ImpersonatingUserIdName"),
        ..UserRef::default()
    };
    Ok(ExportedStep {
        at: format!("line {}", node.line),
        id,
        name: node.attribute("Name").map(str::to_owned),
        plugin_type: trimmed("PluginTypeName").map(|t| type_name(&t).to_owned()).filter(|t| !t.is_empty()),
        plugin_type_id: optional_guid("PluginTypeId")?,
        message,
        primary_entity: table,
        stage,
        mode: int("Mode")?.unwrap_or(0),
        rank: int("Rank")?.unwrap_or(1),
        filtering_attributes: trimmed("FilteringAttributes"),
        configuration: text("Configuration"),
        secure_configuration: None,
        // Not in the schema: a solution import decides a step's state. Read when an export carries it.
        statecode: int("StateCode")?.unwrap_or(0),
        async_auto_delete: int("AsyncAutoDelete")?.unwrap_or(0) != 0,
        supported_deployment: int("SupportedDeployment")?.unwrap_or(0),
        impersonating_user: (user.id.is_some() || user.fullname.is_some()).then_some(user),
        images: images(file, node)?,
    })
}

fn images(file: &Path, step: &Node) -> Result<Vec<ExportedImage>, FileError> {
    let Some(list) = step.child("SdkMessageProcessingStepImages") else { return Ok(Vec::new()) };
    let mut images = Vec::new();
    for node in list.all("SdkMessageProcessingStepImage") {
        let image_type = match node.child("ImageType") {
            Some(c) => c.text.trim().parse().map_err(|_| {
                FileError::new(
                    file,
                    format!("line {}: <ImageType>", c.line),
                    format!("expected 0, 1 or 2, found {:?}", c.text),
                )
            })?,
            None => {
                return Err(FileError::new(
                    file,
                    format!("line {}: <{}>", node.line, node.name),
                    "the image has no <ImageType>",
                ));
            }
        };
        images.push(ExportedImage {
            name: node.attribute("Name").map(str::to_owned),
            entity_alias: node.value("EntityAlias").map(str::to_owned),
            image_type,
            attributes: node.value("Attributes").map(str::to_owned),
        });
    }
    Ok(images)
}

/// A GUID as the solution writes it, with or without braces.
pub fn guid(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text.trim()).ok()
}
