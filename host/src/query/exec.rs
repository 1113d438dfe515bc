//! The run of a plan: joined rows streamed one at a time to a sink, which may stop the run early.
//!
//! Rows come from the root table (through an index when a condition allows), each checked against its own
//! conditions before any join; then each link-entity in document order, its rows found by primary key, by the
//! store's index on the join column, or by a hash table of the column built once for the query. The join is a
//! depth-first walk over one row of slots, nothing copied per joined row, so its memory is the query's width
//! and its time stops when the sink has what it needs (`top`, a page). The order is SQL's left-to-right joins:
//! an inner join under an outer one drops the rows the outer join left empty.
//!
//! Without orders, rows come out sorted by the ids of their records (root first), because every source yields
//! rows in id order: that is the total order the paging of unordered queries uses.

use std::collections::{BTreeSet, HashMap};

use xrm_model::{Entity, Fault, Uuid};

use super::Caller;
use super::filter::{Condition, Slots, Test, cell};
use super::plan::{JoinKind, Node, Plan};
use crate::deadline::Meter;
use crate::store::{IndexKey, Store};

/// What a sink tells the run after each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

/// Where a link-entity's rows come from.
enum Source {
    /// The join column is the table's primary key.
    Primary,
    /// The store indexes the join column.
    Index,
    /// Neither: the table's rows by the join column's key, built at first use and shared by every
    /// link-entity joining the same column (index into [`Hashes`]).
    Hash(usize),
}

/// A table's rows by a column's key.
type ByKey<'s> = HashMap<IndexKey, Vec<&'s Entity>>;

/// The hash tables of the join columns no index covers: each built once per query, at first use.
#[derive(Default)]
struct Hashes<'s> {
    /// Table and column of each, and the table itself once built.
    tables: Vec<(String, String, Option<ByKey<'s>>)>,
    by_column: HashMap<(String, String), usize>,
}

/// The walk's state at one link-entity: its candidate rows for the current parent row and how far it got.
#[derive(Default)]
struct Level<'s> {
    candidates: Vec<&'s Entity>,
    next: usize,
    /// Whether a candidate passed the join (readable, link criteria): an outer join adds an empty slot only
    /// when none did.
    joined: bool,
    empty_tried: bool,
}

/// Runs `plan` over `store`, giving each joined row the caller may read to `sink`; `from` skips root rows
/// whose id sorts before it (a paging cookie's row, when rows come in id order).
pub(super) fn run<'s>(
    plan: &Plan,
    store: &'s Store,
    caller: &Caller,
    from: Option<Uuid>,
    sink: &mut dyn FnMut(&Slots<'s>) -> Result<Flow, Fault>,
) -> Result<(), Fault> {
    let mut meter = Meter::new();
    let costs: Vec<usize> = plan.nodes.iter().map(cost).collect();
    let mut hashes = Hashes::default();
    let sources: Vec<Source> = plan.nodes.iter().map(|n| source(store, n, &mut hashes)).collect();
    let mut levels: Vec<Level<'s>> = plan.nodes.iter().map(|_| Level::default()).collect();
    let mut slots: Vec<Option<&'s Entity>> = vec![None; plan.nodes.len()];
    let root = &plan.nodes[0];
    for row in roots(store, root, from) {
        meter.work(costs[0])?;
        slots[0] = Some(row);
        // The conditions first: they are cheaper than the read check, and most rows fail them.
        if !root.checks.matches(&slots, &mut meter)? || !(caller.readable)(row) {
            continue;
        }
        // Depth-first over the link-entities: `depth` is the one being filled.
        let mut depth = 1;
        if depth < slots.len() {
            enter(plan, store, (&sources, &mut hashes), &mut levels[depth], depth, &slots, &mut meter)?;
        }
        loop {
            if depth == slots.len() {
                if sink(&slots)? == Flow::Stop {
                    return Ok(());
                }
                depth -= 1;
                if depth == 0 {
                    break;
                }
                continue;
            }
            match advance(plan, caller, &mut levels[depth], depth, &mut slots, &mut meter, costs[depth])? {
                true => {
                    depth += 1;
                    if depth < slots.len() {
                        enter(plan, store, (&sources, &mut hashes), &mut levels[depth], depth, &slots, &mut meter)?;
                    }
                }
                false => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The work of checking one row at a node: its join criteria and the conditions placed there.
fn cost(node: &Node) -> usize {
    1 + node.checks.size() + node.join.as_ref().map_or(0, |j| j.criteria.size())
}

fn source(store: &Store, node: &Node, hashes: &mut Hashes) -> Source {
    let table = &node.table.logical_name;
    match &node.join {
        None => Source::Primary,
        Some(join) if join.to == node.table.primary_id => Source::Primary,
        Some(join) if store.is_indexed(table, join.to) => Source::Index,
        Some(join) => {
            let key = (table.clone(), join.to.to_owned());
            let next = hashes.tables.len();
            let at = *hashes.by_column.entry(key).or_insert(next);
            if at == next {
                hashes.tables.push((table.clone(), join.to.to_owned(), None));
            }
            Source::Hash(at)
        }
    }
}

/// The root rows to try, in id order: those an index gives for an equality on an indexed column (or the
/// primary key) among the root's own conditions, else every row.
fn roots<'s>(store: &'s Store, root: &Node, from: Option<Uuid>) -> Box<dyn Iterator<Item = &'s Entity> + 's> {
    let table = &root.table.logical_name;
    if let Some((column, keys)) = root.checks.conditions.iter().find_map(|c| indexed_equality(store, root, c)) {
        let from = from.unwrap_or_default();
        if let ([key], false) = (keys.as_slice(), column == root.table.primary_id) {
            // One key: straight from the index, already in id order.
            let rows = store.find(table, column, key).into_iter().flatten().map(|e| &**e);
            return Box::new(rows.filter(move |e| e.id.unwrap_or_default() >= from));
        }
        let ids: BTreeSet<Uuid> = match column == root.table.primary_id {
            true => keys.iter().filter_map(|k| if let IndexKey::Id(id) = k { Some(*id) } else { None }).collect(),
            false => keys.iter().filter_map(|k| store.find(table, column, k)).flatten().filter_map(|e| e.id).collect(),
        };
        let table = table.clone();
        let rows = ids.into_iter().filter(move |id| *id >= from).filter_map(move |id| store.get(&table, id));
        return Box::new(rows.map(|e| &**e));
    }
    match from {
        Some(from) => Box::new(store.rows_from(table, from).map(|e| &**e)),
        None => Box::new(store.rows(table).map(|e| &**e)),
    }
}

/// The column and keys of an `eq` or `in` condition an index can answer exactly.
fn indexed_equality<'c>(store: &Store, root: &Node, c: &'c Condition) -> Option<(&'c str, Vec<IndexKey>)> {
    let values = match (&c.test, c.negated) {
        (Test::Equal(v), false) => std::slice::from_ref(v),
        (Test::In(values), false) => values.as_slice(),
        _ => return None,
    };
    let primary = c.column == root.table.primary_id;
    if !primary && !store.is_indexed(&root.table.logical_name, &c.column) {
        return None;
    }
    let keys: Option<Vec<IndexKey>> = values.iter().map(|v| IndexKey::of(v).filter(IndexKey::is_exact)).collect();
    let keys = keys?;
    if primary && !keys.iter().all(|k| matches!(k, IndexKey::Id(_))) {
        return None;
    }
    Some((&c.column, keys))
}

/// Starts the walk at link-entity `i` for the current parent row: its candidate rows by the join key.
fn enter<'s>(
    plan: &Plan,
    store: &'s Store,
    (sources, hashes): (&[Source], &mut Hashes<'s>),
    level: &mut Level<'s>,
    i: usize,
    slots: &Slots<'s>,
    meter: &mut Meter,
) -> Result<(), Fault> {
    let node = &plan.nodes[i];
    *level = Level { candidates: std::mem::take(&mut level.candidates), ..Level::default() };
    level.candidates.clear();
    let Some(join) = &node.join else { return Ok(()) };
    let key = IndexKey::of(cell(slots, node.parent, join.from));
    let Some(key) = key else { return Ok(()) };
    let table = &node.table.logical_name;
    match sources[i] {
        Source::Primary => {
            if let IndexKey::Id(id) = key {
                level.candidates.extend(store.get(table, id).map(|e| &**e));
            }
        }
        Source::Index => {
            level.candidates.extend(store.find(table, join.to, &key).into_iter().flatten().map(|e| &**e));
        }
        Source::Hash(at) => {
            let Some((table, column, built)) = hashes.tables.get_mut(at) else { return Ok(()) };
            if built.is_none() {
                let mut by_key: ByKey<'s> = HashMap::new();
                for row in store.rows(table) {
                    meter.tick()?;
                    if let Some(k) = row.get(column).and_then(IndexKey::of) {
                        by_key.entry(k).or_default().push(row);
                    }
                }
                *built = Some(by_key);
            }
            level.candidates.extend(built.as_ref().and_then(|b| b.get(&key)).into_iter().flatten().copied());
        }
    }
    Ok(())
}

/// Fills slot `i` with the next candidate that joins and passes the conditions placed there, or with nothing
/// for an outer join none joined; `false` when the candidates are spent.
fn advance<'s>(
    plan: &Plan,
    caller: &Caller,
    level: &mut Level<'s>,
    i: usize,
    slots: &mut [Option<&'s Entity>],
    meter: &mut Meter,
    cost: usize,
) -> Result<bool, Fault> {
    let node = &plan.nodes[i];
    let Some(join) = &node.join else { return Ok(false) };
    if join.kind.tests_only() {
        return test_only(node, caller, level, i, slots, meter, cost);
    }
    while let Some(&row) = level.candidates.get(level.next) {
        level.next += 1;
        meter.work(cost)?;
        slots[i] = Some(row);
        if !join.criteria.matches(slots, meter)? || !(caller.readable)(row) {
            continue;
        }
        level.joined = true;
        if join.kind == JoinKind::First {
            // Only the first matching row joins.
            level.next = level.candidates.len();
        }
        if node.checks.matches(slots, meter)? {
            return Ok(true);
        }
    }
    slots[i] = None;
    if join.kind == JoinKind::Outer && !level.joined && !level.empty_tried {
        level.empty_tried = true;
        return node.checks.matches(slots, meter);
    }
    Ok(false)
}

/// A link-entity that only tests the parent row (`exists`, `not any`, `all`): its slot stays empty and the row
/// passes once, or not at all.
fn test_only<'s>(
    node: &Node,
    caller: &Caller,
    level: &mut Level<'s>,
    i: usize,
    slots: &mut [Option<&'s Entity>],
    meter: &mut Meter,
    cost: usize,
) -> Result<bool, Fault> {
    let Some(join) = &node.join else { return Ok(false) };
    if level.empty_tried {
        return Ok(false);
    }
    level.empty_tried = true;
    let (mut related, mut passing) = (false, false);
    for &row in &level.candidates {
        meter.work(cost)?;
        if !(caller.readable)(row) {
            continue;
        }
        related = true;
        slots[i] = Some(row);
        if join.criteria.matches(slots, meter)? {
            passing = true;
            break;
        }
    }
    slots[i] = None;
    let passes = match join.kind {
        JoinKind::NotAny => !passing,
        JoinKind::All => related && !passing,
        _ => passing,
    };
    Ok(passes && node.checks.matches(slots, meter)?)
}
