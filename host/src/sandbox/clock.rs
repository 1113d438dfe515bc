//! `wasi:clocks/monotonic-clock` with the execution's deadline built in (BOX-3, PIPE-12).
//!
//! The epoch deadline stops a plug-in only while it runs WebAssembly; a plug-in asleep in the host (`sleep`,
//! `poll` on a clock) would sleep past its time limit. Here every clock subscription wakes at the deadline at
//! the latest, so the plug-in is back in WebAssembly, where the epoch stops it, and a subscription made after
//! the deadline ends the execution at once.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::{self, Host};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use super::host::TimeLimit;

/// The clock's view of a store: its resource table and its deadline.
pub struct DeadlineClock<'a> {
    pub table: &'a mut ResourceTable,
    pub deadline: Instant,
}

/// Marks [`DeadlineClock`] as the data the clock's host functions get.
pub struct Clock;

impl HasData for Clock {
    type Data<'a> = DeadlineClock<'a>;
}

/// Replaces the monotonic clock that `wasmtime_wasi::p2::add_to_linker_sync` linked.
pub fn add_to_linker<T: 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> DeadlineClock<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = monotonic_clock::add_to_linker::<T, Clock>(linker, view);
    linker.allow_shadowing(false);
    result
}

/// The origin of the clock's readings: the first reading in the process.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl DeadlineClock<'_> {
    fn subscribe_until(&mut self, when: Instant) -> wasmtime::Result<Resource<DynPollable>> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(TimeLimit.into());
        }
        let sleep = if when <= now {
            Sleep::Past { yielded: false }
        } else {
            Sleep::Until(tokio::time::Instant::from_std(when.min(self.deadline)))
        };
        let resource = self.table.push(sleep)?;
        subscribe(self.table, resource)
    }
}

impl Host for DeadlineClock<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(nanos(origin().elapsed()))
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: monotonic_clock::Instant) -> wasmtime::Result<Resource<DynPollable>> {
        // An instant too far to represent is at least the deadline, which is where the wait ends anyway.
        let when = origin().checked_add(Duration::from_nanos(when)).unwrap_or(self.deadline);
        self.subscribe_until(when)
    }

    fn subscribe_duration(&mut self, d: monotonic_clock::Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let when = Instant::now().checked_add(Duration::from_nanos(d)).unwrap_or(self.deadline);
        self.subscribe_until(when)
    }
}

/// A clock subscription, already cut to the deadline.
enum Sleep {
    /// Due already: ready after one yield, so a guest polling in a loop lets the runtime make progress.
    Past {
        yielded: bool,
    },
    Until(tokio::time::Instant),
}

#[wasmtime_wasi::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        match self {
            Sleep::Past { yielded: true } => {}
            Sleep::Past { yielded } => {
                *yielded = true;
                tokio::task::yield_now().await;
            }
            Sleep::Until(when) => tokio::time::sleep_until(*when).await,
        }
    }
}
