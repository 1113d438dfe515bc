//! RetrieveMultiple over the store: one engine for QueryExpression and FetchXML (read into a QueryExpression).
//!
//! A query is first bound to the organization's tables (a `Plan`): every alias resolved, every column
//! checked, every condition value typed by its column, so a bad query fails before any row is read. Then rows
//! are joined, filtered, sorted, made distinct and paged. A joined row is a `Row`: one slot per table of the
//! query (the root first, then the link-entities in document order), `None` where an outer join found nothing.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::{Value as Json, json};
use xrm_model::json::{Path as JsonPath, Reader, value_to_json};
use xrm_model::{
    ColumnSet, ConditionExpression, ConditionOperator as Op, Entity, EntityCollection, Fault, FilterExpression,
    JoinOperator, LinkEntity, LogicalOperator, OrderExpression, Query, QueryExpression, Uuid, Value, codes,
};

use super::{core, fetchxml};
use crate::org::{ColumnType, Organization, Table};
use crate::store::Store;

/// Who runs the query: the user `eq-userid` and `eq-businessid` stand for, and which rows they may read.
pub struct Caller<'a> {
    pub user: Uuid,
    pub business_unit: Uuid,
    /// Whether the caller may read a row (SEC-6): rows it may not read are left out, never an error.
    pub readable: &'a dyn Fn(&Entity) -> bool,
}

/// The platform's page size when a query asks for none.
const DEFAULT_PAGE: u32 = 5000;

type Row<'s> = Vec<Option<&'s Entity>>;

fn invalid(message: String) -> Fault {
    Fault::new(codes::INVALID_ARGUMENT, message)
}

fn unknown_column(table: &Table, column: &str) -> Fault {
    Fault::new(
        codes::UNKNOWN_ATTRIBUTE,
        format!("'{}' entity doesn't contain attribute with Name = '{column}'", table.logical_name),
    )
}

fn check_column(table: &Table, column: &str) -> Result<(), Fault> {
    match table.columns.contains_key(column) {
        true => Ok(()),
        false => Err(unknown_column(table, column)),
    }
}

/// The alias of a link-entity that has none: its table and its place among the query's link-entities in
/// document order, from 1 (`contact1`), as the platform names them.
pub fn default_alias(table: &str, n: usize) -> String {
    format!("{table}{n}")
}

pub fn retrieve_multiple(
    org: &Organization,
    store: &Store,
    query: &Query,
    caller: &Caller,
) -> Result<EntityCollection, Fault> {
    let parsed;
    let q = match query {
        Query::Expression(q) => q,
        Query::FetchXml(text) => {
            parsed = fetchxml::parse(text)?;
            &parsed
        }
    };
    let plan = Plan::new(org, q)?;
    let window = plan.window(q)?;
    let mut rows = plan.join(store, caller);
    rows.retain(|row| plan.criteria.matches(row, caller));
    let mut keyed: Vec<(Key, Row)> = rows.into_iter().map(|row| (plan.key(&row), row)).collect();
    keyed.sort_by(|a, b| plan.cmp_keys(&a.0, &b.0));
    let mut found: Vec<(Key, Entity)> = keyed.into_iter().map(|(key, row)| (key, plan.project(&row))).collect();
    if q.distinct {
        let mut seen = HashSet::new();
        // Rows are compared as returned; the debug text of a BTreeMap is a canonical form of it.
        found.retain(|(_, e)| seen.insert(format!("{:?}", e.attributes)));
    }
    let (entities, more_records, paging_cookie) = plan.page(window, found);
    Ok(EntityCollection { entity_name: q.entity_name.clone(), entities, more_records, paging_cookie })
}

/// A table of the query: the root (index 0) or a link-entity.
struct Node<'a> {
    alias: String,
    table: &'a Table,
    parent: usize,
    columns: &'a ColumnSet,
    join: Option<Join<'a>>,
}

struct Join<'a> {
    /// The parent's column (`LinkFromAttributeName`, FetchXML's `to`).
    from: &'a str,
    /// This table's column (`LinkToAttributeName`, FetchXML's `from`).
    to: &'a str,
    outer: bool,
    criteria: Filter,
}

#[derive(Default)]
struct Filter {
    or: bool,
    conditions: Vec<Condition>,
    filters: Vec<Filter>,
}

struct Condition {
    node: usize,
    column: String,
    op: Op,
    values: Vec<Value>,
}

struct Order {
    node: usize,
    column: String,
    descending: bool,
}

/// Where a row sorts: its order columns' values, then the ids of its records, so the order is total and a
/// paging cookie can say exactly where a page ended.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    values: Vec<Value>,
    ids: Vec<Option<Uuid>>,
}

/// Which of the sorted rows to return.
enum Window {
    Top(usize),
    Page { number: u32, count: u32, after: Option<Key>, asked: bool },
}

/// A query bound to the organization's tables.
struct Plan<'a> {
    nodes: Vec<Node<'a>>,
    criteria: Filter,
    orders: Vec<Order>,
}

impl<'a> Plan<'a> {
    fn new(org: &'a Organization, q: &'a QueryExpression) -> Result<Self, Fault> {
        let table = core::table(org, &q.entity_name)?;
        core::check_columns(table, &q.column_set)?;
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
            let table = core::table(org, &link.link_to_entity_name)?;
            let index = self.nodes.len();
            let alias = link.entity_alias.clone().unwrap_or_else(|| default_alias(&table.logical_name, index));
            if self.nodes.iter().any(|n| n.alias == alias) {
                return Err(invalid(format!("The alias '{alias}' names more than one table of the query")));
            }
            check_column(self.nodes[parent].table, &link.link_from_attribute_name)?;
            check_column(table, &link.link_to_attribute_name)?;
            core::check_columns(table, &link.columns)?;
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
    fn join<'s>(&self, store: &'s Store, caller: &Caller) -> Vec<Row<'s>> {
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

    fn key(&self, row: &[Option<&Entity>]) -> Key {
        Key {
            values: self.orders.iter().map(|o| cell(row, o.node, &o.column).clone()).collect(),
            ids: row.iter().map(|e| e.and_then(|e| e.id)).collect(),
        }
    }

    fn cmp_keys(&self, a: &Key, b: &Key) -> Ordering {
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
    fn project(&self, row: &[Option<&Entity>]) -> Entity {
        let root = &self.nodes[0];
        let mut out = match row.first().copied().flatten() {
            Some(r) => core::project(root.table, r, root.columns),
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

    fn window(&self, q: &QueryExpression) -> Result<Window, Fault> {
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
    fn page(&self, window: Window, rows: Vec<(Key, Entity)>) -> (Vec<Entity>, bool, Option<String>) {
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

/// The rows of a link-entity's table that may join (readable, SEC-6, and passing the link criteria), by the
/// key of their join column.
struct Candidates<'s>(HashMap<String, Vec<&'s Entity>>);

impl<'s> Candidates<'s> {
    fn new(store: &'s Store, table: &Table, i: usize, width: usize, join: &Join, caller: &Caller) -> Self {
        let mut found: HashMap<String, Vec<&'s Entity>> = HashMap::new();
        let mut probe: Row<'s> = vec![None; width];
        for row in store.rows(&table.logical_name).map(|r| &**r).filter(|r| (caller.readable)(r)) {
            probe[i] = Some(row);
            if let Some(key) = row.get(join.to).and_then(join_key)
                && join.criteria.matches(&probe, caller)
            {
                found.entry(key).or_default().push(row);
            }
        }
        Candidates(found)
    }
}

/// What a join compares: ids whatever form they take (a lookup, a GUID, GUID text), text without case (as
/// `compare`), other values as they print.
fn join_key(v: &Value) -> Option<String> {
    match (v, id_key(v)) {
        (Value::Null, _) => None,
        (_, Some(id)) => Some(id.to_string()),
        (Value::Text(t), None) => Some(t.to_lowercase()),
        _ => Some(v.to_string()),
    }
}

impl Join<'_> {
    /// The row joined to each matching candidate; none matching, the row with an empty slot when the join is
    /// outer, else nothing.
    fn extend<'s>(&self, row: Row<'s>, i: usize, parent: usize, candidates: &Candidates<'s>) -> Vec<Row<'s>> {
        let key = row[parent].and_then(|p| p.get(self.from)).and_then(join_key);
        let found = key.and_then(|k| candidates.0.get(&k)).cloned().unwrap_or_default();
        if found.is_empty() {
            return if self.outer { vec![row] } else { Vec::new() };
        }
        found
            .into_iter()
            .map(|m| {
                let mut joined = row.clone();
                joined[i] = Some(m);
                joined
            })
            .collect()
    }
}

fn id_key(v: &Value) -> Option<Uuid> {
    match v {
        Value::Guid(g) => Some(*g),
        Value::Lookup(r) => Some(r.id),
        Value::Text(t) => Uuid::parse_str(t).ok(),
        _ => None,
    }
}

fn cell<'r>(row: &[Option<&'r Entity>], node: usize, column: &str) -> &'r Value {
    row.get(node).copied().flatten().and_then(|e| e.get(column)).unwrap_or(&Value::Null)
}

/// A condition takes as many values as its operator needs, none of them null.
fn check_arity(c: &ConditionExpression, at: &str) -> Result<(), Fault> {
    let n = c.values.len();
    let (fits, wanted) = match c.operator {
        Op::Null
        | Op::NotNull
        | Op::EqualUserId
        | Op::NotEqualUserId
        | Op::EqualBusinessId
        | Op::NotEqualBusinessId => (n == 0, "no value"),
        Op::In | Op::NotIn => (n > 0, "one or more values"),
        Op::Between | Op::NotBetween => (n == 2, "two values"),
        _ => (n == 1, "one value"),
    };
    if !fits {
        let op = c.operator.fetch_name();
        return Err(invalid(format!("Condition for attribute '{at}': the operator '{op}' takes {wanted}, not {n}")));
    }
    match c.values.iter().any(Value::is_null) {
        false => Ok(()),
        true => Err(invalid(format!(
            "Condition for attribute '{at}': null is not a valid value for an attribute. Use 'Null' or 'NotNull' conditions instead."
        ))),
    }
}

/// A condition value as its column's type. Text (all FetchXML gives, and what JSON gives for most types) is
/// parsed as the column's type; other values are kept, as `compare` reads them across types.
fn typed(ty: &ColumnType, v: &Value, at: &str) -> Result<Value, Fault> {
    let parsed = match (ty, v) {
        (ColumnType::Boolean, Value::Integer(n @ (0 | 1))) => Some(Value::Boolean(*n == 1)),
        (_, Value::Text(text)) => fetchxml::parse_value(ty, text),
        _ => Some(v.clone()),
    };
    parsed.ok_or_else(|| {
        invalid(format!(
            "Condition for attribute '{at}': '{v}' is not a valid value of type {}",
            fetchxml::type_name(ty)
        ))
    })
}

impl Filter {
    fn matches(&self, row: &[Option<&Entity>], caller: &Caller) -> bool {
        let mut results = self
            .conditions
            .iter()
            .map(|c| c.matches(row, caller))
            .chain(self.filters.iter().map(|child| child.matches(row, caller)));
        match self.or {
            false => results.all(|r| r),
            true => (self.conditions.is_empty() && self.filters.is_empty()) || results.any(|r| r),
        }
    }
}

impl Condition {
    fn matches(&self, row: &[Option<&Entity>], caller: &Caller) -> bool {
        let value = cell(row, self.node, &self.column);
        let (test, negated) = positive(self.op);
        if value.is_null() {
            // An empty column matches every negative operator: the platform's `ne` returns nulls too.
            return (test == Op::Null) != negated;
        }
        let first = self.values.first();
        let cmp = |v: Option<&Value>| v.and_then(|v| compare(value, v));
        let equal = |v: &Value| compare(value, v) == Some(Ordering::Equal);
        let passes = match test {
            Op::Equal => cmp(first) == Some(Ordering::Equal),
            Op::GreaterThan => cmp(first) == Some(Ordering::Greater),
            Op::GreaterEqual => cmp(first).is_some_and(Ordering::is_ge),
            Op::LessThan => cmp(first) == Some(Ordering::Less),
            Op::LessEqual => cmp(first).is_some_and(Ordering::is_le),
            Op::In => self.values.iter().any(equal),
            Op::Between => {
                cmp(first).is_some_and(Ordering::is_ge) && cmp(self.values.get(1)).is_some_and(Ordering::is_le)
            }
            Op::Like => text_test(value, first, like),
            Op::BeginsWith => text_test(value, first, |t, p| t.starts_with(p)),
            Op::EndsWith => text_test(value, first, |t, p| t.ends_with(p)),
            Op::EqualUserId => equal(&Value::Guid(caller.user)),
            Op::EqualBusinessId => equal(&Value::Guid(caller.business_unit)),
            _ => false,
        };
        passes != negated
    }
}

/// An operator as a positive test and whether its result is negated (`not-like` is `like`, negated).
fn positive(op: Op) -> (Op, bool) {
    match op {
        Op::NotEqual => (Op::Equal, true),
        Op::NotIn => (Op::In, true),
        Op::NotNull => (Op::Null, true),
        Op::NotBetween => (Op::Between, true),
        Op::NotLike => (Op::Like, true),
        Op::NotBeginWith => (Op::BeginsWith, true),
        Op::NotEndWith => (Op::EndsWith, true),
        Op::NotEqualUserId => (Op::EqualUserId, true),
        Op::NotEqualBusinessId => (Op::EqualBusinessId, true),
        op => (op, false),
    }
}

/// A test of text against text, both lower-cased (the platform's collation is case-insensitive).
fn text_test(value: &Value, wanted: Option<&Value>, test: impl Fn(&str, &str) -> bool) -> bool {
    match (value, wanted) {
        (Value::Text(text), Some(Value::Text(p))) => test(&text.to_lowercase(), &p.to_lowercase()),
        _ => false,
    }
}

/// Compares a stored value with a query value, across the types a condition may mix (text against a lookup's
/// id, an integer against a choice or money); text compares case-insensitively, as the platform's collation.
pub fn compare(stored: &Value, wanted: &Value) -> Option<Ordering> {
    use Value::*;
    let number = |v: &Value| match v {
        Integer(n) | Choice(n) => Some(f64::from(*n)),
        // INVARIANT: comparison only; the precision lost past 2^53 does not change an order of plain values.
        BigInt(n) => Some(*n as f64),
        Double(n) => Some(*n),
        Decimal(s) | Money(s) => s.parse().ok(),
        Text(s) => s.parse().ok(),
        _ => None,
    };
    match (stored, wanted) {
        (Text(a), Text(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Boolean(a), Boolean(b)) => Some(a.cmp(b)),
        (DateTime(a), DateTime(b)) => Some(a.cmp(b)),
        (DateTime(a), Text(b)) => xrm_model::json::parse_datetime(b).map(|b| a.cmp(&b)),
        (Guid(_) | Lookup(_), _) | (_, Guid(_) | Lookup(_)) => Some(id_key(stored)?.cmp(&id_key(wanted)?)),
        (Choices(a), Integer(b) | Choice(b)) => Some(if a.contains(b) { Ordering::Equal } else { Ordering::Less }),
        _ => number(stored)?.partial_cmp(&number(wanted)?),
    }
}

/// One character a `LIKE` pattern accepts: one in (or, negated, not in) these ranges. `_` is an empty
/// negated set; a plain character, a set of itself.
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn of(c: char) -> Self {
        Class { negated: false, ranges: vec![(c, c)] }
    }

    fn accepts(&self, c: char) -> bool {
        self.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != self.negated
    }
}

/// SQL Server's `LIKE` on lower-cased text: `%` any run of characters, `_` any one, `[…]` one of a set (so
/// `[%]` is a literal `%`). Linear backtracking on the last `%`, never exponential.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let tokens = like_tokens(pattern);
    let (mut t, mut p) = (0, 0);
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(None) => {
                retry = Some((p + 1, t));
                p += 1;
            }
            Some(Some(class)) if class.accepts(text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match retry {
                Some((after, from)) => {
                    (p, t) = (after, from + 1);
                    retry = Some((after, from + 1));
                }
                None => return false,
            },
        }
    }
    tokens.iter().skip(p).all(Option::is_none)
}

/// The pattern as tokens: `None` for `%`, a class for every other position.
fn like_tokens(pattern: &str) -> Vec<Option<Class>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        tokens.push(match c {
            '%' => None,
            '_' => Some(Class { negated: true, ranges: Vec::new() }),
            '[' => match chars[i..].iter().position(|&x| x == ']') {
                Some(len) => {
                    let set = like_set(&chars[i..i + len]);
                    i += len + 1;
                    Some(set)
                }
                None => Some(Class::of('[')),
            },
            c => Some(Class::of(c)),
        });
    }
    tokens
}

fn like_set(body: &[char]) -> Class {
    let (negated, body) = match body.split_first() {
        Some(('^', rest)) if !rest.is_empty() => (true, rest),
        _ => (false, body),
    };
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(&lo) = body.get(i) {
        match (body.get(i + 1), body.get(i + 2)) {
            (Some('-'), Some(&hi)) => {
                ranges.push((lo, hi));
                i += 3;
            }
            _ => {
                ranges.push((lo, lo));
                i += 1;
            }
        }
    }
    Class { negated, ranges }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;
    use xrm_model::PagingInfo;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn account(n: u128, name: &str) -> Entity {
        let mut e = Entity::with_id("account", id(n));
        e.set("name", name);
        e
    }

    /// Accounts 1..=5 named A..E (B's parent is A); contacts Ann (of A), Ben (of B) and Cy (of none).
    fn org() -> Organization {
        let account =
            |n: u128, name: &str| json!({ "@logicalname": "account", "@id": id(n).to_string(), "name": name });
        let mut records: Vec<_> = ["A", "B", "C", "D", "E"].iter().zip(1..).map(|(name, n)| account(n, name)).collect();
        records[1]["parentaccountid"] = json!({ "@ref": "account", "id": id(1).to_string() });
        for (n, name, parent) in [(11, "Ann", Some(1)), (12, "Ben", Some(2)), (13, "Cy", None)] {
            let mut c = json!({ "@logicalname": "contact", "@id": id(n).to_string(), "fullname": name });
            if let Some(p) = parent {
                c["parentcustomerid"] = json!({ "@ref": "account", "id": id(p).to_string() });
            }
            records.push(c);
        }
        let file = json!({ "name": "q", "businessunits": [ { "@alias": "root", "name": "Root" } ],
                           "users": [ { "@alias": "u", "businessunit": "@root" } ], "records": records });
        Organization::from_json(Path::new("q.json"), file).unwrap()
    }

    fn run(
        org: &Organization,
        store: &Store,
        q: &QueryExpression,
        readable: &dyn Fn(&Entity) -> bool,
    ) -> Result<EntityCollection, Fault> {
        let caller = Caller { user: Uuid::nil(), business_unit: Uuid::nil(), readable };
        retrieve_multiple(org, store, &Query::Expression(q.clone()), &caller)
    }

    /// Each row's `column` as text, `-` where it is absent.
    fn column(found: &EntityCollection, column: &str) -> Vec<String> {
        found.entities.iter().map(|e| e.get(column).map_or("-".into(), Value::to_string)).collect()
    }

    fn sorted(table: &str, by: &str) -> QueryExpression {
        let mut q = QueryExpression::new(table);
        q.orders = vec![OrderExpression { attribute_name: by.into(), descending: false, entity_name: None }];
        q
    }

    fn link(from: &str, table: &str, to: &str, alias: &str, outer: bool) -> LinkEntity {
        LinkEntity {
            link_from_attribute_name: from.into(),
            link_to_entity_name: table.into(),
            link_to_attribute_name: to.into(),
            join_operator: if outer { JoinOperator::LeftOuter } else { JoinOperator::Inner },
            entity_alias: Some(alias.into()),
            columns: ColumnSet::Columns(vec!["name".into()]),
            ..LinkEntity::default()
        }
    }

    fn page(number: u32, cookie: Option<String>) -> Option<PagingInfo> {
        Some(PagingInfo { page_number: number, count: 2, paging_cookie: cookie })
    }

    #[test]
    fn like_follows_sql_server() {
        for (text, pattern, expected) in [
            ("contoso", "c%", true),
            ("contoso", "%so", true),
            ("contoso", "c_ntoso", true),
            ("contoso", "c_toso", false),
            ("50% off", "%[%]%", true),
            ("50 off", "%[%]%", false),
            ("b", "[a-c]", true),
            ("d", "[^a-c]", true),
            ("b", "[^a-c]", false),
            ("[x", "[x", true),
            ("", "%", true),
            ("abc", "", false),
            ("axbxc", "a%b%c", true),
            ("axbx", "a%b%c", false),
        ] {
            assert_eq!(like(text, pattern), expected, "{text:?} like {pattern:?}");
        }
        // Backtracking only to the last `%`: a pattern that must fail does so at once on long text.
        assert!(!like(&"a".repeat(20_000), &format!("{}b", "%a".repeat(50))));
    }

    #[test]
    fn a_paging_cookie_continues_after_the_last_row_even_when_rows_arrive_before_it() {
        let org = org();
        let mut store = org.data.clone();
        let mut q = sorted("account", "name");
        q.page_info = page(1, None);
        let first = run(&org, &store, &q, &|_| true).unwrap();
        assert_eq!((column(&first, "name"), first.more_records), (vec!["A".into(), "B".into()], true));
        store.put(account(9, "AA"));
        q.page_info = page(2, first.paging_cookie.clone());
        let second = run(&org, &store, &q, &|_| true).unwrap();
        assert_eq!((column(&second, "name"), second.more_records), (vec!["C".into(), "D".into()], true));
        q.page_info = page(3, second.paging_cookie);
        let third = run(&org, &store, &q, &|_| true).unwrap();
        assert_eq!((column(&third, "name"), third.more_records), (vec!["E".into()], false));
        // The page number decides without a cookie, or with the cookie of another page.
        q.page_info = page(3, first.paging_cookie.clone());
        assert_eq!(column(&run(&org, &store, &q, &|_| true).unwrap(), "name"), ["D", "E"]);
        // A cookie of another query, or not a cookie at all, is refused.
        q.orders[0].descending = true;
        q.page_info = page(2, first.paging_cookie);
        assert_eq!(run(&org, &store, &q, &|_| true).unwrap_err().code, codes::INVALID_ARGUMENT);
        q.page_info = page(2, Some("<cookie page='1'/>".into()));
        assert_eq!(run(&org, &store, &q, &|_| true).unwrap_err().code, codes::INVALID_ARGUMENT);
    }

    #[test]
    fn without_paging_a_query_returns_the_platform_page_of_5000_and_says_more_follow() {
        let org = org();
        let mut store = org.data.clone();
        (100..5100).for_each(|n| store.put(account(n, "more")));
        let found = run(&org, &store, &QueryExpression::new("account"), &|_| true).unwrap();
        assert_eq!((found.entities.len(), found.more_records), (5000, true));
        assert!(found.paging_cookie.is_some());
    }

    #[test]
    fn an_outer_join_leaves_linked_columns_empty_and_an_inner_join_under_it_drops_the_row() {
        let org = org();
        let mut q = sorted("contact", "fullname");
        q.link_entities = vec![link("parentcustomerid", "account", "accountid", "a", true)];
        let found = run(&org, &org.data, &q, &|_| true).unwrap();
        assert_eq!(column(&found, "fullname"), ["Ann", "Ben", "Cy"]);
        assert_eq!(column(&found, "a.name"), ["A", "B", "-"]);
        // SQL's left-to-right joins: the inner join to a parent account drops Ann (A has none) and Cy.
        q.link_entities[0].link_entities = vec![link("parentaccountid", "account", "accountid", "p", false)];
        let found = run(&org, &org.data, &q, &|_| true).unwrap();
        assert_eq!((column(&found, "fullname"), column(&found, "p.name")), (vec!["Ben".into()], vec!["A".into()]));
    }

    #[test]
    fn rows_the_caller_may_not_read_are_left_out_linked_rows_too() {
        let org = org();
        let hidden = |e: &Entity| e.id == Some(id(2)) || e.id == Some(id(13));
        let readable = |e: &Entity| !hidden(e);
        let accounts = run(&org, &org.data, &sorted("account", "name"), &readable).unwrap();
        assert_eq!(column(&accounts, "name"), ["A", "C", "D", "E"]);
        let mut q = sorted("contact", "fullname");
        q.link_entities = vec![link("parentcustomerid", "account", "accountid", "a", false)];
        assert_eq!(column(&run(&org, &org.data, &q, &readable).unwrap(), "fullname"), ["Ann"]);
        q.link_entities[0].join_operator = JoinOperator::LeftOuter;
        let found = run(&org, &org.data, &q, &readable).unwrap();
        assert_eq!(
            (column(&found, "fullname"), column(&found, "a.name")),
            (vec!["Ann".into(), "Ben".into()], vec!["A".into(), "-".into()])
        );
    }

    #[test]
    fn a_bad_query_fails_before_any_row_is_read() {
        let org = org();
        let mut q = sorted("account", "name");
        q.top_count = Some(1);
        q.page_info = page(2, None);
        let fault = run(&org, &org.data, &q, &|_| true).unwrap_err();
        assert!(fault.message.contains("top count and paging"), "{fault}");
        let mut q = QueryExpression::new("account");
        let condition =
            |op, values| ConditionExpression { entity_name: None, attribute_name: "name".into(), operator: op, values };
        for (c, wanted) in [
            (condition(Op::Equal, vec![Value::Null]), "Use 'Null' or 'NotNull'"),
            (condition(Op::In, vec![]), "takes one or more values"),
            (condition(Op::Null, vec!["x".into()]), "takes no value"),
        ] {
            q.criteria.conditions = vec![c];
            let fault = run(&org, &org.data, &q, &|_| true).unwrap_err();
            assert!(fault.code == codes::INVALID_ARGUMENT && fault.message.contains(wanted), "{fault}");
        }
        let mut q = QueryExpression::new("contact");
        q.link_entities = vec![
            link("parentcustomerid", "account", "accountid", "a", false),
            link("parentcustomerid", "account", "accountid", "a", true),
        ];
        assert!(run(&org, &org.data, &q, &|_| true).unwrap_err().message.contains("The alias 'a' names more than one"));
    }
}
