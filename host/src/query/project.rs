//! A joined row as the entity a query returns.

use xrm_model::{AliasedValue, Entity, Value};

use super::filter::Slots;
use super::formatted::Formatter;
use super::plan::Plan;
use super::project;

impl Plan<'_> {
    /// The root row's columns, then each linked row's columns as `AliasedValue`s under `<alias>.<column>`
    /// (QRY-10), then the columns FetchXML gave an alias of their own, as `AliasedValue`s under it. An empty
    /// column is left out, as the platform leaves it out.
    pub(super) fn project(&self, row: &Slots) -> Entity {
        let root = &self.nodes[0];
        let mut out = match row.first().copied().flatten() {
            Some(r) => project(root.table, r, root.columns),
            None => Entity::new(root.table.logical_name.clone()),
        };
        for (i, (node, record)) in self.nodes.iter().zip(row).enumerate() {
            let Some(record) = record else { continue };
            let aliased = |column: &str, value: &Value| {
                Value::Aliased(AliasedValue::new(node.table.logical_name.as_str(), column, value.clone()))
            };
            if i > 0 {
                for (column, value) in &record.attributes {
                    if node.columns.includes(column) && !value.is_null() {
                        out.attributes.insert(format!("{}.{column}", node.alias), aliased(column, value));
                    }
                }
            }
            for (column, alias) in &node.aliased {
                if let Some(value) = record.get(column).filter(|v| !v.is_null()) {
                    out.attributes.insert((*alias).to_owned(), aliased(column, value));
                }
            }
        }
        out
    }

    /// The projection with the formatted values of its columns (QRY-7): the root's by column, each linked
    /// row's by `<alias>.<column>`, a column FetchXML gave an alias by that alias.
    pub(super) fn project_formatted(&self, row: &Slots, formatter: &Formatter) -> Entity {
        let mut out = self.project(row);
        for (i, (node, record)) in self.nodes.iter().zip(row).enumerate() {
            let Some(record) = record else { continue };
            let prefix = if i == 0 { String::new() } else { format!("{}.", node.alias) };
            formatter.add(node.table, record, &prefix, &mut out);
            for (column, alias) in &node.aliased {
                let text = record.get(column).and_then(|v| formatter.value(node.table, record, column, v));
                if let Some(text) = text.filter(|_| out.attributes.contains_key(*alias)) {
                    out.formatted_values.insert((*alias).to_owned(), text);
                }
            }
        }
        out
    }
}
