//! `{Name}` placeholders: `{UserId}`, `{Target.name}`, `{PreImage.pre.revenue}`, `{saved.task}`, …
//!
//! A placeholder for something absent renders as `<none>`; GUIDs lower-case hyphenated and values as
//! `xrm_model::Value`'s `Display` shows them, as `formats.md` specifies. An unknown name is left as written, so
//! a typo shows up in the trace instead of silently becoming `<none>`.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use xrm_sandbox_guest::{ColumnSet, Entity, ParameterValue, PluginContext, Query, messages};

/// What an absent placeholder renders as.
pub const NONE: &str = "<none>";

/// Ids that `create` ops kept with `save`, by name.
/// What ops saved: new ids (`create`), row counts (`retrievemultiple`), as the text they render as.
pub type Saved = BTreeMap<String, String>;

/// Renders placeholders against one execution's context and saved ids.
pub struct Scope<'s, 'a> {
    pub context: &'s PluginContext<'a>,
    pub saved: &'s Saved,
}

impl Scope<'_, '_> {
    /// The text of placeholder `name` (without braces); `None` when `name` is not a placeholder.
    pub fn render(&self, name: &str) -> Option<String> {
        let Some((source, rest)) = name.split_once('.') else {
            return self.context_field(name);
        };
        let text = match source {
            "Target" => self.target_field(rest),
            "Targets" => self.targets_field(rest),
            "PreImage" => image_field(self.context.pre_entity_images(), rest),
            "PostImage" => image_field(self.context.post_entity_images(), rest),
            "PreImages" => images_field(self.context.pre_entity_images_collection(), rest),
            "PostImages" => images_field(self.context.post_entity_images_collection(), rest),
            "Shared" => self.context.shared_variable(rest).as_ref().map(parameter_text),
            "ParentShared" => self.context.parent().and_then(|p| p.shared_variable(rest)).as_ref().map(parameter_text),
            "Output" => self.context.output_parameter(rest).as_ref().map(parameter_text),
            "Input" => self.context.input_parameter(rest).as_ref().map(parameter_text),
            "saved" => self.saved.get(rest).cloned(),
            _ => return None,
        };
        Some(text.unwrap_or_else(|| NONE.to_owned()))
    }

    fn context_field(&self, name: &str) -> Option<String> {
        let c = self.context;
        Some(match name {
            "UserId" => c.user_id().to_string(),
            "InitiatingUserId" => c.initiating_user_id().to_string(),
            "BusinessUnitId" => c.business_unit_id().to_string(),
            "OrganizationId" => c.organization_id().to_string(),
            "OrganizationName" => c.organization_name().to_owned(),
            "Depth" => c.depth().to_string(),
            "Stage" => c.stage().to_string(),
            "Mode" => c.mode().to_string(),
            "MessageName" => c.message_name().to_owned(),
            "PrimaryEntityName" => c.primary_entity_name().to_owned(),
            "PrimaryEntityId" => c.primary_entity_id().to_string(),
            "SecondaryEntityName" => c.secondary_entity_name().to_owned(),
            "CorrelationId" => c.correlation_id().to_string(),
            "RequestId" => c.request_id().map_or_else(|| NONE.to_owned(), |id| id.to_string()),
            "OperationId" => c.operation_id().to_string(),
            "IsInTransaction" => c.is_in_transaction().to_string(),
            "IsExecutingOffline" => c.is_executing_offline().to_string(),
            "IsolationMode" => c.isolation_mode().to_string(),
            _ => return self.identity_field(name),
        })
    }

    /// The identity properties of the newer context interfaces (IMP-11).
    fn identity_field(&self, name: &str) -> Option<String> {
        let i = self.context.identity();
        Some(match name {
            "AuthenticatedUserId" => i.authenticated_user_id.to_string(),
            "UserAzureActiveDirectoryObjectId" => i.user_azure_active_directory_object_id.to_string(),
            "InitiatingUserAzureActiveDirectoryObjectId" => {
                i.initiating_user_azure_active_directory_object_id.to_string()
            }
            "InitiatingUserApplicationId" => i.initiating_user_application_id.to_string(),
            "IsApplicationUser" => i.is_application_user.to_string(),
            "IsPortalsClientCall" => i.is_portals_client_call.to_string(),
            "PortalsContactId" => i.portals_contact_id.to_string(),
            "InitiatingUserAgent" => i.initiating_user_agent.clone(),
            "EnvironmentId" => i.environment_id.clone(),
            "TenantId" => i.tenant_id.to_string(),
            _ => return None,
        })
    }

    /// A column of the Target entity; `id` is the record's id, also for a Target that is a reference.
    fn target_field(&self, column: &str) -> Option<String> {
        match self.context.input_parameter(messages::TARGET)? {
            ParameterValue::Entity(entity) => entity_field(&entity, column),
            other => other.as_reference().filter(|_| column == "id").map(|r| r.id.to_string()),
        }
    }

    /// `{Targets.count}`, or `{Targets.<i>.<column>}` of the i-th entity of a bulk message's `Targets`.
    fn targets_field(&self, rest: &str) -> Option<String> {
        let targets = self.context.targets()?;
        if rest == "count" {
            return Some(targets.entities.len().to_string());
        }
        let (index, column) = rest.split_once('.')?;
        entity_field(targets.entities.get(index.parse::<usize>().ok()?)?, column)
    }

    /// Replaces every `{name}` in `text`.
    pub fn expand(&self, text: &str) -> String {
        expand_with(text, |name| self.render(name))
    }

    /// Expands every string in a JSON value, keys included, at any depth.
    pub fn expand_json(&self, json: &Json) -> Json {
        match json {
            Json::String(s) => Json::String(self.expand(s)),
            Json::Array(items) => Json::Array(items.iter().map(|item| self.expand_json(item)).collect()),
            Json::Object(obj) => Json::Object(self.expand_object(obj, &[])),
            other => other.clone(),
        }
    }

    /// Expands an object, leaving the values of `verbatim` keys as they are (nested ops expand when they run).
    pub fn expand_object(&self, obj: &Map<String, Json>, verbatim: &[&str]) -> Map<String, Json> {
        obj.iter()
            .map(|(key, value)| {
                let value = if verbatim.contains(&key.as_str()) { value.clone() } else { self.expand_json(value) };
                (self.expand(key), value)
            })
            .collect()
    }
}

/// `{PreImages.count}`, or `{PreImages.<i>.<alias>.<column>}`: an image of the i-th target of a bulk message.
fn images_field(mut collection: Vec<BTreeMap<String, Entity>>, rest: &str) -> Option<String> {
    if rest == "count" {
        return Some(collection.len().to_string());
    }
    let (index, rest) = rest.split_once('.')?;
    let index = index.parse::<usize>().ok().filter(|i| *i < collection.len())?;
    image_field(collection.swap_remove(index), rest)
}

/// `{alias.column}` of an image.
fn image_field(mut images: BTreeMap<String, Entity>, rest: &str) -> Option<String> {
    let (alias, column) = rest.split_once('.')?;
    entity_field(&images.remove(alias)?, column)
}

fn entity_field(entity: &Entity, column: &str) -> Option<String> {
    match (column, entity.get(column)) {
        (_, Some(value)) => Some(value.to_string()),
        ("id", None) => entity.id.map(|id| id.to_string()),
        _ => None,
    }
}

/// A parameter as text: a value as its `Display`, an entity as its id, a collection (of rows, requests or
/// responses) as its count, lists comma-separated.
pub fn parameter_text(p: &ParameterValue) -> String {
    match p {
        ParameterValue::Value(v) => v.to_string(),
        ParameterValue::Entity(e) => e.id.map_or_else(|| NONE.to_owned(), |id| id.to_string()),
        ParameterValue::EntityCollection(c) => c.entities.len().to_string(),
        ParameterValue::EntityReferences(refs) => join(refs.iter().map(|r| r.id.to_string())),
        ParameterValue::ColumnSet(ColumnSet::AllColumns) => "all".to_owned(),
        ParameterValue::ColumnSet(ColumnSet::Columns(cols)) => cols.join(","),
        ParameterValue::Query(Query::Expression(q)) => q.entity_name.clone(),
        ParameterValue::Query(Query::ByAttribute(q)) => q.entity_name.clone(),
        ParameterValue::Query(Query::FetchXml(x)) => x.clone(),
        ParameterValue::Relationship(name) => name.clone(),
        ParameterValue::PrincipalAccess(pa) => pa.principal.id.to_string(),
        ParameterValue::Guids(ids) => join(ids.iter().map(ToString::to_string)),
        ParameterValue::Requests(requests) => requests.len().to_string(),
        ParameterValue::Responses(responses) => responses.len().to_string(),
        ParameterValue::ExecuteMultipleSettings(s) => {
            format!("continueonerror={},returnresponses={}", s.continue_on_error, s.return_responses)
        }
        // `0:ok,1:0x80040265`: each item's index, and its fault's code if it failed.
        ParameterValue::ExecuteMultipleResponses(items) => join(items.iter().map(|item| match &item.fault {
            Some(fault) => format!("{}:{}", item.request_index, fault.code_hex()),
            None => format!("{}:ok", item.request_index),
        })),
        // META-1: a short form of the metadata (`xrm_model::Metadata`'s `Display`).
        ParameterValue::Metadata(m) => m.to_string(),
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

/// Replaces each `{name}` for which `render` gives a text; anything else, stray braces included, stays.
fn expand_with(text: &str, render: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let (before, from_open) = rest.split_at(open);
        out.push_str(before);
        let inner = from_open.get(1..).unwrap_or_default();
        // The nearest brace decides: `{` starts over (so `{{Depth}` keeps one `{`), `}` closes a name.
        match inner.find(['{', '}']).and_then(|end| Some((end, inner.get(end..)?.starts_with('}')))) {
            Some((end, true)) => {
                let name = inner.get(..end).unwrap_or_default();
                match render(name) {
                    Some(text) => out.push_str(&text),
                    None => out.push_str(from_open.get(..end + 2).unwrap_or_default()),
                }
                rest = inner.get(end + 1..).unwrap_or_default();
            }
            _ => {
                out.push('{');
                rest = inner;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use xrm_sandbox_guest::Uuid;

    fn render(name: &str) -> Option<String> {
        match name {
            "Depth" => Some("2".into()),
            "saved.t" => Some("00000000-0000-0000-0000-000000000001".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_known_names_and_keeps_the_rest() {
        assert_eq!(expand_with("Depth={Depth}", render), "Depth=2");
        assert_eq!(expand_with("{saved.t}", render), "00000000-0000-0000-0000-000000000001");
        assert_eq!(expand_with("{Nope} {Depth}", render), "{Nope} 2");
        assert_eq!(expand_with("{{Depth}}", render), "{2}");
        assert_eq!(expand_with("open { and {Depth", render), "open { and {Depth");
        assert_eq!(expand_with("}{}{Depth}é", render), "}{}2é");
        assert_eq!(expand_with("", render), "");
    }

    #[test]
    fn entity_fields_fall_back_to_the_id() {
        let mut e = Entity::with_id("account", Uuid::from_u128(1));
        e.set("name", "Contoso");
        assert_eq!(entity_field(&e, "name").as_deref(), Some("Contoso"));
        assert_eq!(entity_field(&e, "id").as_deref(), Some("00000000-0000-0000-0000-000000000001"));
        assert_eq!(entity_field(&e, "revenue"), None);
    }
}
