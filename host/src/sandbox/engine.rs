//! The one wasmtime engine of the process and the clock that drives its epoch deadlines.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the resolution of the time limit.
const TICK: Duration = Duration::from_millis(5);

/// Wasm stack per execution. Nested executions (a plug-in's call running another plug-in) share the host
/// thread's stack, so the runner gives its threads room for `maxDepth` of these.
pub const WASM_STACK: usize = 1 << 20;

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// The most bytes of a slot's memory (and of its tables) reset in place rather than handed back to the kernel.
const KEEP_RESIDENT: usize = 1 << 20;

/// The shared engine, created on first use with its epoch ticker.
pub fn shared() -> Result<&'static Engine, String> {
    ENGINE.get_or_init(create).as_ref().map_err(Clone::clone)
}

fn create() -> Result<Engine, String> {
    let mut pool = PoolingAllocationConfig::default();
    // A full share for each of the cases that may hold slots at once (BOX-5, `slots`): no case can take
    // another's. Memories reserve address space only, so a 4 GiB maximum costs nothing until used: the actual
    // limit is enforced per store (BOX-3).
    let slots = super::slots::pool();
    pool.total_component_instances(u32::try_from(slots.component_instances).unwrap_or(u32::MAX))
        .total_core_instances(u32::try_from(slots.core_instances).unwrap_or(u32::MAX))
        .total_memories(u32::try_from(slots.memories).unwrap_or(u32::MAX))
        .total_tables(u32::try_from(slots.tables).unwrap_or(u32::MAX))
        .max_memory_size(4 << 30)
        // Reset a used slot by rewriting just the pages the last instance dirtied (found with Linux's
        // PAGEMAP_SCAN, 6.7+), keeping them mapped: no madvise, no TLB shootdown, and no page faults when the
        // next execution touches the same stack, data and heap pages. Half the time of a probe execution went
        // to those faults before. Elsewhere wasmtime falls back to madvise.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .max_wasm_stack(WASM_STACK)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        // The pool reserves terabytes of address space up front; a process whose address space is limited
        // (`ulimit -v`) cannot. Then each instance gets its memories on demand, reserving only what they hold
        // and moving them when they grow: slower to start, the same limits (BOX-5).
        Err(pooled) => {
            let mut config = Config::new();
            config
                .epoch_interruption(true)
                .max_wasm_stack(WASM_STACK)
                .memory_reservation(0)
                .memory_guard_size(0)
                .memory_reservation_for_growth(1 << 20);
            Engine::new(&config).map_err(|e| format!("{pooled:#}; and without the instance pool: {e:#}"))?
        }
    };
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("xrm-sandbox-epoch".into())
        .spawn(move || {
            // The epoch counts the ticks elapsed since the engine started, not the ticker's wake-ups: on a busy
            // machine a sleep lasts longer than asked, and counting wake-ups would let every time limit run late
            // by the sum of those delays (60 late wake-ups made a 300 ms limit last 600 ms).
            let origin = Instant::now();
            let mut epoch: u128 = 0;
            while let Some(engine) = ticker.upgrade() {
                let due = origin.elapsed().as_nanos() / TICK.as_nanos();
                while epoch < due {
                    engine.increment_epoch();
                    epoch += 1;
                }
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .map_err(|e| format!("cannot start the epoch ticker: {e}"))?;
    Ok(engine)
}

/// The epoch deadline, in ticks, for a time limit. The epoch may run ahead of an execution's own clock (it
/// counts whole ticks, and catches up at once after a late wake-up), so reaching it only means "check the clock".
pub fn ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(TICK.as_nanos()).max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}
