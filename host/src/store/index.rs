//! Hash indexes of one table: for each indexed column, the ids of the rows holding each value.
//!
//! Every column holding a reference is indexed (a lookup, or a GUID other than the row's own id: the columns
//! joins and `eq` conditions on lookups use); other columns only when named (alternate keys). The maps are
//! persistent, like the rows: a store clone shares them, a write copies only the paths it changes.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use imbl::{HashMap, OrdSet};
use xrm_model::{Entity, Uuid, Value};

/// What an index files a row under, and what joins match on: values that compare equal (as the query engine
/// compares them) share a key. Ids whatever form they take (a lookup, a GUID, GUID text), other text without
/// case, whole numbers whatever their type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndexKey {
    Id(Uuid),
    Text(String),
    Number(i64),
    Boolean(bool),
    /// Any other value (decimal, money, double, date, choices), as it prints: equal only to the same text.
    Other(String),
}

impl IndexKey {
    /// The key of a value; `None` for null, which nothing equals.
    pub fn of(v: &Value) -> Option<IndexKey> {
        Some(match v {
            Value::Null => return None,
            Value::Guid(g) => IndexKey::Id(*g),
            Value::Lookup(r) => IndexKey::Id(r.id),
            Value::Text(t) => Uuid::parse_str(t).map_or_else(|_| IndexKey::Text(fold_case(t)), IndexKey::Id),
            Value::Integer(n) | Value::Choice(n) => IndexKey::Number(i64::from(*n)),
            Value::BigInt(n) => IndexKey::Number(*n),
            Value::Boolean(b) => IndexKey::Boolean(*b),
            other => IndexKey::Other(other.to_string()),
        })
    }

    /// Whether every value with this key compares equal to the value it came from, and only those: an index
    /// lookup then finds exactly the rows an equality condition wants (printed values do not: `1.0`, `1.00`).
    pub fn is_exact(&self) -> bool {
        !matches!(self, IndexKey::Other(_))
    }
}

/// Text as the platform's case-insensitive collation compares it: each character lower-cased.
pub fn fold_case(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

type Column = HashMap<IndexKey, OrdSet<Uuid>>;

#[derive(Clone, Default)]
pub(super) struct Index {
    /// Columns indexed by value besides references (alternate keys).
    named: Arc<HashSet<String>>,
    /// Column names shared like the store's table names: a node copied on write copies no text.
    columns: HashMap<Arc<str>, Column>,
}

impl Index {
    pub(super) fn with_named(named: HashSet<String>) -> Self {
        Index { named: Arc::new(named), columns: HashMap::new() }
    }

    pub(super) fn named(&self) -> impl Iterator<Item = &String> {
        self.named.iter()
    }

    pub(super) fn covers(&self, column: &str) -> bool {
        self.named.contains(column) || self.columns.contains_key(column)
    }

    /// The ids filed under `key` in `column`; `None` when the column has no index.
    pub(super) fn find(&self, column: &str, key: &IndexKey) -> Option<Option<&OrdSet<Uuid>>> {
        match self.columns.get(column) {
            Some(values) => Some(values.get(key)),
            None if self.named.contains(column) => Some(None),
            None => None,
        }
    }

    /// Files row `id` as `new` instead of `old` (either absent for an insert or a removal).
    ///
    /// Both rows keep their columns sorted, so one merge walks them together: no column is looked up, and the
    /// persistent maps (shared with the store this one was cloned from) are copied only where a key changes.
    pub(super) fn update(&mut self, id: Uuid, old: Option<&Entity>, new: Option<&Entity>) {
        let mut before = old.into_iter().flat_map(|r| r.attributes.iter()).peekable();
        let mut after = new.into_iter().flat_map(|r| r.attributes.iter()).peekable();
        loop {
            let order = match (before.peek(), after.peek()) {
                (None, None) => return,
                (Some((b, _)), Some((a, _))) => b.cmp(a),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
            };
            let (was, is) = match order {
                Ordering::Less => (before.next(), None),
                Ordering::Greater => (None, after.next()),
                Ordering::Equal => (before.next(), after.next()),
            };
            let Some((column, _)) = was.or(is) else { return };
            let (was, is) = (was.map(|(_, v)| v), is.map(|(_, v)| v));
            if was != is {
                self.refile(id, column, was, is);
            }
        }
    }

    /// Moves row `id` in `column`'s index from the key of `was` to that of `is`, where they differ.
    fn refile(&mut self, id: Uuid, column: &str, was: Option<&Value>, is: Option<&Value>) {
        let named = !self.named.is_empty() && self.named.contains(column);
        let key = |value: Option<&Value>| value.and_then(|v| Self::key(named, id, v));
        let (before, after) = (key(was), key(is));
        if before == after {
            return;
        }
        let values = match self.columns.get_mut(column) {
            Some(values) => values,
            None => self.columns.entry(Arc::from(column)).or_default(),
        };
        if let Some(before) = before
            && let Some(ids) = values.get_mut(&before)
        {
            ids.remove(&id);
            if ids.is_empty() {
                values.remove(&before);
            }
        }
        if let Some(after) = after {
            values.entry(after).or_default().insert(id);
        }
    }

    /// The key row `id` is filed under for `value` in a column (`named` if indexed by value), if indexed.
    fn key(named: bool, id: Uuid, value: &Value) -> Option<IndexKey> {
        match value {
            _ if named => IndexKey::of(value),
            Value::Lookup(r) => Some(IndexKey::Id(r.id)),
            Value::Guid(g) if *g != id => Some(IndexKey::Id(*g)),
            _ => None,
        }
    }
}
