//! Table metadata as the metadata messages answer it (META-1): `RetrieveEntity` and `RetrieveAllEntities`
//! answer [`EntityMetadata`], `RetrieveAttribute` [`AttributeMetadata`], `RetrieveOptionSet`
//! [`OptionSetMetadata`]. Fields mirror the platform's properties of the same names (`LogicalName`,
//! `DisplayName`, `RequiredLevel`, …); a label (`DisplayName`, an option's `Label`) is the text of its
//! `UserLocalizedLabel`, and an enumeration (`AttributeType`, `OwnershipType`, `RequiredLevel`,
//! `OptionSetType`) the name of its member.

/// `EntityMetadata`: a table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntityMetadata {
    pub logical_name: String,
    pub schema_name: String,
    pub object_type_code: i32,
    pub display_name: Option<String>,
    pub display_collection_name: Option<String>,
    /// `EntitySetName`: the Web API's name for the table's records.
    pub entity_set_name: String,
    pub primary_id_attribute: String,
    pub primary_name_attribute: Option<String>,
    /// `UserOwned`, `OrganizationOwned` or `BusinessOwned`.
    pub ownership_type: String,
    pub is_activity: bool,
    pub is_custom_entity: bool,
    /// `Keys`: the table's alternate keys.
    pub keys: Vec<EntityKeyMetadata>,
    /// `Attributes`: every column, by logical name, when the request's `EntityFilters` asks for them
    /// (`Attributes`); empty otherwise.
    pub attributes: Vec<AttributeMetadata>,
}

/// `EntityKeyMetadata`: an alternate key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntityKeyMetadata {
    pub logical_name: String,
    pub key_attributes: Vec<String>,
}

/// `AttributeMetadata` (and its kinds: `PicklistAttributeMetadata`, `LookupAttributeMetadata`, …): a column.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttributeMetadata {
    pub logical_name: String,
    pub schema_name: String,
    pub entity_logical_name: String,
    pub display_name: Option<String>,
    /// `AttributeType`: `String`, `Memo`, `Integer`, `BigInt`, `Double`, `Boolean`, `Decimal`, `Money`,
    /// `DateTime`, `Uniqueidentifier`, `Picklist`, `State`, `Status`, `Lookup`, `Customer`, `Owner`,
    /// `PartyList`, or `Virtual` for a multi-select choice (as the platform types it).
    pub attribute_type: String,
    /// `RequiredLevel`: `None`, `Recommended`, `ApplicationRequired` or `SystemRequired`.
    pub required_level: String,
    pub is_primary_id: bool,
    pub is_primary_name: bool,
    pub is_custom_attribute: bool,
    /// `Targets` of a lookup: the tables it may point to (empty: any table).
    pub targets: Vec<String>,
    /// `OptionSet` of a choice, choices, Boolean, State or Status column.
    pub option_set: Option<OptionSetMetadata>,
}

/// `OptionSetMetadata`: the options of a choice column, or a global choice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptionSetMetadata {
    /// A column's own choice is named `<table>_<column>`; a global choice by its declared name.
    pub name: String,
    pub display_name: Option<String>,
    pub is_global: bool,
    /// `OptionSetType`: `Picklist`, `State`, `Status` or `Boolean`.
    pub option_set_type: String,
    pub options: Vec<OptionMetadata>,
}

/// `OptionMetadata` (`StateOptionMetadata`, `StatusOptionMetadata`): one option.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptionMetadata {
    pub value: i32,
    pub label: Option<String>,
    /// A status option's state (`StatusOptionMetadata.State`).
    pub state: Option<i32>,
    /// A state option's default status (`StateOptionMetadata.DefaultStatus`).
    pub default_status: Option<i32>,
}

/// What a metadata message answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Metadata {
    /// `EntityMetadata` of `RetrieveEntity`.
    Entity(EntityMetadata),
    /// `EntityMetadata` (an array) of `RetrieveAllEntities`.
    Entities(Vec<EntityMetadata>),
    /// `AttributeMetadata` of `RetrieveAttribute`.
    Attribute(AttributeMetadata),
    /// `OptionSetMetadata` of `RetrieveOptionSet`.
    OptionSet(OptionSetMetadata),
}

/// The platform's `EntityFilters` flags: which parts of a table `RetrieveEntity` and `RetrieveAllEntities`
/// answer.
pub mod entity_filters {
    pub const ENTITY: i32 = 1;
    pub const DEFAULT: i32 = 1;
    pub const ATTRIBUTES: i32 = 2;
    pub const PRIVILEGES: i32 = 4;
    pub const RELATIONSHIPS: i32 = 8;
    pub const ALL: i32 = 15;
}

impl std::fmt::Display for OptionSetMetadata {
    /// `name: 1=Red|2=Blue`, as the probe traces it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options: Vec<String> =
            self.options.iter().map(|o| format!("{}={}", o.value, o.label.as_deref().unwrap_or(""))).collect();
        write!(f, "{}: {}", self.name, options.join("|"))
    }
}

impl std::fmt::Display for Metadata {
    /// A short form, as the probe traces it: a table as `account (Account, 52 attributes, "Account")`, tables as
    /// their count and names, a column as
    /// `industrycode (Picklist, None, "Industry")` with its options, a choice as its options.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Metadata::Entity(e) => write!(
                f,
                "{} ({}, {} attributes, \"{}\")",
                e.logical_name,
                e.schema_name,
                e.attributes.len(),
                e.display_name.as_deref().unwrap_or("")
            ),
            Metadata::Entities(es) => {
                let names: Vec<&str> = es.iter().map(|e| e.logical_name.as_str()).collect();
                write!(f, "{} tables: {}", es.len(), names.join(","))
            }
            Metadata::Attribute(a) => {
                write!(
                    f,
                    "{} ({}, {}, \"{}\")",
                    a.logical_name,
                    a.attribute_type,
                    a.required_level,
                    a.display_name.as_deref().unwrap_or("")
                )?;
                match &a.option_set {
                    Some(set) => write!(f, " {set}"),
                    None => Ok(()),
                }
            }
            Metadata::OptionSet(set) => write!(f, "{set}"),
        }
    }
}
