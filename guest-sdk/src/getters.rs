//! Typed reads of a record's columns, as the platform's `Entity.GetAttributeValue<T>`.

use chrono::{DateTime, Utc};
use xrm_model::{Entity, EntityReference, Uuid, Value};

use crate::PluginError;

/// Typed getters on [`Entity`], named after the platform's `GetAttributeValue<T>`: `get_money` is
/// `GetAttributeValue<Money>`, `get_lookup` is `GetAttributeValue<EntityReference>`, `get_option` is
/// `GetAttributeValue<OptionSetValue>`, and so on.
///
/// Each returns `Ok(None)` when the record does not carry the column or carries it empty (null), as the
/// platform's returns `null`. Each looks through an `AliasedValue` (QRY-10: what RetrieveMultiple returns for a
/// link-entity's column, under `alias.column`) to the value it carries, so `get_string("c.fullname")` reads a
/// linked contact's name where the platform needs `GetAttributeValue<AliasedValue>("c.fullname").Value`;
/// [`get_aliased`](GetAttributeValue::get_aliased) gives the table and column it came from too. and a [`PluginError`] naming the column, the type asked for and the type found when
/// the column holds another type (where the platform would throw an `InvalidCastException`), so that `?` ends the
/// plug-in with a message that says what to fix.
///
/// ```
/// use xrm_sandbox_guest::{Entity, EntityReference, GetAttributeValue, PluginError, Uuid, Value};
///
/// let mut order = Entity::new("new_order");
/// order.set("new_total", Value::Money("12.50".into()));
/// order.set("new_customerid", EntityReference::new("account", Uuid::nil()));
/// assert_eq!(order.get_money("new_total")?, Some("12.50"));
/// assert_eq!(order.get_lookup("new_customerid")?.map(|c| c.logical_name.as_str()), Some("account"));
/// assert_eq!(order.get_string("new_name")?, None); // absent
///
/// let err = order.get_string("new_total").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "column `new_total` of `new_order` is of type Money, not String: read it with `get_money`"
/// );
/// # Ok::<(), PluginError>(())
/// ```
pub trait GetAttributeValue {
    /// A single line of text or a multiple lines of text (memo) column: `GetAttributeValue<string>`.
    fn get_string(&self, column: &str) -> Result<Option<&str>, PluginError>;
    /// A whole number column: `GetAttributeValue<int>`.
    fn get_int(&self, column: &str) -> Result<Option<i32>, PluginError>;
    /// A big integer column: `GetAttributeValue<long>`.
    fn get_bigint(&self, column: &str) -> Result<Option<i64>, PluginError>;
    /// A floating point column: `GetAttributeValue<double>`.
    fn get_double(&self, column: &str) -> Result<Option<f64>, PluginError>;
    /// A decimal column, as its exact decimal text (`"12.3400"`): `GetAttributeValue<decimal>`.
    fn get_decimal(&self, column: &str) -> Result<Option<&str>, PluginError>;
    /// A currency column, as its exact decimal text (`"12.50"`): `GetAttributeValue<Money>().Value`.
    fn get_money(&self, column: &str) -> Result<Option<&str>, PluginError>;
    /// A yes/no column: `GetAttributeValue<bool>`.
    fn get_bool(&self, column: &str) -> Result<Option<bool>, PluginError>;
    /// A date and time column, in UTC: `GetAttributeValue<DateTime>`.
    fn get_datetime(&self, column: &str) -> Result<Option<DateTime<Utc>>, PluginError>;
    /// A unique identifier column (a record's own id column): `GetAttributeValue<Guid>`.
    fn get_guid(&self, column: &str) -> Result<Option<Uuid>, PluginError>;
    /// A choice column's value: `GetAttributeValue<OptionSetValue>().Value`. Status and status reason columns
    /// (`statecode`, `statuscode`) are choices too.
    fn get_option(&self, column: &str) -> Result<Option<i32>, PluginError>;
    /// A multi-select choice column's values: `GetAttributeValue<OptionSetValueCollection>`.
    fn get_options(&self, column: &str) -> Result<Option<&[i32]>, PluginError>;
    /// A lookup, customer or owner column: `GetAttributeValue<EntityReference>`.
    fn get_lookup(&self, column: &str) -> Result<Option<&EntityReference>, PluginError>;
    /// A party list (`to`, `requiredattendees`, …): its `activityparty` records, as
    /// `GetAttributeValue<EntityCollection>` gives them.
    fn get_entities(&self, column: &str) -> Result<Option<&[Entity]>, PluginError>;
    /// A column a query returned as an `AliasedValue` (a link-entity's column under `alias.column`, or a
    /// FetchXML column alias): `GetAttributeValue<AliasedValue>`, as the table it was read from
    /// (`EntityLogicalName`), its column (`AttributeLogicalName`) and its value (`Value`, never null: an empty
    /// one is `Ok(None)`). A column that is not an aliased value is an error naming the getter to use.
    ///
    /// ```
    /// use xrm_sandbox_guest::{Entity, GetAttributeValue, PluginError, Value, model::AliasedValue};
    ///
    /// let mut row = Entity::new("account");
    /// row.set("c.fullname", AliasedValue::new("contact", "fullname", Value::Text("Carl".into())));
    /// let (table, column, value) = row.get_aliased("c.fullname")?.unwrap();
    /// assert_eq!((table, column, value), ("contact", "fullname", &Value::Text("Carl".into())));
    /// assert_eq!(row.get_string("c.fullname")?, Some("Carl")); // the typed getters look through it
    /// # Ok::<(), PluginError>(())
    /// ```
    fn get_aliased(&self, column: &str) -> Result<Option<(&str, &str, &Value)>, PluginError>;
}

/// The getter that reads a value of `value`'s type.
fn getter_for(value: &Value) -> &'static str {
    match value {
        Value::Null => "any getter",
        Value::Text(_) => "get_string",
        Value::Integer(_) => "get_int",
        Value::BigInt(_) => "get_bigint",
        Value::Double(_) => "get_double",
        Value::Boolean(_) => "get_bool",
        Value::Decimal(_) => "get_decimal",
        Value::Money(_) => "get_money",
        Value::DateTime(_) => "get_datetime",
        Value::Guid(_) => "get_guid",
        Value::Choice(_) => "get_option",
        Value::Choices(_) => "get_options",
        Value::Lookup(_) => "get_lookup",
        Value::EntityCollection(_) => "get_entities",
        Value::Aliased(a) => getter_for(&a.value),
    }
}

/// Reads `column` of `entity` with `pick`, which accepts the values of type `expected`, looking through an
/// aliased value.
fn typed<'a, T>(
    entity: &'a Entity,
    column: &str,
    expected: &str,
    pick: impl FnOnce(&'a Value) -> Option<T>,
) -> Result<Option<T>, PluginError> {
    match entity.get(column).map(Value::unaliased) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match pick(value) {
            Some(v) => Ok(Some(v)),
            None => Err(PluginError::invalid(format!(
                "column `{column}` of `{}` is of type {}, not {expected}: read it with `{}`",
                entity.logical_name,
                value.type_name(),
                getter_for(value)
            ))),
        },
    }
}

impl GetAttributeValue for Entity {
    fn get_string(&self, column: &str) -> Result<Option<&str>, PluginError> {
        typed(self, column, "String", |v| if let Value::Text(s) = v { Some(s.as_str()) } else { None })
    }

    fn get_int(&self, column: &str) -> Result<Option<i32>, PluginError> {
        typed(self, column, "Integer", |v| if let Value::Integer(i) = v { Some(*i) } else { None })
    }

    fn get_bigint(&self, column: &str) -> Result<Option<i64>, PluginError> {
        typed(self, column, "BigInt", |v| if let Value::BigInt(i) = v { Some(*i) } else { None })
    }

    fn get_double(&self, column: &str) -> Result<Option<f64>, PluginError> {
        typed(self, column, "Double", |v| if let Value::Double(d) = v { Some(*d) } else { None })
    }

    fn get_decimal(&self, column: &str) -> Result<Option<&str>, PluginError> {
        typed(self, column, "Decimal", |v| if let Value::Decimal(d) = v { Some(d.as_str()) } else { None })
    }

    fn get_money(&self, column: &str) -> Result<Option<&str>, PluginError> {
        typed(self, column, "Money", |v| if let Value::Money(m) = v { Some(m.as_str()) } else { None })
    }

    fn get_bool(&self, column: &str) -> Result<Option<bool>, PluginError> {
        typed(self, column, "Boolean", |v| if let Value::Boolean(b) = v { Some(*b) } else { None })
    }

    fn get_datetime(&self, column: &str) -> Result<Option<DateTime<Utc>>, PluginError> {
        typed(self, column, "DateTime", |v| if let Value::DateTime(t) = v { Some(*t) } else { None })
    }

    fn get_guid(&self, column: &str) -> Result<Option<Uuid>, PluginError> {
        typed(self, column, "Uniqueidentifier", |v| if let Value::Guid(g) = v { Some(*g) } else { None })
    }

    fn get_option(&self, column: &str) -> Result<Option<i32>, PluginError> {
        typed(self, column, "Picklist", |v| if let Value::Choice(c) = v { Some(*c) } else { None })
    }

    fn get_entities(&self, column: &str) -> Result<Option<&[Entity]>, PluginError> {
        typed(self, column, "PartyList", |v| if let Value::EntityCollection(e) = v { Some(e.as_slice()) } else { None })
    }

    fn get_options(&self, column: &str) -> Result<Option<&[i32]>, PluginError> {
        typed(
            self,
            column,
            "MultiSelectPicklist",
            |v| if let Value::Choices(c) = v { Some(c.as_slice()) } else { None },
        )
    }

    fn get_lookup(&self, column: &str) -> Result<Option<&EntityReference>, PluginError> {
        typed(self, column, "Lookup", |v| if let Value::Lookup(r) = v { Some(r) } else { None })
    }

    fn get_aliased(&self, column: &str) -> Result<Option<(&str, &str, &Value)>, PluginError> {
        match self.get(column) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Aliased(a)) if a.value.is_null() => Ok(None),
            Some(Value::Aliased(a)) => {
                Ok(Some((&a.entity_logical_name, &a.attribute_logical_name, a.value.unaliased())))
            }
            Some(value) => Err(PluginError::invalid(format!(
                "column `{column}` of `{}` is of type {}, not AliasedValue: read it with `{}`",
                self.logical_name,
                value.type_name(),
                getter_for(value)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record() -> Entity {
        let mut e = Entity::new("account");
        e.set("name", "Contoso")
            .set("numberofemployees", 12)
            .set("new_big", Value::BigInt(1 << 40))
            .set("new_ratio", Value::Double(0.5))
            .set("new_rate", Value::Decimal("1.2500".into()))
            .set("revenue", Value::Money("12.50".into()))
            .set("donotemail", true)
            .set("new_since", DateTime::from_timestamp(86_400, 0).unwrap())
            .set("accountid", Value::Guid(Uuid::from_u128(7)))
            .set("industrycode", Value::Choice(3))
            .set("new_regions", Value::Choices(vec![1, 2]))
            .set("primarycontactid", EntityReference::new("contact", Uuid::from_u128(9)))
            .set("fax", Value::Null);
        e
    }

    #[test]
    fn each_getter_reads_its_own_type() {
        let e = record();
        assert_eq!(e.get_string("name").unwrap(), Some("Contoso"));
        assert_eq!(e.get_int("numberofemployees").unwrap(), Some(12));
        assert_eq!(e.get_bigint("new_big").unwrap(), Some(1 << 40));
        assert_eq!(e.get_double("new_ratio").unwrap(), Some(0.5));
        assert_eq!(e.get_decimal("new_rate").unwrap(), Some("1.2500"));
        assert_eq!(e.get_money("revenue").unwrap(), Some("12.50"));
        assert_eq!(e.get_bool("donotemail").unwrap(), Some(true));
        assert_eq!(e.get_datetime("new_since").unwrap(), DateTime::from_timestamp(86_400, 0));
        assert_eq!(e.get_guid("accountid").unwrap(), Some(Uuid::from_u128(7)));
        assert_eq!(e.get_option("industrycode").unwrap(), Some(3));
        assert_eq!(e.get_options("new_regions").unwrap(), Some(&[1, 2][..]));
        assert_eq!(e.get_lookup("primarycontactid").unwrap().map(|r| r.id), Some(Uuid::from_u128(9)));
    }

    #[test]
    fn an_absent_or_null_column_is_none_whatever_the_getter() {
        let e = record();
        assert_eq!(e.get_money("creditlimit").unwrap(), None);
        assert_eq!(e.get_string("fax").unwrap(), None);
        assert_eq!(e.get_lookup("fax").unwrap(), None);
    }

    #[test]
    fn another_type_is_an_error_naming_the_column_both_types_and_the_getter_to_use() {
        let e = record();
        let err = e.get_int("industrycode").unwrap_err().to_string();
        assert_eq!(
            err,
            "column `industrycode` of `account` is of type Picklist, not Integer: read it with `get_option`"
        );
        let err = e.get_lookup("name").unwrap_err().to_string();
        assert!(err.contains("`name`") && err.contains("of type String, not Lookup") && err.contains("`get_string`"));
        let err = e.get_money("new_rate").unwrap_err().to_string();
        assert!(err.contains("of type Decimal, not Money") && err.contains("`get_decimal`"), "{err}");
    }

    #[test]
    fn qry_10_getters_look_through_an_aliased_value_and_get_aliased_names_its_source() {
        use xrm_model::AliasedValue;
        let mut row = Entity::new("contact");
        row.set("a.name", AliasedValue::new("account", "name", "Contoso".into()))
            .set("a.revenue", AliasedValue::new("account", "revenue", Value::Money("5.00".into())))
            .set("a.fax", AliasedValue::new("account", "fax", Value::Null))
            .set("fullname", "Carl");
        assert_eq!(row.get_string("a.name").unwrap(), Some("Contoso"));
        assert_eq!(row.get_money("a.revenue").unwrap(), Some("5.00"));
        assert_eq!(row.get_string("a.fax").unwrap(), None);
        assert_eq!(row.get_aliased("a.fax").unwrap(), None);
        assert_eq!(row.get_aliased("a.missing").unwrap(), None);
        let (table, column, value) = row.get_aliased("a.revenue").unwrap().unwrap();
        assert_eq!((table, column, value), ("account", "revenue", &Value::Money("5.00".into())));
        let err = row.get_int("a.name").unwrap_err().to_string();
        assert!(err.contains("of type String, not Integer") && err.contains("`get_string`"), "{err}");
        let err = row.get_aliased("fullname").unwrap_err().to_string();
        assert!(err.contains("of type String, not AliasedValue") && err.contains("`get_string`"), "{err}");
    }
}
