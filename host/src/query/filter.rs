//! Conditions and filters on a joined row, and how values compare.

use std::cmp::Ordering;

use xrm_model::{Entity, Fault, Uuid, Value};

use super::dates::Span;
use super::like::Pattern;
use crate::deadline::Meter;
use crate::store::fold_case;

/// A joined row: one slot per table of the query (the root first, then the link-entities in document order),
/// `None` where an outer join found nothing.
pub(super) type Slots<'s> = [Option<&'s Entity>];

#[derive(Default)]
pub(super) struct Filter {
    pub(super) or: bool,
    pub(super) conditions: Vec<Condition>,
    pub(super) filters: Vec<Filter>,
}

pub(super) struct Condition {
    pub(super) node: usize,
    pub(super) column: String,
    pub(super) test: Test,
    /// Whether the test's result is negated (`not-like` is `like`, negated).
    pub(super) negated: bool,
}

/// What a condition checks of a column's value, its operands bound and typed when the query was planned.
pub(super) enum Test {
    Null,
    Equal(Value),
    In(Vec<Value>),
    Compare(Ordering, Value),
    /// Greater than or equal (`Greater`), or less than or equal (`Less`).
    CompareOrEqual(Ordering, Value),
    Between(Value, Value),
    /// Text tests, their operand lower-cased.
    Like(Pattern),
    BeginsWith(String),
    EndsWith(String),
    /// A date operator's span of instants (QRY-2).
    Span(Span),
    /// A multi-select column holding any of these choices (QRY-4).
    ContainsAny(Vec<i32>),
}

impl Filter {
    pub(super) fn is_empty(&self) -> bool {
        self.conditions.is_empty() && self.filters.is_empty()
    }

    /// Every condition and filter holds (`and`), or one does (`or`; an empty `or` holds).
    pub(super) fn matches(&self, row: &Slots, meter: &mut Meter) -> Result<bool, Fault> {
        if self.or && self.is_empty() {
            return Ok(true);
        }
        for c in &self.conditions {
            if c.matches(row, meter)? == self.or {
                return Ok(self.or);
            }
        }
        for f in &self.filters {
            if f.matches(row, meter)? == self.or {
                return Ok(self.or);
            }
        }
        Ok(!self.or)
    }

    /// The highest table index a condition of this filter reads: the filter can be checked once that table is
    /// joined.
    pub(super) fn last_node(&self) -> usize {
        let conditions = self.conditions.iter().map(|c| c.node);
        conditions.chain(self.filters.iter().map(Filter::last_node)).max().unwrap_or(0)
    }

    /// How many conditions the filter holds: the work of checking it against one row.
    pub(super) fn size(&self) -> usize {
        self.conditions.len() + self.filters.iter().map(Filter::size).sum::<usize>()
    }
}

impl Condition {
    pub(super) fn matches(&self, row: &Slots, meter: &mut Meter) -> Result<bool, Fault> {
        let value = cell(row, self.node, &self.column);
        if value.is_null() {
            // An empty column matches every negative operator: the platform's `ne` returns nulls too.
            return Ok(matches!(self.test, Test::Null) != self.negated);
        }
        let cmp = |v: &Value| compare(value, v);
        let passes = match &self.test {
            Test::Null => false,
            Test::Equal(v) => cmp(v) == Some(Ordering::Equal),
            Test::In(values) => values.iter().any(|v| cmp(v) == Some(Ordering::Equal)),
            Test::Compare(ord, v) => cmp(v) == Some(*ord),
            Test::CompareOrEqual(ord, v) => cmp(v).is_some_and(|o| o == *ord || o.is_eq()),
            Test::Between(lo, hi) => cmp(lo).is_some_and(Ordering::is_ge) && cmp(hi).is_some_and(Ordering::is_le),
            Test::Like(pattern) => match value {
                Value::Text(text) => pattern.matches(&fold_case(text), meter)?,
                _ => false,
            },
            Test::BeginsWith(p) => text_of(value).is_some_and(|t| starts_with_folded(t, p)),
            Test::EndsWith(p) => text_of(value).is_some_and(|t| ends_with_folded(t, p)),
            Test::Span(span) => match value {
                Value::DateTime(t) => span.contains(*t),
                Value::Text(t) => xrm_model::json::parse_datetime(t).is_some_and(|t| span.contains(t)),
                _ => false,
            },
            Test::ContainsAny(wanted) => match value {
                Value::Choices(held) => held.iter().any(|c| wanted.contains(c)),
                Value::Choice(c) => wanted.contains(c),
                _ => false,
            },
        };
        Ok(passes != self.negated)
    }
}

fn text_of(v: &Value) -> Option<&str> {
    match v {
        Value::Text(t) => Some(t),
        _ => None,
    }
}

fn starts_with_folded(text: &str, prefix: &str) -> bool {
    let mut folded = text.chars().flat_map(char::to_lowercase);
    prefix.chars().all(|p| folded.next() == Some(p))
}

fn ends_with_folded(text: &str, suffix: &str) -> bool {
    fold_case(text).ends_with(suffix)
}

pub(super) fn cell<'r>(row: &[Option<&'r Entity>], node: usize, column: &str) -> &'r Value {
    row.get(node).copied().flatten().and_then(|e| e.get(column)).unwrap_or(&Value::Null)
}

pub(super) fn id_key(v: &Value) -> Option<Uuid> {
    match v {
        Value::Guid(g) => Some(*g),
        Value::Lookup(r) => Some(r.id),
        Value::Text(t) => Uuid::parse_str(t).ok(),
        _ => None,
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
        (Text(a), Text(b)) => Some(a.chars().flat_map(char::to_lowercase).cmp(b.chars().flat_map(char::to_lowercase))),
        (Boolean(a), Boolean(b)) => Some(a.cmp(b)),
        (DateTime(a), DateTime(b)) => Some(a.cmp(b)),
        (DateTime(a), Text(b)) => xrm_model::json::parse_datetime(b).map(|b| a.cmp(&b)),
        (Guid(_) | Lookup(_), _) | (_, Guid(_) | Lookup(_)) => Some(id_key(stored)?.cmp(&id_key(wanted)?)),
        (Choices(a), Integer(b) | Choice(b)) => Some(if a.contains(b) { Ordering::Equal } else { Ordering::Less }),
        _ => number(stored)?.partial_cmp(&number(wanted)?),
    }
}
