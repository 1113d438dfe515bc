//! The deadline of the execution running on this thread: a floor below `sandbox` and `pipeline`, so that the
//! host's own work on a plug-in's behalf (a query, a conversion, a copy) stops at the execution's time limit
//! too (BOX-5), without either module reaching into the other.
//!
//! The sandbox enters a [`Scope`] for each execution; host code in a loop a plug-in's call can start asks a
//! [`Meter`] now and then whether the deadline has passed, and returns the platform's time-limit fault if so.

use std::cell::Cell;
use std::time::Instant;

use xrm_model::{Fault, codes};

thread_local! {
    /// The deadline of the innermost execution running on this thread. A plug-in's service call may run other
    /// plug-ins on the same thread; they must stop by the caller's deadline too.
    static CURRENT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The deadline in force on this thread, if an execution is running.
pub fn current() -> Option<Instant> {
    CURRENT.get()
}

/// Whether the deadline in force has passed (never, outside an execution).
pub fn passed() -> bool {
    current().is_some_and(|d| Instant::now() >= d)
}

/// The fault host work returns when it stops at the deadline: the plug-in's time limit (PIPE-12).
pub fn exceeded() -> Fault {
    Fault::new(
        codes::PLUGIN_TIMEOUT,
        "The plug-in execution failed because the operation it started exceeded the plug-in's time limit",
    )
}

/// `Err` once the deadline in force has passed.
pub fn check() -> Result<(), Fault> {
    match passed() {
        true => Err(exceeded()),
        false => Ok(()),
    }
}

/// Sets an execution's deadline for as long as it lives, then puts back the enclosing one.
pub struct Scope(Option<Instant>);

impl Scope {
    pub fn enter(deadline: Instant) -> Self {
        Scope(CURRENT.replace(Some(deadline)))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CURRENT.set(self.0);
    }
}

/// Looks at the clock once every [`Meter::EVERY`] ticks: cheap enough for a loop over rows or input items.
#[derive(Default)]
pub struct Meter {
    count: u32,
}

impl Meter {
    /// Reading the clock costs ~20 ns; a loop step costs at least a few. One read in 256 keeps the cost below
    /// one percent while the overrun past the deadline stays far under a millisecond.
    pub const EVERY: u32 = 256;

    pub fn new() -> Self {
        Meter::default()
    }

    /// Counts one unit of work; `Err` when the deadline has passed.
    pub fn tick(&mut self) -> Result<(), Fault> {
        self.work(1)
    }

    /// Counts `units` of work at once: a step that costs as much as that many loop steps (a row checked
    /// against many conditions, a long text scanned).
    pub fn work(&mut self, units: usize) -> Result<(), Fault> {
        self.count = self.count.saturating_add(u32::try_from(units).unwrap_or(u32::MAX));
        if self.count < Self::EVERY {
            return Ok(());
        }
        self.count = 0;
        check()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_scope_sets_the_deadline_and_puts_back_the_enclosing_one() {
        assert_eq!(current(), None);
        let outer = Instant::now() + Duration::from_secs(60);
        let inner = Instant::now();
        {
            let _outer = Scope::enter(outer);
            {
                let _inner = Scope::enter(inner);
                assert!(passed());
                assert_eq!(check().unwrap_err().code, codes::PLUGIN_TIMEOUT);
            }
            assert_eq!(current(), Some(outer));
            assert!(check().is_ok());
        }
        assert_eq!(current(), None);
    }

    #[test]
    fn a_meter_reports_a_passed_deadline_within_its_period() {
        let _scope = Scope::enter(Instant::now());
        let mut meter = Meter::new();
        let stopped = (0..Meter::EVERY).map(|_| meter.tick()).position(|r| r.is_err());
        assert_eq!(stopped, Some(Meter::EVERY as usize - 1));
    }
}
