//! The in-memory store: records by table and id, in persistent maps, with hash indexes.
//!
//! Cloning a [`Store`] is O(1) and a write copies only the path it touches, so each case starts from the
//! organization's data without copying it, and a transaction's savepoint is a clone that rollback restores:
//! the cost of both grows with what is written, never with the size of the store. The indexes are persistent
//! maps too, kept in the same value, so a clone carries them at no cost and a rollback restores them with the
//! rows.

mod index;

use std::collections::HashSet;
use std::sync::Arc;

use imbl::{HashMap, OrdMap, Vector};
use xrm_model::{Entity, Uuid};

use index::Index;
pub use index::{IndexKey, fold_case};

/// Records by table, then by id.
#[derive(Clone, Default)]
pub struct Store {
    /// Table names are shared, not owned: the first write to a table in a clone copies the map's node, and
    /// with it every name the node holds.
    tables: HashMap<Arc<str>, Rows>,
    /// The estimated bytes of the records held ([`crate::budget::size`]): a write counts the difference
    /// against the case running it (BOX-5), and a rollback gives back what the undone writes counted.
    bytes: i64,
    /// Which state of the security tables the store holds (SEC-10): 0 as the organization declared them, else a
    /// number no other change in the process was given. A rollback restores it with the rows.
    security: u64,
    /// The table and id of every write, in order, once [`Store::journal_writes`] turned it on (a case's copy):
    /// [`Store::changes`] then reads what was written since an earlier clone from its end, instead of
    /// comparing every row of the tables written. Persistent like the rows, so a rollback restores it.
    journal: Option<Vector<(Arc<str>, Uuid)>>,
}

/// What one entry of the journal is counted as against the case's budget (BOX-5).
const JOURNAL_ENTRY_BYTES: i64 = 40;

/// The last number given to a change of the security tables, in any store.
static SECURITY_CHANGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One table's records and its indexes.
#[derive(Clone, Default)]
struct Rows {
    by_id: OrdMap<Uuid, Arc<Entity>>,
    index: Index,
}

impl Store {
    /// Which state of the security tables the store holds: 0 while they are as the organization declared them.
    /// Privileges resolved for one version stay right for as long as the store holds it.
    pub fn security_version(&self) -> u64 {
        self.security
    }

    /// Records that the security tables (roles, teams, memberships, business units of users) changed: the store
    /// gets a version of its own, so that privileges resolved before are resolved again.
    pub fn security_changed(&mut self) {
        self.security = SECURITY_CHANGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    }

    /// A record by its primary key.
    pub fn get(&self, table: &str, id: Uuid) -> Option<&Arc<Entity>> {
        self.tables.get(table)?.by_id.get(&id)
    }

    pub fn contains(&self, table: &str, id: Uuid) -> bool {
        self.get(table, id).is_some()
    }

    /// Inserts or replaces a record; it must carry its id. A record is stored without formatted values
    /// (QRY-7: they are computed when it is read).
    pub fn put(&mut self, mut entity: Entity) {
        entity.formatted_values.clear();
        let id = entity.id.unwrap_or_default();
        let rows = self.rows_mut(&entity.logical_name);
        let added = size(&entity);
        let entity = Arc::new(entity);
        let old = rows.by_id.insert(id, entity.clone());
        rows.index.update(id, old.as_deref(), Some(&entity));
        let journaled = self.journaled(&entity.logical_name, id);
        self.counted(added - old.as_deref().map_or(0, size) + journaled);
    }

    /// A table's rows to write, created empty the first time.
    fn rows_mut(&mut self, table: &str) -> &mut Rows {
        self.tables.entry(self.name(table)).or_default()
    }

    /// The table's name as the store holds it, when it does: no new allocation for a table written before.
    fn name(&self, table: &str) -> Arc<str> {
        self.tables.get_key_value(table).map_or_else(|| Arc::from(table), |(name, _)| name.clone())
    }

    pub fn remove(&mut self, table: &str, id: Uuid) -> Option<Arc<Entity>> {
        let rows = self.tables.get_mut(table)?;
        let old = rows.by_id.remove(&id)?;
        rows.index.update(id, Some(&old), None);
        let journaled = self.journaled(table, id);
        self.counted(-size(&old) + journaled);
        Some(old)
    }

    /// From now on, keeps the journal of writes that makes [`Store::changes`] cost what was written.
    pub fn journal_writes(&mut self) {
        self.journal.get_or_insert_with(Vector::new);
    }

    /// Adds a write to the journal, if kept; returns the bytes that counts.
    fn journaled(&mut self, table: &str, id: Uuid) -> i64 {
        if self.journal.is_none() {
            return 0;
        }
        let name = self.name(table);
        if let Some(journal) = &mut self.journal {
            journal.push_back((name, id));
        }
        JOURNAL_ENTRY_BYTES
    }

    /// The estimated bytes of the records held.
    pub fn bytes(&self) -> i64 {
        self.bytes
    }

    fn counted(&mut self, bytes: i64) {
        self.bytes += bytes;
        crate::budget::add(bytes);
    }

    /// The records of a table, in id order.
    pub fn rows<'s>(&'s self, table: &str) -> impl Iterator<Item = &'s Arc<Entity>> + use<'s> {
        self.tables.get(table).into_iter().flat_map(|rows| rows.by_id.values())
    }

    /// The records of a table whose id is `from` or after it, in id order.
    pub fn rows_from<'s>(&'s self, table: &str, from: Uuid) -> impl Iterator<Item = &'s Arc<Entity>> + use<'s> {
        self.tables.get(table).into_iter().flat_map(move |rows| rows.by_id.range(from..).map(|(_, e)| e))
    }

    pub fn count(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, |rows| rows.by_id.len())
    }

    /// Whether `column` of `table` is indexed: every column holding a reference (a lookup, or a GUID other
    /// than the row's own id) is, and the columns [`Store::index_columns`] named.
    pub fn is_indexed(&self, table: &str, column: &str) -> bool {
        self.tables.get(table).is_some_and(|rows| rows.index.covers(column))
    }

    /// The records of `table` whose `column` holds `key`, in id order, found through the index: O(matches).
    /// `None` when the column has no index (the caller then scans).
    pub fn find<'s>(
        &'s self,
        table: &str,
        column: &str,
        key: &IndexKey,
    ) -> Option<impl Iterator<Item = &'s Arc<Entity>> + use<'s>> {
        let Some(rows) = self.tables.get(table) else { return Some(None.into_iter().flatten()) };
        let ids = rows.index.find(column, key)?;
        Some(ids.map(|ids| ids.iter().filter_map(|id| rows.by_id.get(id))).into_iter().flatten())
    }

    /// Indexes `columns` of `table` by value too (alternate keys), for the rows already stored and every later
    /// write.
    pub fn index_columns(&mut self, table: &str, columns: &[String]) {
        let rows = self.rows_mut(table);
        let mut named: HashSet<String> = rows.index.named().cloned().collect();
        named.extend(columns.iter().cloned());
        rows.index = Index::with_named(named);
        for (id, entity) in &rows.by_id {
            rows.index.update(*id, None, Some(entity));
        }
    }
}

fn size(entity: &Entity) -> i64 {
    i64::try_from(crate::budget::size::entity(entity)).unwrap_or(i64::MAX)
}

/// A record written between two states of a store (see [`Store::changes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub table: String,
    pub id: Uuid,
    pub kind: ChangeKind,
    /// The columns whose value changed (all of a new record's, none of a deleted one's), in name order.
    pub columns: Vec<String>,
    /// The record as it stands after (the deleted record for a delete).
    pub record: Arc<Entity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl Store {
    /// The records written since `before` (a clone of this store taken earlier), table by table in name
    /// order, then by id. The cost grows with what was written, not with the store: through the journal where
    /// both keep it, else by comparing the tables written, whose unchanged parts are shared.
    pub fn changes(&self, before: &Store) -> Vec<Change> {
        if self.tables.ptr_eq(&before.tables) {
            return Vec::new();
        }
        let mut written = match (&self.journal, &before.journal) {
            (Some(now), Some(then)) if now.len() >= then.len() => self.journaled_since(now, then.len()),
            _ => self.compared(before),
        };
        written.sort_unstable();
        written.dedup();
        written
            .into_iter()
            .filter_map(|(table, id)| change(table, id, before.get(table, id), self.get(table, id)))
            .collect()
    }

    /// What the journal recorded from entry `from` on (at most its length).
    fn journaled_since<'s>(&'s self, journal: &'s Vector<(Arc<str>, Uuid)>, from: usize) -> Vec<(&'s str, Uuid)> {
        // A focus narrowed to the entries since: O(log n) to find where they start, not a walk from the first.
        journal.focus().narrow(from..).into_iter().map(|(table, id)| (&**table, *id)).collect()
    }

    /// The rows that differ between the two stores' tables written since `before`.
    fn compared<'s>(&'s self, before: &'s Store) -> Vec<(&'s str, Uuid)> {
        // A write copies the path it touches: a table whose rows are still the very map they were is unchanged.
        let changed = |name: &Arc<str>, rows: &Rows, other: &Store| {
            other.tables.get(&**name).is_none_or(|was| !was.by_id.ptr_eq(&rows.by_id))
        };
        let tables = (self.tables.iter().filter(|(name, rows)| changed(name, rows, before)))
            .chain(before.tables.iter().filter(|(name, rows)| changed(name, rows, self)));
        let empty = OrdMap::new();
        let mut out = Vec::new();
        for (table, _) in tables {
            let old = before.tables.get(&**table).map_or(&empty, |r| &r.by_id);
            let new = self.tables.get(&**table).map_or(&empty, |r| &r.by_id);
            out.extend(old.diff(new).map(|item| match item {
                imbl::ordmap::DiffItem::Add(id, _) | imbl::ordmap::DiffItem::Remove(id, _) => (&**table, *id),
                imbl::ordmap::DiffItem::Update { new: (id, _), .. } => (&**table, *id),
            }));
        }
        out
    }
}

/// The change of one row from `old` to `new`, if it changed.
fn change(table: &str, id: Uuid, old: Option<&Arc<Entity>>, new: Option<&Arc<Entity>>) -> Option<Change> {
    let (kind, record, columns) = match (old, new) {
        (None, Some(e)) => (ChangeKind::Created, e.clone(), e.attributes.keys().cloned().collect()),
        (Some(was), Some(e)) if !Arc::ptr_eq(was, e) && was != e => {
            let mut columns: Vec<String> = e
                .attributes
                .iter()
                .filter(|(k, v)| was.attributes.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .chain(was.attributes.keys().filter(|k| !e.attributes.contains_key(*k)).cloned())
                .collect();
            columns.sort();
            (ChangeKind::Updated, e.clone(), columns)
        }
        (Some(was), None) => (ChangeKind::Deleted, was.clone(), Vec::new()),
        _ => return None,
    };
    Some(Change { table: table.to_owned(), id, kind, columns, record })
}

/// A store with nested transactions: `begin` takes a savepoint, `commit` drops it, `rollback` returns to it.
#[derive(Clone, Default)]
pub struct Transactional {
    current: Store,
    savepoints: Vec<Store>,
}

impl Transactional {
    pub fn new(store: Store) -> Self {
        Transactional { current: store, savepoints: Vec::new() }
    }

    pub fn begin(&mut self) {
        self.savepoints.push(self.current.clone());
    }

    /// Keeps what the innermost transaction wrote.
    pub fn commit(&mut self) {
        self.savepoints.pop();
    }

    /// Undoes what the innermost transaction wrote.
    pub fn rollback(&mut self) {
        if let Some(saved) = self.savepoints.pop() {
            crate::budget::add(saved.bytes - self.current.bytes);
            self.current = saved;
        }
    }

    pub fn depth(&self) -> usize {
        self.savepoints.len()
    }

    pub fn data(&self) -> &Store {
        &self.current
    }

    pub fn data_mut(&mut self) -> &mut Store {
        &mut self.current
    }
}

#[cfg(test)]
mod tests {
    use xrm_model::{EntityReference, Value};

    use super::*;

    fn account(id: u128, name: &str) -> Entity {
        let mut e = Entity::with_id("account", Uuid::from_u128(id));
        e.set("name", name);
        e
    }

    fn owned_by(mut e: Entity, owner: u128) -> Entity {
        e.set("ownerid", Value::Lookup(EntityReference::new("systemuser", Uuid::from_u128(owner))));
        e
    }

    fn found(store: &Store, column: &str, key: IndexKey) -> Vec<u128> {
        store.find("account", column, &key).expect("indexed").map(|e| e.id.unwrap_or_default().as_u128()).collect()
    }

    #[test]
    fn changes_name_only_the_tables_written_and_what_changed_in_them() {
        // The same answer whether the journal is kept (a case's store) or the tables are compared.
        for journal in [false, true] {
            let mut store = Store::default();
            store.put(account(1, "a"));
            store.put(account(2, "b"));
            store.put(account(4, "same"));
            let mut contact = Entity::with_id("contact", Uuid::from_u128(9));
            contact.set("lastname", "untouched");
            store.put(contact);
            if journal {
                store.journal_writes();
            }
            let before = store.clone();
            assert!(store.changes(&before).is_empty(), "a clone is unchanged");
            store.put(account(1, "renamed"));
            store.remove("account", Uuid::from_u128(2));
            store.put(account(4, "same"));
            store.put(account(5, "created, then deleted"));
            store.remove("account", Uuid::from_u128(5));
            let mut task = Entity::with_id("task", Uuid::from_u128(3));
            task.set("subject", "new table");
            store.put(task);
            let changes: Vec<_> =
                store.changes(&before).into_iter().map(|c| (c.table, c.id.as_u128(), c.kind, c.columns)).collect();
            assert_eq!(
                changes,
                [
                    ("account".to_owned(), 1, ChangeKind::Updated, vec!["name".to_owned()]),
                    ("account".to_owned(), 2, ChangeKind::Deleted, vec![]),
                    ("task".to_owned(), 3, ChangeKind::Created, vec!["subject".to_owned()])
                ],
                "journal: {journal}"
            );
        }
    }

    #[test]
    fn the_journal_follows_rollbacks_and_is_counted() {
        let mut store = Transactional::default();
        store.data_mut().journal_writes();
        let before = store.data().clone();
        store.data_mut().put(account(1, "kept"));
        let bytes = store.data().bytes();
        store.begin();
        store.data_mut().put(account(2, "undone"));
        store.rollback();
        assert_eq!(store.data().bytes(), bytes, "a rollback gives back the journal's entries with the rows");
        let changes: Vec<_> = store.data().changes(&before).into_iter().map(|c| c.id.as_u128()).collect();
        assert_eq!(changes, [1]);
        assert!(bytes > size(&account(1, "kept")), "the journal's entry counts against the case");
    }

    #[test]
    fn nested_transactions_roll_back_only_their_own_writes() {
        let mut store = Transactional::default();
        store.data_mut().put(account(1, "kept"));
        store.begin();
        store.data_mut().put(account(2, "outer"));
        store.begin();
        store.data_mut().put(account(3, "inner"));
        store.data_mut().remove("account", Uuid::from_u128(1));
        store.rollback();
        assert!(store.data().contains("account", Uuid::from_u128(1)));
        assert!(store.data().contains("account", Uuid::from_u128(2)));
        assert!(!store.data().contains("account", Uuid::from_u128(3)));
        store.commit();
        assert_eq!(store.depth(), 0);
        assert_eq!(store.data().count("account"), 2);
        store.begin();
        store.data_mut().put(account(2, "changed"));
        store.rollback();
        assert_eq!(store.data().get("account", Uuid::from_u128(2)).unwrap().get("name"), Some(&"outer".into()));
    }

    #[test]
    fn a_copy_does_not_see_writes_made_to_the_original() {
        let mut base = Store::default();
        base.put(account(1, "a"));
        let mut case = base.clone();
        case.put(account(2, "b"));
        assert_eq!(base.count("account"), 1);
        assert_eq!(case.count("account"), 2);
    }

    #[test]
    fn references_are_indexed_through_updates_removals_and_rollbacks() {
        let mut store = Transactional::default();
        for (id, owner) in [(3, 7), (1, 7), (2, 8)] {
            store.data_mut().put(owned_by(account(id, "x"), owner));
        }
        let by =
            |store: &Transactional, owner: u128| found(store.data(), "ownerid", IndexKey::Id(Uuid::from_u128(owner)));
        assert_eq!(by(&store, 7), [1, 3], "in id order");
        store.begin();
        store.data_mut().put(owned_by(account(1, "x"), 8));
        store.data_mut().remove("account", Uuid::from_u128(3));
        assert_eq!((by(&store, 7), by(&store, 8)), (vec![], vec![1, 2]));
        store.rollback();
        assert_eq!((by(&store, 7), by(&store, 8)), (vec![1, 3], vec![2]));
        // A column that never held a reference has no index; the row's own id is not indexed as a reference.
        assert!(store.data().find("account", "name", &IndexKey::Text("x".into())).is_none());
        assert!(!store.data().is_indexed("account", "accountid"));
    }

    #[test]
    fn named_columns_are_indexed_by_value_without_case() {
        let mut store = Store::default();
        store.put(account(1, "Contoso"));
        store.index_columns("account", &["name".into()]);
        store.put(account(2, "CONTOSO"));
        store.put(account(3, "Fabrikam"));
        assert_eq!(found(&store, "name", IndexKey::of(&"contoso".into()).unwrap()), [1, 2]);
        store.put(account(2, "Other"));
        assert_eq!(found(&store, "name", IndexKey::Text("contoso".into())), [1]);
    }
}
