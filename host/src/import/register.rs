//! The Plugin Registration Tool's register file (`RegisterFile.crmregister`, the Developer Toolkit's
//! `<Register>` in the `…/crm/2011/tools/pluginregistration` namespace): `<Solution>` assemblies, each with
//! `<Plugin TypeName="…">` types and their `<Step>`s, whose fields are attributes with the tool's names
//! (`Stage="PreInsideTransaction"`, `Mode="Asynchronous"`, `ImageType="PreImage"`, …). It is the one export
//! that carries the secure configuration.

use std::path::Path;

use super::solution::guid;
use super::xml::{self, Keep, Node};
use super::{ExportedImage, ExportedStep, MessageRef, UserRef, type_name};
use crate::input::FileError;

pub const ROOT: &str = "Register";

/// Reads every step of a register file, in document order.
pub fn read(file: &Path, text: &str) -> Result<Vec<ExportedStep>, FileError> {
    let doc = xml::parse(file, text, &Keep::ALL)?;
    let root = doc.kept.first().filter(|r| r.name == ROOT).ok_or_else(|| {
        FileError::new(
            file,
            format!("line {}", doc.root_line),
            format!("the root element is <{}>: expected <{ROOT}>", doc.root),
        )
    })?;
    let mut steps = Vec::new();
    let solutions = root.child("Solutions").into_iter().flat_map(|s| s.all("Solution"));
    for plugin in solutions.flat_map(|s| s.child("PluginTypes").into_iter().flat_map(|t| t.all("Plugin"))) {
        let type_name = plugin.attribute("TypeName").map(|t| super::type_name(t).to_owned());
        for step in plugin.child("Steps").into_iter().flat_map(|s| s.all("Step")) {
            steps.push(read_step(file, step, type_name.clone())?);
        }
    }
    Ok(steps)
}

fn read_step(file: &Path, step: &Node, plugin_type: Option<String>) -> Result<ExportedStep, FileError> {
    let err = |what: &str, found: &str, expected: &str| {
        FileError::new(file, format!("line {}: <Step {what}>", step.line), format!("`{found}` is not {expected}"))
    };
    let attr = |name: &str| step.attribute(name).map(str::trim).filter(|v| !v.is_empty());
    let stage = match attr("Stage") {
        Some("PreOutsideTransaction" | "PreValidation" | "10") => 10,
        Some("PreInsideTransaction" | "PreOperation" | "20") => 20,
        Some("MainOperation" | "30") => 30,
        Some("PostOutsideTransaction" | "PostInsideTransaction" | "PostOperation" | "40") => 40,
        Some(other) => {
            return Err(err(
                "Stage",
                other,
                "a stage (PreOutsideTransaction, PreInsideTransaction, PostOutsideTransaction)",
            ));
        }
        None => return Err(FileError::new(file, format!("line {}: <Step>", step.line), "the step has no Stage")),
    };
    let mode = match attr("Mode") {
        None | Some("Synchronous" | "0") => 0,
        Some("Asynchronous" | "1") => 1,
        Some(other) => return Err(err("Mode", other, "Synchronous or Asynchronous")),
    };
    let deployment = match attr("SupportedDeployment") {
        None | Some("ServerOnly" | "0") => 0,
        Some("MicrosoftDynamicsCRMClientforOutlookOnly" | "OutlookClientOnly" | "1") => 1,
        Some("Both" | "2") => 2,
        Some(other) => return Err(err("SupportedDeployment", other, "ServerOnly, OutlookClientOnly or Both")),
    };
    let rank = match attr("Rank") {
        None => 1,
        Some(r) => r.parse().map_err(|_| err("Rank", r, "a whole number"))?,
    };
    let user = match attr("ImpersonatingUserId") {
        Some(id) => {
            let id = guid(id).ok_or_else(|| err("ImpersonatingUserId", id, "a GUID"))?;
            (!id.is_nil()).then_some(UserRef { id: Some(id), ..UserRef::default() })
        }
        None => None,
    };
    let mut images = Vec::new();
    for image in step.child("Images").into_iter().flat_map(|i| i.all("Image")) {
        let kind = image.attribute("ImageType").unwrap_or_default();
        let image_type = match kind {
            "PreImage" | "0" => 0,
            "PostImage" | "1" => 1,
            "Both" | "2" => 2,
            other => {
                return Err(FileError::new(
                    file,
                    format!("line {}: <Image ImageType>", image.line),
                    format!("`{other}` is not PreImage, PostImage or Both"),
                ));
            }
        };
        let value = |name: &str| image.attribute(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        images.push(ExportedImage {
            name: value("EntityAlias"),
            entity_alias: value("EntityAlias"),
            image_type,
            attributes: value("Attributes"),
        });
    }
    Ok(ExportedStep {
        at: format!("line {}", step.line),
        id: attr("Id").and_then(guid),
        name: attr("Name").or_else(|| attr("Description")).map(str::to_owned),
        plugin_type: plugin_type.map(|t| type_name(&t).to_owned()),
        plugin_type_id: None,
        message: attr("MessageName").map_or(MessageRef::Missing, |m| MessageRef::Name(m.to_owned())),
        primary_entity: attr("PrimaryEntityName").map(str::to_lowercase).filter(|t| t != "none"),
        stage,
        mode,
        rank,
        filtering_attributes: attr("FilteringAttributes").map(str::to_owned),
        configuration: attr("CustomConfiguration").map(str::to_owned),
        secure_configuration: attr("SecureConfiguration").map(str::to_owned),
        statecode: i32::from(attr("StateCode") == Some("1") || attr("Enabled") == Some("false")),
        async_auto_delete: attr("DeleteAsyncOperationIfSuccessful") == Some("true")
            || attr("AsyncAutoDelete") == Some("true"),
        supported_deployment: deployment,
        impersonating_user: user,
        images,
    })
}
