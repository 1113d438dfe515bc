//! Fair shares of the instance pool (BOX-5): one case cannot starve another of slots.
//!
//! The pooling allocator has a fixed number of slots for component instances, core instances, memories and
//! tables, shared by the whole process. Every execution of a case nests on the case's thread, so the slots a
//! case holds are those of the executions alive on its thread. Each case may hold at most [`PER_CASE`] at
//! once; at most [`SEATS`] cases hold slots at the same time (a case waits for a seat, within its time limit);
//! and the pool has `SEATS × PER_CASE` slots. So the pool never runs out: a case that asks for more than its
//! share fails, with a fault saying so, and no other case notices.
//!
//! What an execution needs is known when its component loads: its memories and tables (wasmtime counts them),
//! its core instances (counted in the component's sections). Its store may create no more than that.

use std::cell::Cell;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

/// Pool slots: what one execution needs, what a case holds, what the pool has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slots {
    pub component_instances: usize,
    pub core_instances: usize,
    pub memories: usize,
    pub tables: usize,
}

impl Slots {
    fn plus(self, o: Slots) -> Slots {
        Slots {
            component_instances: self.component_instances + o.component_instances,
            core_instances: self.core_instances + o.core_instances,
            memories: self.memories + o.memories,
            tables: self.tables + o.tables,
        }
    }

    fn minus(self, o: Slots) -> Slots {
        Slots {
            component_instances: self.component_instances.saturating_sub(o.component_instances),
            core_instances: self.core_instances.saturating_sub(o.core_instances),
            memories: self.memories.saturating_sub(o.memories),
            tables: self.tables.saturating_sub(o.tables),
        }
    }

    fn times(self, n: usize) -> Slots {
        Slots {
            component_instances: self.component_instances * n,
            core_instances: self.core_instances * n,
            memories: self.memories * n,
            tables: self.tables * n,
        }
    }

    /// The first kind of slot of which `self` has more than `cap`: its name, what `self` has, the cap.
    fn over(self, cap: Slots) -> Option<(&'static str, usize, usize)> {
        [
            ("component instances", self.component_instances, cap.component_instances),
            ("core instances", self.core_instances, cap.core_instances),
            ("memories", self.memories, cap.memories),
            ("tables", self.tables, cap.tables),
        ]
        .into_iter()
        .find(|(_, has, cap)| has > cap)
    }

    fn is_empty(self) -> bool {
        self == Slots::default()
    }
}

/// What one case may hold at once: room for 50 levels of nested plug-ins (`maxDepth` at most) of ordinary
/// components (one memory, a few tables and core instances), with room to spare.
pub const PER_CASE: Slots = Slots { component_instances: 64, core_instances: 512, memories: 128, tables: 512 };

/// How many cases may hold slots at once.
pub const SEATS: usize = 8;

/// The slots of the pool: a full share for every seat.
pub fn pool() -> Slots {
    PER_CASE.times(SEATS)
}

/// What one execution of `component` needs; `Err` when a single execution would need more than a case's share.
pub fn needed(bytes: &[u8], component: &wasmtime::component::Component) -> Result<Slots, String> {
    let mut core_instances = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Ok(wasmparser::Payload::InstanceSection(reader)) = payload {
            core_instances +=
                reader.into_iter().filter(|i| matches!(i, Ok(wasmparser::Instance::Instantiate { .. }))).count();
        }
    }
    // A nested component instantiated twice instantiates its modules twice: a little room for that. A store
    // that tries to create more than its reservation fails on its own.
    let core_instances = core_instances + core_instances / 2 + 4;
    let (memories, tables) = match component.resources_required() {
        Some(r) => (r.num_memories as usize, r.num_tables as usize),
        // A component importing modules: its needs are unknown until it runs; the most a store may take.
        None => (PER_CASE.memories / 8, PER_CASE.tables / 8),
    };
    let need = Slots { component_instances: 1, core_instances, memories, tables };
    match need.over(PER_CASE) {
        Some((kind, has, cap)) => Err(format!(
            "one execution would need {has} {kind} from the sandbox's instance pool, more than the {cap} a case may \
             hold at once (BOX-5)"
        )),
        None => Ok(need),
    }
}

thread_local! {
    /// The slots held by the executions alive on this thread: the case's.
    static HELD: Cell<Slots> = const { Cell::new(Slots { component_instances: 0, core_instances: 0, memories: 0, tables: 0 }) };
}

/// The seats taken, and a signal when one is given back.
static TAKEN: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// Why an execution could not have its slots.
pub enum Refused {
    /// The case already holds so much that this execution would pass its share: what, held, needed, cap.
    Share { kind: &'static str, held: usize, needed: usize, cap: usize },
    /// No seat came free before the execution's deadline.
    Deadline,
}

/// An execution's slots, given back (and the case's seat, with the last of them) when dropped.
pub struct Reservation(Slots);

impl Drop for Reservation {
    fn drop(&mut self) {
        let held = HELD.get().minus(self.0);
        HELD.set(held);
        if held.is_empty() {
            let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
            *taken = taken.saturating_sub(1);
            FREED.notify_one();
        }
    }
}

/// Reserves `need` for an execution of the case running on this thread, taking a seat first if the case holds
/// none (waiting for one until `deadline`).
pub fn reserve(need: Slots, deadline: Instant) -> Result<Reservation, Refused> {
    let held = HELD.get();
    if let Some((kind, _, cap)) = held.plus(need).over(PER_CASE) {
        let pick = |s: Slots| match kind {
            "component instances" => s.component_instances,
            "core instances" => s.core_instances,
            "memories" => s.memories,
            _ => s.tables,
        };
        return Err(Refused::Share { kind, held: pick(held), needed: pick(need), cap });
    }
    if held.is_empty() {
        let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
        while *taken >= SEATS {
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return Err(Refused::Deadline);
            }
            taken = FREED.wait_timeout(taken, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
        *taken += 1;
    }
    HELD.set(held.plus(need));
    Ok(Reservation(need))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_case_holds_at_most_its_share_and_gives_it_back() {
        let deadline = Instant::now() + Duration::from_secs(60);
        let need = Slots { component_instances: 1, core_instances: 8, memories: 40, tables: 2 };
        let first = reserve(need, deadline).ok().expect("a first execution");
        let second = reserve(need, deadline).ok().expect("nested once");
        let third = reserve(need, deadline).ok().expect("nested twice: 120 memories of 128");
        match reserve(need, deadline) {
            Err(Refused::Share { kind: "memories", held: 120, needed: 40, cap: 128 }) => {}
            _ => panic!("the fourth level passes the case's share"),
        }
        drop((third, second, first));
        assert!(HELD.get().is_empty());
        assert!(reserve(need, deadline).is_ok(), "given back");
    }
}
