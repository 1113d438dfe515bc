//! A query bound to the organization's tables (a [`Plan`]), and its run: join, order, project, page.

use std::cmp::Ordering;

use serde_json::{Value as Json, json};
use xrm_model::json::{Path as JsonPath, Reader, value_to_json};
use xrm_model::{
    ColumnSet, ConditionExpression, ConditionOperator as Op, Entity, Fault, FilterExpression, JoinOperator, LinkEntity,
    LogicalOperator, OrderExpression, QueryExpression, Uuid, Value,
};

use super::filter::{Candidates, cell, check_arity, compare, typed};
use super::{Caller, DEFAULT_PAGE, check_column, check_columns, default_alias, invalid, project, unknown_column};
use crate::org::{Organization, Table};
use crate::store::Store;

pub(super) type Row<'s> = Vec<Option<&'s Entity>>;

/// A table of the query: the root (index 0) or a link-entity.
pub(super) struct Node<'a> {
    pub(super) alias: String,
    pub(super) table: &'a Table,
    pub(super) parent: usize,
    pub(super) columns: &'a ColumnSet,
    pub(super) join: Option<Join<'a>>,
}

pub(super) struct Join<'a> {
    /// The parent's column (`LinkFromAttributeName`, FetchXML's `to`).
    pub(super) from: &'a str,
    /// This table's column (`LinkToAttributeName`, FetchXML's `from`).
    pub(super) to: &'a str,
    pub(super) outer: bool,
    pub(super) criteria: Filter,
}

#[derive(Default)]
pub(super) struct Filter {
    pub(super) or: bool,
    pub(super) conditions: Vec<Condition>,
    pub(super) filters: Vec<Filter>,
}

pub(super) struct Condition {
    pub(super) node: usize,
    pub(super) column: String,
    pub(super) op: Op,
    pub(super) values: Vec<Value>,
}

pub(super) struct Order {
    pub(super) node: usize,
    pub(super) column: String,
    pub(super) descending: bool,
}

/// Where a row sorts: its order columns' values, then the ids of its records, so the order is total and a
/// paging cookie can say exactly where a page ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Key {
    pub(super) values: Vec<Value>,
    pub(super) ids: Vec<Option<Uuid>>,
}

/// Which of the sorted rows to return.
pub(super) enum Window {
    Top(usize),
    Page { number: u32, count: u32, after: Option<Key>, asked: bool },
}

/// A query bound to the organization's tables.
pub(super) struct Plan<'a> {
    pub(super) nodes: Vec<Node<'a>>,
    pub(super) criteria: Filter,
    pub(super) orders: Vec<Order>,
}

impl<'a> Plan<'a> {
    pub(super) fn new(org: &'a Organization, q: &'a QueryExpression) -> Result<Self, Fault> {
        let table = org.require_table(&q.entity_name)?;
        check_columns(table, &q.column_set)?;
        let root = Node { alias: table.logical_name.clone(), table, parent: 0, columns: &q.column_set, join: None };
        let mut plan = Plan { nodes: vec![root], criteria: Filter::default(), orders: Vec::new() };
        plan.add_links(org, 0, &q.link_entities)?;
        plan.criteria = plan.bind_filter(&q.criteria, None)?;
        plan.orders = q.orders.iter().map(|o| plan.bind_order(o)).collect::<Result<_, _>>()?;
        Ok(plan)
    }

    /// Adds link-entities depth first, so a node's index is its place in document order.
    fn add_links(&mut self, org: &'a Organization, parent: usize, links: &'a [LinkEntity]) -> Result<(), Fault> {
        for link in links {
            let table = org.require_table(&link.link_to_entity_name)?;
            let index = self.nodes.len();
            let alias = link.entity_alias.clone().unwrap_or_else(|| default_alias(&table.logical_name, index));
            if self.nodes.iter().any(|n| n.alias == alias) {
                return Err(invalid(format!("The alias '{alias}' names more than one table of the query")));
            }
            check_column(self.nodes[parent].table, &link.link_from_attribute_name)?;
            check_column(table, &link.link_to_attribute_name)?;
            check_columns(table, &link.columns)?;
            self.nodes.push(Node { alias, table, parent, columns: &link.columns, join: None });
            let criteria = self.bind_filter(&link.link_criteria, Some(index))?;
            self.nodes[index].join = Some(Join {
                from: &link.link_from_attribute_name,
                to: &link.link_to_attribute_name,
                outer: link.join_operator == JoinOperator::LeftOuter,
                criteria,
            });
            self.add_links(org, index, &link.link_entities)?;
        }
        Ok(())
    }

    /// The table a condition or order names: in a link-entity's criteria, that link-entity; elsewhere the
    /// root, or the table whose alias (or the root's logical name) `entity_name` gives.
    fn node_of(&self, entity_name: Option<&str>, link: Option<usize>) -> Result<usize, Fault> {
        match (entity_name, link) {
            (None, None) => Ok(0),
            (None, Some(i)) => Ok(i),
            (Some(name), Some(i)) if self.nodes[i].alias == name => Ok(i),
            (Some(_), Some(_)) => Err(invalid("A link-entity condition on another table is not supported yet".into())),
            (Some(name), None) => self
                .nodes
                .iter()
                .position(|n| n.alias == name)
                .ok_or_else(|| invalid(format!("The query has no link-entity with the alias '{name}'"))),
        }
    }

    fn bind_filter(&self, f: &FilterExpression, link: Option<usize>) -> Result<Filter, Fault> {
        Ok(Filter {
            or: f.filter_operator == LogicalOperator::Or,
            conditions: f.conditions.iter().map(|c| self.bind_condition(c, link)).collect::<Result<_, _>>()?,
            filters: f.filters.iter().map(|child| self.bind_filter(child, link)).collect::<Result<_, _>>()?,
        })
    }

    fn bind_condition(&self, c: &ConditionExpression, link: Option<usize>) -> Result<Condition, Fault> {
        let node = self.node_of(c.entity_name.as_deref(), link)?;
        let table = self.nodes[node].table;
        let ty = table.columns.get(&c.attribute_name).ok_or_else(|| unknown_column(table, &c.attribute_name))?;
        let at = format!("{}.{}", table.logical_name, c.attribute_name);
        check_arity(c, &at)?;
        let values = match c.operator {
            // Patterns stay text whatever the column's type.
            Op::Like | Op::NotLike | Op::BeginsWith | Op::NotBeginWith | Op::EndsWith | Op::NotEndWith => {
                c.values.clone()
            }
            _ => c.values.iter().map(|v| typed(ty, v, &at)).collect::<Result<_, _>>()?,
        };
        Ok(Condition { node, column: c.attribute_name.clone(), op: c.operator, values })
    }

    fn bind_order(&self, o: &OrderExpression) -> Result<Order, Fault> {
        let node = self.node_of(o.entity_name.as_deref(), None)?;
        check_column(self.nodes[node].table, &o.attribute_name)?;
        Ok(Order { node, column: o.attribute_name.clone(), descending: o.descending })
    }

    /// The readable root rows, each joined to its link-entities in turn (SQL's left-to-right joins: an inner
    /// join under an outer one drops the rows the outer join left empty).
    pub(super) fn join<'s>(&self, store: &'s Store, caller: &Caller) -> Vec<Row<'s>> {
        let width = self.nodes.len();
        let mut rows: Vec<Row<'s>> = store
            .rows(&self.nodes[0].table.logical_name)
            .map(|r| &**r)
            .filter(|r| (caller.readable)(r))
            .map(|r| std::iter::once(Some(r)).chain(std::iter::repeat_n(None, width - 1)).collect())
            .collect();
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            let Some(join) = &node.join else { continue };
            let candidates = Candidates::new(store, node.table, i, width, join, caller);
            rows = rows.into_iter().flat_map(|row| join.extend(row, i, node.parent, &candidates)).collect();
        }
        rows
    }

    pub(super) fn key(&self, row: &[Option<&Entity>]) -> Key {
        Key {
            values: self.orders.iter().map(|o| cell(row, o.node, &o.column).clone()).collect(),
            ids: row.iter().map(|e| e.and_then(|e| e.id)).collect(),
        }
    }

    pub(super) fn cmp_keys(&self, a: &Key, b: &Key) -> Ordering {
        for ((o, x), y) in self.orders.iter().zip(&a.values).zip(&b.values) {
            // Nulls sort first, as in SQL Server.
            let ord = y.is_null().cmp(&x.is_null()).then_with(|| compare(x, y).unwrap_or(Ordering::Equal));
            let ord = if o.descending { ord.reverse() } else { ord };
            if ord.is_ne() {
                return ord;
            }
        }
        a.ids.cmp(&b.ids)
    }

    /// The root row's columns, then each linked row's columns as `<alias>.<column>` (the platform's
    /// AliasedValue, here a plain value under the dotted name).
    pub(super) fn project(&self, row: &[Option<&Entity>]) -> Entity {
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

    pub(super) fn window(&self, q: &QueryExpression) -> Result<Window, Fault> {
        match (q.top_count, &q.page_info) {
            (Some(_), Some(p)) if p.count > 0 || p.page_number > 1 => {
                Err(invalid("A query can't have both a top count and paging (page and count)".into()))
            }
            (Some(top), _) => Ok(Window::Top(top as usize)),
            (None, Some(p)) => {
                let number = p.page_number.max(1);
                let after = match p.paging_cookie.as_deref() {
                    Some(text) if !text.trim().is_empty() => self.read_cookie(text, number)?,
                    _ => None,
                };
                let count = if p.count == 0 { DEFAULT_PAGE } else { p.count };
                Ok(Window::Page { number, count, after, asked: true })
            }
            (None, None) => Ok(Window::Page { number: 1, count: DEFAULT_PAGE, after: None, asked: false }),
        }
    }

    /// The rows of the window, whether more follow, and the cookie that continues after them.
    pub(super) fn page(&self, window: Window, rows: Vec<(Key, Entity)>) -> (Vec<Entity>, bool, Option<String>) {
        let (number, count, after, asked) = match window {
            Window::Top(n) => return (rows.into_iter().take(n).map(|(_, e)| e).collect(), false, None),
            Window::Page { number, count, after, asked } => (number, count as usize, after, asked),
        };
        let start = match &after {
            Some(last) => rows.partition_point(|(key, _)| self.cmp_keys(key, last).is_le()),
            None => (number as usize - 1).saturating_mul(count),
        };
        let end = start.saturating_add(count).min(rows.len());
        let start = start.min(end);
        let more = rows.len() > end;
        let cookie = match end.checked_sub(1).and_then(|i| rows.get(i)) {
            Some((key, _)) if end > start && (asked || more) => Some(self.cookie(number, key)),
            _ => None,
        };
        (rows.into_iter().skip(start).take(end - start).map(|(_, e)| e).collect(), more, cookie)
    }

    /// What the cookie checks it is used with: the orders, as `alias.column` with ` desc` where descending.
    fn order_signature(&self) -> String {
        let order =
            |o: &Order| format!("{}.{}{}", self.nodes[o.node].alias, o.column, if o.descending { " desc" } else { "" });
        self.orders.iter().map(order).collect::<Vec<_>>().join(",")
    }

    /// The paging cookie, opaque to callers: JSON text holding the page it ends, the orders it was made
    /// for and the sort key of the page's last row, so the next page starts right after that row even if
    /// rows were added or removed before it in between.
    fn cookie(&self, page: u32, key: &Key) -> String {
        let values: Vec<Json> = key.values.iter().map(value_to_json).collect();
        json!({ "page": page, "orders": self.order_signature(), "values": values, "ids": key.ids }).to_string()
    }

    /// The key to continue after, or `None` when the cookie ends another page than the one before `page`
    /// (the page number then decides, as it does without a cookie).
    fn read_cookie(&self, text: &str, page: u32) -> Result<Option<Key>, Fault> {
        let bad = |why: &str| invalid(format!("The paging cookie is not valid: {why}"));
        let json: Json = serde_json::from_str(text).map_err(|_| bad("it is not a cookie this host made"))?;
        let cookie_page = json.get("page").and_then(Json::as_u64).ok_or_else(|| bad("it has no page"))?;
        if cookie_page.checked_add(1) != Some(u64::from(page)) {
            return Ok(None);
        }
        if json.get("orders").and_then(Json::as_str) != Some(self.order_signature().as_str()) {
            return Err(bad("it was made for a query with other orders"));
        }
        let reader = Reader::default();
        let values: Option<Vec<Value>> = match json.get("values").and_then(Json::as_array) {
            Some(items) => items.iter().map(|v| reader.value(v, &JsonPath::Root("values")).ok()).collect(),
            None => None,
        };
        let ids: Option<Vec<Option<Uuid>>> = json.get("ids").and_then(|ids| serde_json::from_value(ids.clone()).ok());
        match (values, ids) {
            (Some(values), Some(ids)) if values.len() == self.orders.len() && ids.len() == self.nodes.len() => {
                Ok(Some(Key { values, ids }))
            }
            _ => Err(bad("it was made for another query")),
        }
    }
}
