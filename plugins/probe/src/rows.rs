//! How the probe traces the rows a query returned.

use xrm_sandbox_guest::{Entity, GetAttributeValue, PluginError, Value};

use crate::placeholders::NONE;

/// The record's formatted values (QRY-7), `column=text` in column order, read through `formatted_value`.
pub fn formatted(entity: &Entity) -> String {
    let pairs: Vec<String> =
        entity.formatted_values.keys().map(|c| format!("{c}={}", entity.formatted_value(c).unwrap_or(NONE))).collect();
    pairs.join(", ")
}

/// QRY-10: each aliased column of a row as `column=table.column:value`, read with `get_aliased`, and the same
/// column read by the typed getter its value's type has, to show they look through it (` (…)`).
pub fn aliased(entity: &Entity) -> Result<String, PluginError> {
    let mut pairs = Vec::new();
    for column in entity.attributes.keys() {
        let Ok(Some((table, source, value))) = entity.get_aliased(column) else { continue };
        let typed = match value {
            Value::Text(_) => entity.get_string(column)?.map(str::to_owned),
            Value::Money(_) => entity.get_money(column)?.map(str::to_owned),
            Value::Integer(_) => entity.get_int(column)?.map(|n| n.to_string()),
            Value::Lookup(_) => entity.get_lookup(column)?.map(|r| r.id.to_string()),
            _ => None,
        };
        let typed = typed.map(|t| format!(" ({t})")).unwrap_or_default();
        pairs.push(format!("{column}={table}.{source}:{value}{typed}"));
    }
    Ok(pairs.join(", "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use xrm_sandbox_guest::model::AliasedValue;

    use super::*;

    #[test]
    fn qry_10_aliased_values_are_traced_with_their_source_and_typed_value() {
        let mut e = Entity::new("contact");
        e.set("fullname", "Ann")
            .set("a.name", AliasedValue::new("account", "name", "Contoso".into()))
            .set("n", AliasedValue::new("account", "accountid", Value::Integer(2)));
        assert_eq!(aliased(&e).unwrap(), "a.name=account.name:Contoso (Contoso), n=account.accountid:2 (2)");
    }
}
