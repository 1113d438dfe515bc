use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// `KeyAttributeCollection`: the columns of an alternate key and their values, which name a record instead of
/// its id.
pub type KeyAttributes = BTreeMap<String, Value>;

/// A reference to a record: `EntityReference`. It names the record by its id, or by the values of one of its
/// table's alternate keys (`KeyAttributes`, with the nil id until the platform has found the record).
#[derive(Debug, Clone, PartialEq)]
pub struct EntityReference {
    pub logical_name: String,
    pub id: Uuid,
    pub name: Option<String>,
    pub key_attributes: KeyAttributes,
}

impl EntityReference {
    pub fn new(logical_name: impl Into<String>, id: Uuid) -> Self {
        EntityReference { logical_name: logical_name.into(), id, name: None, key_attributes: KeyAttributes::new() }
    }

    /// A reference by alternate key: `EntityReference(logicalName, keyAttributeCollection)`.
    pub fn with_keys(logical_name: impl Into<String>, key_attributes: KeyAttributes) -> Self {
        EntityReference { key_attributes, ..EntityReference::new(logical_name, Uuid::nil()) }
    }
}

/// A column's value, one variant per attribute type of the platform.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Clears the column.
    Null,
    /// String and memo columns.
    Text(String),
    Integer(i32),
    BigInt(i64),
    Double(f64),
    Boolean(bool),
    /// Exact decimal text, such as `12.3400`.
    Decimal(String),
    /// Exact decimal text of an amount, such as `12.50`.
    Money(String),
    DateTime(DateTime<Utc>),
    Guid(Uuid),
    /// A choice (option set) value.
    Choice(i32),
    /// A multi-select choice value.
    Choices(Vec<i32>),
    Lookup(EntityReference),
    /// A party list (`to`, `from`, `requiredattendees`, …): the activity's `activityparty` records, as the
    /// platform's `EntityCollection` value (ACT-1).
    EntityCollection(Vec<Entity>),
    /// `AliasedValue`: a column a query read from a linked table (or under a FetchXML column alias), with the
    /// table and column it came from (QRY-10). Only queries return it; a write refuses it.
    Aliased(AliasedValue),
}

/// `AliasedValue`: the value of a column a query returns under an alias (`alias.column` for a link-entity's
/// column, or the FetchXML `alias` of an `<attribute>`), with the table and column it was read from (QRY-10).
#[derive(Debug, Clone, PartialEq)]
pub struct AliasedValue {
    /// `EntityLogicalName`: the table the value was read from.
    pub entity_logical_name: String,
    /// `AttributeLogicalName`: the column the value was read from.
    pub attribute_logical_name: String,
    /// `Value`: the column's value, never itself an aliased value.
    pub value: Box<Value>,
}

impl AliasedValue {
    /// An aliased value of `table`'s `column`; an aliased `value` is unwrapped first, so that aliased values
    /// never nest (as the platform's do not).
    pub fn new(table: impl Into<String>, column: impl Into<String>, value: Value) -> Self {
        AliasedValue {
            entity_logical_name: table.into(),
            attribute_logical_name: column.into(),
            value: Box::new(value.unaliased_owned()),
        }
    }
}

impl Value {
    /// The name of the value's type, as the platform's `AttributeTypeCode` spells it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "Null",
            Value::Text(_) => "String",
            Value::Integer(_) => "Integer",
            Value::BigInt(_) => "BigInt",
            Value::Double(_) => "Double",
            Value::Boolean(_) => "Boolean",
            Value::Decimal(_) => "Decimal",
            Value::Money(_) => "Money",
            Value::DateTime(_) => "DateTime",
            Value::Guid(_) => "Uniqueidentifier",
            Value::Choice(_) => "Picklist",
            Value::Choices(_) => "MultiSelectPicklist",
            Value::Lookup(_) => "Lookup",
            Value::EntityCollection(_) => "EntityCollection",
            Value::Aliased(_) => "AliasedValue",
        }
    }

    /// Whether the value is null; an aliased value is null when the value it carries is.
    pub fn is_null(&self) -> bool {
        matches!(self.unaliased(), Value::Null)
    }

    /// The value itself, looking through an [`AliasedValue`] to the value it carries.
    pub fn unaliased(&self) -> &Value {
        match self {
            Value::Aliased(a) => a.value.unaliased(),
            v => v,
        }
    }

    /// The value itself, by value, looking through an [`AliasedValue`].
    pub fn unaliased_owned(self) -> Value {
        match self {
            Value::Aliased(a) => a.value.unaliased_owned(),
            v => v,
        }
    }
}

/// Renders a value the way the probe's placeholders and trace text show it: GUIDs lower-case hyphenated,
/// booleans `true`/`false`, numbers in plain decimal, a lookup as its id, a choice as its number, money and
/// decimal as their decimal text, a party list as its parties' ids (or addresses) comma-separated, an aliased
/// value as the value it carries.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("<none>"),
            Value::Text(s) | Value::Decimal(s) | Value::Money(s) => f.write_str(s),
            Value::Integer(n) => write!(f, "{n}"),
            Value::BigInt(n) => write!(f, "{n}"),
            Value::Double(n) => write!(f, "{n}"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::DateTime(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Value::Guid(g) => write!(f, "{g}"),
            Value::Choice(n) => write!(f, "{n}"),
            Value::Choices(ns) => {
                let parts: Vec<String> = ns.iter().map(i32::to_string).collect();
                f.write_str(&parts.join(","))
            }
            Value::Lookup(r) => write!(f, "{}", r.id),
            // A party list: each party's `partyid`, else the address it was sent to, else its own id.
            Value::EntityCollection(parties) => {
                let parts: Vec<String> = parties
                    .iter()
                    .map(|p| match (p.get("partyid"), p.get("addressused")) {
                        (Some(Value::Lookup(r)), _) => r.id.to_string(),
                        (_, Some(Value::Text(address))) => address.clone(),
                        _ => p.id.map(|id| id.to_string()).unwrap_or_default(),
                    })
                    .collect();
                f.write_str(&parts.join(","))
            }
            Value::Aliased(a) => a.value.fmt(f),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Integer(n)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::BigInt(n)
    }
}
impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Double(n)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}
impl From<Uuid> for Value {
    fn from(id: Uuid) -> Self {
        Value::Guid(id)
    }
}
impl From<EntityReference> for Value {
    fn from(r: EntityReference) -> Self {
        Value::Lookup(r)
    }
}
impl From<AliasedValue> for Value {
    fn from(a: AliasedValue) -> Self {
        Value::Aliased(a)
    }
}
impl From<DateTime<Utc>> for Value {
    fn from(t: DateTime<Utc>) -> Self {
        Value::DateTime(t)
    }
}

/// A record: a table's logical name, an optional id, its columns, and the values of an alternate key that name
/// it when it has no id (`KeyAttributes`, for Update and Upsert).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entity {
    pub logical_name: String,
    pub id: Option<Uuid>,
    pub attributes: BTreeMap<String, Value>,
    pub key_attributes: KeyAttributes,
    /// `FormattedValues`: the text the platform shows for a column's value (a choice's label, a lookup's name,
    /// money with its currency symbol), by column, on the records Retrieve and RetrieveMultiple return (QRY-7).
    /// A write ignores them.
    pub formatted_values: BTreeMap<String, String>,
}

impl Entity {
    pub fn new(logical_name: impl Into<String>) -> Self {
        Entity { logical_name: logical_name.into(), ..Entity::default() }
    }

    /// An entity named by alternate key: `Entity(logicalName, keyAttributes)`.
    pub fn with_keys(logical_name: impl Into<String>, key_attributes: KeyAttributes) -> Self {
        Entity { key_attributes, ..Entity::new(logical_name) }
    }

    pub fn with_id(logical_name: impl Into<String>, id: Uuid) -> Self {
        Entity { id: Some(id), ..Entity::new(logical_name) }
    }

    /// The column's value; `None` when the entity does not carry the column.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.attributes.get(column)
    }

    /// Sets a column, returning the entity for chaining.
    pub fn set(&mut self, column: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.attributes.insert(column.into(), value.into());
        self
    }

    pub fn contains(&self, column: &str) -> bool {
        self.attributes.contains_key(column)
    }

    /// The formatted value of a column (`FormattedValues[name]`), on a record Retrieve or RetrieveMultiple
    /// returned: `"Active"` for a status, `"€2,500.50"` for money, a lookup's record name.
    pub fn formatted_value(&self, column: &str) -> Option<&str> {
        self.formatted_values.get(column).map(String::as_str)
    }

    /// A reference to this record (the nil GUID when it has no id yet), with its key attributes.
    pub fn to_reference(&self) -> EntityReference {
        let reference = EntityReference::new(self.logical_name.clone(), self.id.unwrap_or_default());
        EntityReference { key_attributes: self.key_attributes.clone(), ..reference }
    }
}
