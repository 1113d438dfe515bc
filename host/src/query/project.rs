//! A joined row as the entity a query returns.

use xrm_model::Entity;

use super::filter::Slots;
use super::formatted::Formatter;
use super::plan::Plan;
use super::project;

impl Plan<'_> {
    /// The root row's columns, then each linked row's columns as `<alias>.<column>` (the platform's
    /// AliasedValue, here a plain value under the dotted name).
    pub(super) fn project(&self, row: &Slots) -> Entity {
        let root = &self.nodes[0];
        let mut out = match row.first().copied().flatten() {
            Some(r) => project(root.table, r, root.columns),
            None => Entity::new(root.table.logical_name.clone()),
        };
        for (node, linked) in self.nodes.iter().zip(row).skip(1) {
            let Some(linked) = linked else { continue };
            for (column, value) in &linked.attributes {
                if node.columns.includes(column) && !value.is_null() {
                    out.attributes.insert(format!("{}.{column}", node.alias), value.clone());
                }
            }
        }
        out
    }

    /// The projection with the formatted values of its columns (QRY-7): the root's by column, each linked
    /// row's by `<alias>.<column>`.
    pub(super) fn project_formatted(&self, row: &Slots, formatter: &Formatter) -> Entity {
        let mut out = self.project(row);
        for (i, (node, record)) in self.nodes.iter().zip(row).enumerate() {
            let Some(record) = record else { continue };
            let prefix = if i == 0 { String::new() } else { format!("{}.", node.alias) };
            formatter.add(node.table, record, &prefix, &mut out);
        }
        out
    }
}
