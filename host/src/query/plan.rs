//! A query bound to the organization's tables (a [`Plan`]): every alias resolved, every column checked, every
//! condition's operands typed by its column, and each part of the top filter placed at the first table of the
//! join where it can be checked. All of it in time linear in the query's size.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use xrm_model::{
    ColumnSet, ConditionExpression, ConditionOperator as Op, Fault, FilterExpression, JoinOperator, LinkEntity,
    LogicalOperator, OrderExpression, QueryExpression, Uuid, Value,
};

use super::dates;
use super::fetchxml::AliasedColumn;
use super::filter::{Condition, Filter, Test};
use super::like::Pattern;
use super::values::{parse_value, type_name};
use super::{Caller, check_column, check_columns, default_alias, invalid, unknown_column};
use crate::deadline::Meter;
use crate::org::{ColumnType, Organization, Table};
use crate::store::{IndexKey, Store, fold_case};

/// A table of the query: the root (index 0) or a link-entity.
pub(super) struct Node<'a> {
    pub(super) alias: String,
    pub(super) table: &'a Table,
    pub(super) parent: usize,
    pub(super) columns: &'a ColumnSet,
    /// The columns FetchXML gave an alias of their own (`<attribute name=… alias=…>`): column and alias.
    pub(super) aliased: Vec<(&'a str, &'a str)>,
    /// How the table joins its parent; `None` for the root.
    pub(super) join: Option<Join<'a>>,
    /// The parts of the top filter that read this table and none after it: checked as soon as it is joined.
    pub(super) checks: Filter,
}

pub(super) struct Join<'a> {
    /// The parent's column (`LinkFromAttributeName`, FetchXML's `to`).
    pub(super) from: &'a str,
    /// This table's column (`LinkToAttributeName`, FetchXML's `from`).
    pub(super) to: &'a str,
    pub(super) kind: JoinKind,
    pub(super) criteria: Filter,
}

/// How a link-entity joins (QRY-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinKind {
    Inner,
    Outer,
    /// Inner, with only the first matching row (`matchfirstrowusingcrossapply`).
    First,
    /// The parent row once if any row matches, without columns (`exists`, `in`, `any`, `not all`).
    Exists,
    /// The parent row if no row matches (`not any`).
    NotAny,
    /// The parent row if rows match the join but none passes the link's filter (`all`, as documented).
    All,
}

impl JoinKind {
    fn of(op: JoinOperator) -> JoinKind {
        match op {
            JoinOperator::Inner => JoinKind::Inner,
            JoinOperator::LeftOuter => JoinKind::Outer,
            JoinOperator::MatchFirstRowUsingCrossApply => JoinKind::First,
            JoinOperator::In | JoinOperator::Exists | JoinOperator::Any | JoinOperator::NotAll => JoinKind::Exists,
            JoinOperator::NotAny => JoinKind::NotAny,
            JoinOperator::All => JoinKind::All,
        }
    }

    /// Whether the link only tests the parent row, returning no row of its own.
    pub(super) fn tests_only(self) -> bool {
        matches!(self, JoinKind::Exists | JoinKind::NotAny | JoinKind::All)
    }
}

pub(super) struct Order {
    pub(super) node: usize,
    pub(super) column: String,
    pub(super) descending: bool,
}

/// A query bound to the organization's tables.
pub(super) struct Plan<'a> {
    pub(super) nodes: Vec<Node<'a>>,
    pub(super) orders: Vec<Order>,
    pub(super) distinct: bool,
    /// Each table's index by its alias (and the root's by its logical name).
    aliases: HashMap<String, usize>,
}

impl<'a> Plan<'a> {
    pub(super) fn new(
        org: &'a Organization,
        store: &Store,
        q: &'a QueryExpression,
        aliased: &'a [AliasedColumn],
        caller: &Caller,
    ) -> Result<Self, Fault> {
        let table = org.require_table(&q.entity_name)?;
        check_columns(table, &q.column_set)?;
        let alias = table.logical_name.clone();
        let root = Node {
            alias: alias.clone(),
            table,
            parent: 0,
            columns: &q.column_set,
            aliased: Vec::new(),
            join: None,
            checks: Filter::default(),
        };
        let mut plan =
            Plan { nodes: vec![root], orders: Vec::new(), distinct: q.distinct, aliases: HashMap::from([(alias, 0)]) };
        let mut meter = Meter::new();
        let mut binding = Binding { store, caller, meter: &mut meter };
        plan.add_links(org, 0, &q.link_entities, &mut binding)?;
        plan.add_aliased(aliased)?;
        let criteria = plan.bind_filter(&q.criteria, None, &mut binding)?;
        plan.place(criteria);
        plan.orders = q.orders.iter().map(|o| plan.bind_order(o)).collect::<Result<_, _>>()?;
        Ok(plan)
    }

    /// Adds link-entities depth first, so a node's index is its place in document order.
    fn add_links(
        &mut self,
        org: &'a Organization,
        parent: usize,
        links: &'a [LinkEntity],
        binding: &mut Binding,
    ) -> Result<(), Fault> {
        for link in links {
            binding.meter.tick()?;
            let table = org.require_table(&link.link_to_entity_name)?;
            let index = self.nodes.len();
            let alias = link.entity_alias.clone().unwrap_or_else(|| default_alias(&table.logical_name, index));
            if self.aliases.insert(alias.clone(), index).is_some() {
                return Err(invalid(format!("The alias '{alias}' names more than one table of the query")));
            }
            check_column(self.nodes[parent].table, &link.link_from_attribute_name)?;
            check_column(table, &link.link_to_attribute_name)?;
            check_columns(table, &link.columns)?;
            let columns = &link.columns;
            let node =
                Node { alias, table, parent, columns, aliased: Vec::new(), join: None, checks: Filter::default() };
            self.nodes.push(node);
            let criteria = self.bind_filter(&link.link_criteria, Some(index), binding)?;
            let kind = JoinKind::of(link.join_operator);
            if kind.tests_only() && !link.link_entities.is_empty() {
                return Err(invalid(format!(
                    "Link-entities inside the link-entity '{}' of type '{}' are not supported yet",
                    self.nodes[index].alias,
                    link.join_operator.fetch_name()
                )));
            }
            self.nodes[index].join =
                Some(Join { from: &link.link_from_attribute_name, to: &link.link_to_attribute_name, kind, criteria });
            self.add_links(org, index, &link.link_entities, binding)?;
        }
        Ok(())
    }

    /// Binds the columns FetchXML gave an alias of their own (QRY-10) to their tables; an alias names one
    /// column of the query.
    fn add_aliased(&mut self, aliased: &'a [AliasedColumn]) -> Result<(), Fault> {
        let mut seen = HashSet::new();
        for a in aliased {
            let node = self.node_of(a.entity.as_deref(), None)?;
            check_column(self.nodes[node].table, &a.column)?;
            if !seen.insert(a.alias.as_str()) {
                return Err(invalid(format!("The column alias '{}' is used more than once in the query", a.alias)));
            }
            self.nodes[node].aliased.push((&a.column, &a.alias));
        }
        Ok(())
    }

    /// Places the top filter's parts: with `and`, each condition and child filter at the last table it reads
    /// (the root's own conditions are then checked before any join); with `or`, the whole filter there.
    fn place(&mut self, criteria: Filter) {
        if criteria.or {
            let last = criteria.last_node();
            self.nodes[last].checks.filters.push(criteria);
            return;
        }
        for c in criteria.conditions {
            self.nodes[c.node].checks.conditions.push(c);
        }
        for f in criteria.filters {
            let last = f.last_node();
            self.nodes[last].checks.filters.push(f);
        }
    }

    /// The table a condition or order names: in a link-entity's criteria, that link-entity; elsewhere the
    /// root, or the table whose alias (or the root's logical name) `entity_name` gives.
    pub(super) fn node_of(&self, entity_name: Option<&str>, link: Option<usize>) -> Result<usize, Fault> {
        match (entity_name, link) {
            (None, None) => Ok(0),
            (None, Some(i)) => Ok(i),
            (Some(name), Some(i)) if self.nodes[i].alias == name => Ok(i),
            (Some(_), Some(_)) => Err(invalid("A link-entity condition on another table is not supported yet".into())),
            (Some(name), None) => self
                .aliases
                .get(name)
                .copied()
                .ok_or_else(|| invalid(format!("The query has no link-entity with the alias '{name}'"))),
        }
    }

    fn bind_filter(&self, f: &FilterExpression, link: Option<usize>, binding: &mut Binding) -> Result<Filter, Fault> {
        let mut conditions = Vec::with_capacity(f.conditions.len());
        for c in &f.conditions {
            binding.meter.tick()?;
            conditions.push(self.bind_condition(c, link, binding)?);
        }
        let mut filters = Vec::with_capacity(f.filters.len());
        for child in &f.filters {
            binding.meter.tick()?;
            filters.push(self.bind_filter(child, link, binding)?);
        }
        Ok(Filter { or: f.filter_operator == LogicalOperator::Or, conditions, filters })
    }

    fn bind_condition(
        &self,
        c: &ConditionExpression,
        link: Option<usize>,
        binding: &mut Binding,
    ) -> Result<Condition, Fault> {
        let caller = binding.caller;
        let node = self.node_of(c.entity_name.as_deref(), link)?;
        let table = self.nodes[node].table;
        let ty = table.columns.get(&c.attribute_name).ok_or_else(|| unknown_column(table, &c.attribute_name))?;
        let at = format!("{}.{}", table.logical_name, c.attribute_name);
        check_arity(c, &at)?;
        let (op, negated) = positive(c.operator);
        let value = |i: usize| typed(ty, &c.values[i], &at);
        // Patterns stay text whatever the column's type, lower-cased as the text they are matched against.
        let pattern = || match &c.values[0] {
            Value::Text(t) => fold_case(t),
            other => fold_case(&other.to_string()),
        };
        let name = c.operator.fetch_name();
        let bad_value = |v: &Value| {
            invalid(format!("Condition for attribute '{at}': '{v}' is not a valid value for the operator '{name}'"))
        };
        let test = match op {
            _ if dates::arity(op).is_some() => {
                if *ty != ColumnType::DateTime {
                    return Err(invalid(format!(
                        "Condition for attribute '{at}': the operator '{name}' applies to date and time columns"
                    )));
                }
                let span = dates::span(op, c.values.first(), &caller.calendar);
                Test::Span(span.ok_or_else(|| bad_value(c.values.first().unwrap_or(&Value::Null)))?)
            }
            Op::ContainValues => {
                let choice = |v: &Value| match typed(&ColumnType::Picklist, v, &at)? {
                    Value::Choice(n) | Value::Integer(n) => Ok(n),
                    other => Err(bad_value(&other)),
                };
                Test::ContainsAny(c.values.iter().map(choice).collect::<Result<_, _>>()?)
            }
            Op::Under | Op::UnderOrEqual | Op::Above | Op::AboveOrEqual => {
                let id = match typed(ty, &c.values[0], &at)? {
                    Value::Guid(id) => id,
                    Value::Lookup(r) => r.id,
                    other => return Err(bad_value(&other)),
                };
                let ids = hierarchy(binding, table, &c.attribute_name, op, id)?;
                Test::In(ids.into_iter().map(Value::Guid).collect())
            }
            Op::Null => Test::Null,
            Op::Equal => Test::Equal(value(0)?),
            Op::In => Test::In((0..c.values.len()).map(value).collect::<Result<_, _>>()?),
            Op::GreaterThan => Test::Compare(Ordering::Greater, value(0)?),
            Op::LessThan => Test::Compare(Ordering::Less, value(0)?),
            Op::GreaterEqual => Test::CompareOrEqual(Ordering::Greater, value(0)?),
            Op::LessEqual => Test::CompareOrEqual(Ordering::Less, value(0)?),
            Op::Between => Test::Between(value(0)?, value(1)?),
            Op::Like => Test::Like(Pattern::new(&pattern())),
            Op::BeginsWith => Test::BeginsWith(pattern()),
            Op::EndsWith => Test::EndsWith(pattern()),
            Op::EqualUserId => Test::Equal(Value::Guid(caller.user)),
            Op::EqualBusinessId => Test::Equal(Value::Guid(caller.business_unit)),
            other => return Err(invalid(format!("The operator '{}' is not supported yet", other.fetch_name()))),
        };
        Ok(Condition { node, column: c.attribute_name.clone(), test, negated })
    }

    fn bind_order(&self, o: &OrderExpression) -> Result<Order, Fault> {
        let node = self.node_of(o.entity_name.as_deref(), None)?;
        check_column(self.nodes[node].table, &o.attribute_name)?;
        Ok(Order { node, column: o.attribute_name.clone(), descending: o.descending })
    }

    /// What the paging cookie checks it is used with: the orders, as `alias.column` with ` desc` where
    /// descending.
    pub(super) fn order_signature(&self) -> String {
        let order =
            |o: &Order| format!("{}.{}{}", self.nodes[o.node].alias, o.column, if o.descending { " desc" } else { "" });
        self.orders.iter().map(order).collect::<Vec<_>>().join(",")
    }
}

/// What binding a query reads besides the query: the store (hierarchies), the caller, the deadline.
struct Binding<'b> {
    store: &'b Store,
    caller: &'b Caller<'b>,
    meter: &'b mut Meter,
}

/// The ids an `under` / `above` condition (or its `eq-or-` form) selects in `table`'s hierarchy (QRY-5): the
/// records below `id` (or above it), through the table's parent lookup, each once even if the data has a
/// cycle. The condition must name the table's primary key, as the platform's do.
fn hierarchy(binding: &mut Binding, table: &Table, column: &str, op: Op, id: Uuid) -> Result<Vec<Uuid>, Fault> {
    let name = op.fetch_name();
    if column != table.primary_id {
        return Err(invalid(format!(
            "The operator '{name}' applies to the primary key of a table with a hierarchy ('{}'), not to '{column}'",
            table.primary_id
        )));
    }
    let parent = hierarchy_column(table).ok_or_else(|| {
        invalid(format!("The operator '{name}' needs a table with a hierarchy; '{}' has none", table.logical_name))
    })?;
    let (store, rows) = (binding.store, &table.logical_name);
    let mut seen = HashSet::from([id]);
    let mut found = Vec::new();
    if matches!(op, Op::Under | Op::UnderOrEqual) {
        let mut next = vec![id];
        while let Some(at) = next.pop() {
            for child in store.find(rows, parent, &IndexKey::Id(at)).into_iter().flatten() {
                binding.meter.tick()?;
                if let Some(child) = child.id.filter(|c| seen.insert(*c)) {
                    found.push(child);
                    next.push(child);
                }
            }
        }
    } else {
        let mut at = id;
        while let Some(up) = store.get(rows, at).and_then(|r| super::filter::id_key(r.get(parent)?)) {
            binding.meter.tick()?;
            if !seen.insert(up) {
                break;
            }
            found.push(up);
            at = up;
        }
    }
    if matches!(op, Op::UnderOrEqual | Op::AboveOrEqual) {
        found.push(id);
    }
    Ok(found)
}

/// The lookup that makes a table a hierarchy: `parent<table>id` pointing at the table itself (accounts,
/// business units), else its one lookup to itself.
fn hierarchy_column(table: &Table) -> Option<&str> {
    let to_self = |ty: &ColumnType| matches!(ty, ColumnType::Lookup(targets) if targets.contains(&table.logical_name));
    let named = format!("parent{}id", table.logical_name);
    if let Some((column, _)) = table.columns.get_key_value(&named).filter(|(_, ty)| to_self(ty)) {
        return Some(column);
    }
    let mut selves = table.columns.iter().filter(|(_, ty)| to_self(ty)).map(|(c, _)| c.as_str());
    match (selves.next(), selves.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// An operator as a positive test and whether its result is negated (`not-like` is `like`, negated).
fn positive(op: Op) -> (Op, bool) {
    match op {
        Op::NotContainValues => (Op::ContainValues, true),
        Op::NotUnder => (Op::Under, true),
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

/// A condition takes as many values as its operator needs, none of them null.
fn check_arity(c: &ConditionExpression, at: &str) -> Result<(), Fault> {
    let n = c.values.len();
    let (fits, wanted) = match c.operator {
        op if dates::arity(op) == Some(0) => (n == 0, "no value"),
        op if dates::arity(op) == Some(1) => (n == 1, "one value"),
        Op::ContainValues | Op::NotContainValues => (n > 0, "one or more values"),
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
        (_, Value::Text(text)) => parse_value(ty, text),
        _ => Some(v.clone()),
    };
    parsed.ok_or_else(|| {
        invalid(format!("Condition for attribute '{at}': '{v}' is not a valid value of type {}", type_name(ty)))
    })
}
