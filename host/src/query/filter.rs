//! Conditions and filters on a joined row, and how values compare and join.

use std::cmp::Ordering;
use std::collections::HashMap;

use xrm_model::{ConditionExpression, ConditionOperator as Op, Entity, Fault, Uuid, Value};

use super::like::like;
use super::plan::{Condition, Filter, Join, Row};
use super::values::{parse_value, type_name};
use super::{Caller, invalid};
use crate::org::{ColumnType, Table};
use crate::store::Store;

/// The rows of a link-entity's table that may join (readable, SEC-6, and passing the link criteria), by the
/// key of their join column.
pub(super) struct Candidates<'s>(HashMap<String, Vec<&'s Entity>>);

impl<'s> Candidates<'s> {
    pub(super) fn new(store: &'s Store, table: &Table, i: usize, width: usize, join: &Join, caller: &Caller) -> Self {
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
pub(super) fn join_key(v: &Value) -> Option<String> {
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
    pub(super) fn extend<'s>(
        &self,
        row: Row<'s>,
        i: usize,
        parent: usize,
        candidates: &Candidates<'s>,
    ) -> Vec<Row<'s>> {
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

pub(super) fn id_key(v: &Value) -> Option<Uuid> {
    match v {
        Value::Guid(g) => Some(*g),
        Value::Lookup(r) => Some(r.id),
        Value::Text(t) => Uuid::parse_str(t).ok(),
        _ => None,
    }
}

pub(super) fn cell<'r>(row: &[Option<&'r Entity>], node: usize, column: &str) -> &'r Value {
    row.get(node).copied().flatten().and_then(|e| e.get(column)).unwrap_or(&Value::Null)
}

/// A condition takes as many values as its operator needs, none of them null.
pub(super) fn check_arity(c: &ConditionExpression, at: &str) -> Result<(), Fault> {
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
pub(super) fn typed(ty: &ColumnType, v: &Value, at: &str) -> Result<Value, Fault> {
    let parsed = match (ty, v) {
        (ColumnType::Boolean, Value::Integer(n @ (0 | 1))) => Some(Value::Boolean(*n == 1)),
        (_, Value::Text(text)) => parse_value(ty, text),
        _ => Some(v.clone()),
    };
    parsed.ok_or_else(|| {
        invalid(format!("Condition for attribute '{at}': '{v}' is not a valid value of type {}", type_name(ty)))
    })
}

impl Filter {
    pub(super) fn matches(&self, row: &[Option<&Entity>], caller: &Caller) -> bool {
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
    pub(super) fn matches(&self, row: &[Option<&Entity>], caller: &Caller) -> bool {
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
