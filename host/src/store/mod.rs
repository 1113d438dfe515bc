//! The in-memory store: records by table and id, in persistent maps.
//!
//! Cloning a [`Store`] is O(1) and a write copies only the path it touches, so each case starts from the
//! organization's data without copying it, and a transaction's savepoint is a clone that rollback restores:
//! the cost of both grows with what is written, never with the size of the store.

use std::sync::Arc;

use imbl::{HashMap, OrdMap};
use xrm_model::{Entity, Uuid};

/// Records by table, then by id.
#[derive(Clone, Default)]
pub struct Store {
    tables: HashMap<String, OrdMap<Uuid, Arc<Entity>>>,
}

impl Store {
    pub fn get(&self, table: &str, id: Uuid) -> Option<&Arc<Entity>> {
        self.tables.get(table)?.get(&id)
    }

    pub fn contains(&self, table: &str, id: Uuid) -> bool {
        self.get(table, id).is_some()
    }

    /// Inserts or replaces a record; it must carry its id.
    pub fn put(&mut self, entity: Entity) {
        let id = entity.id.unwrap_or_default();
        let table = entity.logical_name.clone();
        self.tables.entry(table).or_default().insert(id, Arc::new(entity));
    }

    pub fn remove(&mut self, table: &str, id: Uuid) -> Option<Arc<Entity>> {
        self.tables.get_mut(table)?.remove(&id)
    }

    /// The records of a table, in id order.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = &Arc<Entity>> {
        self.tables.get(table).into_iter().flat_map(|rows| rows.values())
    }

    pub fn count(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, OrdMap::len)
    }
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
    use super::*;

    fn account(id: u128, name: &str) -> Entity {
        let mut e = Entity::with_id("account", Uuid::from_u128(id));
        e.set("name", name);
        e
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
}
