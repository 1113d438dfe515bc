//! What the platform's table definitions say about a table and its columns beyond their types: display names,
//! the Web API's entity set name, alternate keys, required levels and the labels of choices (with the
//! state/status pairs). Data only: the rules that use it (Upsert by key, status transitions, formatted values)
//! read it from here.

use std::collections::BTreeMap;

/// How strongly a form asks for a column's value (`AttributeRequiredLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
pub enum RequiredLevel {
    /// The column may be left empty.
    #[default]
    None,
    /// Forms mark the column as recommended.
    Recommended,
    /// Forms require a value.
    ApplicationRequired,
    /// The platform requires a value.
    SystemRequired,
}

/// An alternate key: columns whose values together identify one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternateKey {
    pub name: String,
    pub columns: Vec<String>,
}

/// A state (`statecode`) option: its label and the status a record gets when set to it without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateOption {
    pub label: String,
    pub default_status: Option<i32>,
}

/// A status (`statuscode`) option: its label and the state it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOption {
    pub label: String,
    pub state: i32,
}

/// The options of a column, by value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Options {
    /// Not a choice column, or one declared without labels.
    #[default]
    None,
    /// A choice, choices or Boolean column (`0` false, `1` true): value → label.
    Labels(BTreeMap<i32, String>),
    /// A State column.
    State(BTreeMap<i32, StateOption>),
    /// A Status column.
    Status(BTreeMap<i32, StatusOption>),
}

/// Metadata of one column beyond its type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnMeta {
    pub display_name: Option<String>,
    pub required_level: RequiredLevel,
    pub options: Options,
    /// The global choice (`optionsets` of the organization file) whose options the column takes.
    pub global_choice: Option<String>,
}

/// A global choice (`OptionSetMetadata` with `IsGlobal`): options that columns of several tables share.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalChoice {
    pub display_name: Option<String>,
    pub labels: BTreeMap<i32, String>,
}

impl ColumnMeta {
    /// The label of option `value`, when the column has one.
    pub fn label(&self, value: i32) -> Option<&str> {
        match &self.options {
            Options::None => None,
            Options::Labels(labels) => labels.get(&value).map(String::as_str),
            Options::State(states) => states.get(&value).map(|s| s.label.as_str()),
            Options::Status(statuses) => statuses.get(&value).map(|s| s.label.as_str()),
        }
    }
}

/// The platform's default collection name of a table (its `LogicalCollectionName`, which the Web API's entity
/// set name defaults to): the logical name in the plural, by English spelling rules.
pub fn default_entity_set_name(logical_name: &str) -> String {
    let consonant_y = logical_name.len() >= 2
        && logical_name.ends_with('y')
        && !logical_name[..logical_name.len() - 1].ends_with(['a', 'e', 'i', 'o', 'u']);
    if consonant_y {
        format!("{}ies", &logical_name[..logical_name.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"].iter().any(|end| logical_name.ends_with(end)) {
        format!("{logical_name}es")
    } else {
        format!("{logical_name}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_set_names_are_the_plural_of_the_logical_name() {
        for (name, set) in [
            ("account", "accounts"),
            ("opportunity", "opportunities"),
            ("new_survey", "new_surveys"),
            ("new_address", "new_addresses"),
            ("new_box", "new_boxes"),
            ("new_batch", "new_batches"),
            ("new_day", "new_days"),
        ] {
            assert_eq!(default_entity_set_name(name), set);
        }
    }

    #[test]
    fn labels_come_from_whichever_kind_of_options_the_column_has() {
        let status = ColumnMeta {
            options: Options::Status(BTreeMap::from([(2, StatusOption { label: "Inactive".into(), state: 1 })])),
            ..ColumnMeta::default()
        };
        assert_eq!(status.label(2), Some("Inactive"));
        assert_eq!(status.label(1), None);
        assert_eq!(ColumnMeta::default().label(0), None);
    }
}
