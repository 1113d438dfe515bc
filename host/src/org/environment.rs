//! Environment variables (ENV-1) declared in the organization file: each becomes an
//! `environmentvariabledefinition` record, and one with a current value an `environmentvariablevalue` too,
//! as a solution would bring them.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::Deserialize;
use xrm_model::{Entity, EntityReference, Uuid, Value};

use crate::input::FileError;

/// An environment variable of the organization file's `environmentvariables`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EnvironmentVariable")]
pub(super) struct EnvironmentVariableFile {
    /// The name the file uses for the definition, such as `apiurl` (referenced as `@apiurl`).
    #[serde(rename = "@alias", default)]
    pub(super) alias: Option<String>,
    /// The definition's unique name, such as `new_ApiUrl`: what plug-ins look it up by.
    pub(super) schemaname: String,
    /// The name shown for the variable (default: the schema name).
    #[serde(default)]
    displayname: Option<String>,
    /// What the variable is for.
    #[serde(default)]
    description: Option<String>,
    /// The type of its values (default: String).
    #[serde(rename = "type", default)]
    kind: VariableType,
    /// The value used when the environment has none of its own.
    #[serde(default)]
    defaultvalue: Option<String>,
    /// The environment's own value (an `environmentvariablevalue` record).
    #[serde(default)]
    value: Option<String>,
}

/// The type of an environment variable's values (`type`).
#[derive(Deserialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[schemars(rename = "EnvironmentVariableType")]
pub(super) enum VariableType {
    /// Text (100000000).
    #[default]
    String,
    /// A number (100000001).
    Number,
    /// `yes` or `no` (100000002).
    Boolean,
    /// A JSON document (100000003).
    #[serde(rename = "JSON")]
    Json,
    /// A connector's data source (100000004).
    DataSource,
}

impl VariableType {
    /// The `type` option of the definition.
    fn option(self) -> i32 {
        match self {
            VariableType::String => 100_000_000,
            VariableType::Number => 100_000_001,
            VariableType::Boolean => 100_000_002,
            VariableType::Json => 100_000_003,
            VariableType::DataSource => 100_000_004,
        }
    }

    /// Why `text` is not a value of this type, if it is not.
    fn refuse(self, text: &str) -> Option<&'static str> {
        match self {
            // An empty value is a value (the environment overrides the default with nothing).
            _ if text.is_empty() => None,
            VariableType::Number if text.trim().parse::<Decimal>().is_err() => {
                Some("a Number variable's value is a number")
            }
            VariableType::Boolean if !matches!(text, "yes" | "no") => {
                Some("a Boolean variable's value is `yes` or `no`, as the platform stores it")
            }
            VariableType::Json if serde_json::from_str::<serde_json::Value>(text).is_err() => {
                Some("a JSON variable's value is a JSON document")
            }
            _ => None,
        }
    }
}

/// The id of a definition, and of its value, generated from its schema name.
pub(super) fn definition_id(variable: &EnvironmentVariableFile) -> Uuid {
    super::file::generated_id("environmentvariabledefinition", &variable.schemaname)
}

/// The definition and value records of the declared variables, checked: schema names unique, values of their
/// type.
pub(super) fn records(path: &std::path::Path, variables: &[EnvironmentVariableFile]) -> Result<Vec<Entity>, FileError> {
    let mut rows = Vec::new();
    for (i, v) in variables.iter().enumerate() {
        let at = format!("environmentvariables[{i}]");
        if v.schemaname.trim().is_empty() {
            return Err(FileError::new(path, format!("{at}.schemaname"), "the schema name is empty"));
        }
        if variables[..i].iter().any(|o| o.schemaname.eq_ignore_ascii_case(&v.schemaname)) {
            let message = format!("the environment variable `{}` is declared twice", v.schemaname);
            return Err(FileError::new(path, format!("{at}.schemaname"), message));
        }
        for (key, text) in [("defaultvalue", &v.defaultvalue), ("value", &v.value)] {
            if let Some(reason) = text.as_deref().and_then(|t| v.kind.refuse(t)) {
                return Err(FileError::new(path, format!("{at}.{key}"), reason));
            }
        }
        let id = definition_id(v);
        let mut definition = Entity::with_id("environmentvariabledefinition", id);
        definition
            .set("schemaname", v.schemaname.clone())
            .set("displayname", v.displayname.clone().unwrap_or_else(|| v.schemaname.clone()))
            .set("type", Value::Choice(v.kind.option()));
        if let Some(text) = &v.description {
            definition.set("description", text.clone());
        }
        if let Some(text) = &v.defaultvalue {
            definition.set("defaultvalue", text.clone());
        }
        rows.push(definition);
        if let Some(text) = &v.value {
            let value_id = super::file::generated_id("environmentvariablevalue", &v.schemaname);
            let mut value = Entity::with_id("environmentvariablevalue", value_id);
            value
                .set("schemaname", v.schemaname.clone())
                .set("value", text.clone())
                .set("environmentvariabledefinitionid", EntityReference::new("environmentvariabledefinition", id));
            rows.push(value);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::path::Path;

    use serde_json::{Value as Json, json};

    use crate::org::Organization;

    fn error(variables: Json) -> String {
        let file = json!({ "name": "o", "businessunits": [{ "@alias": "root", "name": "Root" }],
                           "users": [{ "@alias": "alice", "businessunit": "@root" }], "environmentvariables": variables });
        match Organization::from_json(Path::new("org.json"), file) {
            Ok(_) => panic!("the organization loads"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn values_must_be_of_the_variables_type() {
        let e = error(json!([{ "schemaname": "new_N", "type": "Number", "defaultvalue": "three" }]));
        assert!(e.contains("at `environmentvariables[0].defaultvalue`: a Number variable's value is a number"), "{e}");
        let e = error(json!([{ "schemaname": "new_B", "type": "Boolean", "value": "true" }]));
        assert!(e.contains("at `environmentvariables[0].value`") && e.contains("`yes` or `no`"), "{e}");
        let e = error(json!([{ "schemaname": "new_J", "type": "JSON", "value": "{" }]));
        assert!(e.contains("a JSON variable's value is a JSON document"), "{e}");
        let e = error(json!([{ "schemaname": "new_S", "type": "Secret" }]));
        assert!(e.contains("environmentvariables[0].type"), "{e}");
    }

    #[test]
    fn schema_names_are_unique_and_not_empty() {
        let e = error(json!([{ "schemaname": "new_A" }, { "schemaname": "NEW_a" }]));
        assert!(
            e.contains("at `environmentvariables[1].schemaname`: the environment variable `NEW_a` is declared twice"),
            "{e}"
        );
        let e = error(json!([{ "schemaname": " " }]));
        assert!(e.contains("the schema name is empty"), "{e}");
    }
}
