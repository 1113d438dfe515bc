//! The memory budget of the case running on this thread: a floor below `sandbox`, `pipeline` and `store`, like
//! [`crate::deadline`], so that what a case stores is counted where it is stored without either module
//! reaching into the other (BOX-5).
//!
//! The host counts, the OS does not: each case has a [`Meter`] of the bytes it keeps (records written, trace
//! records, its log, queued asynchronous jobs with the parent contexts they hold, what its plug-ins put into
//! their contexts), estimated from the values as they are stored (no serialization: a few adds per value).
//! The session enters the case's meter on its thread for each request; the pipeline and the sandbox ask
//! [`check`] at the points where a request or an execution can fail cleanly, and past the budget it fails with
//! a fault naming the budget and the setting that raises it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use xrm_model::{
    Entity, EntityReference, Fault, FilterExpression, KeyAttributes, LinkEntity, ParameterValue, Parameters, Query,
    Request, Response, Value, codes,
};

/// The default budget of a case (`settings.caseMemoryMb`): far above what an ordinary suite's case stores.
pub const DEFAULT_CASE_MEMORY: usize = 512 << 20;

/// The most bytes of an exception message kept in a fault, a log or a trace record; the rest is cut, saying
/// so (BOX-5).
pub const MAX_MESSAGE: usize = 64 << 10;

/// The bytes one case keeps, against its budget.
#[derive(Debug)]
pub struct Meter {
    used: AtomicI64,
    limit: i64,
}

impl Meter {
    pub fn new(limit_bytes: usize) -> Arc<Self> {
        Arc::new(Meter { used: AtomicI64::new(0), limit: i64::try_from(limit_bytes).unwrap_or(i64::MAX) })
    }

    /// The bytes counted now (a little below zero is possible: a case that deletes organization records).
    pub fn used(&self) -> i64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> i64 {
        self.limit
    }

    fn add(&self, bytes: i64) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `Err` once the case keeps more than its budget.
    pub fn check(&self) -> Result<(), Fault> {
        match self.used() > self.limit {
            true => Err(exceeded(self.limit)),
            false => Ok(()),
        }
    }
}

impl Default for Meter {
    fn default() -> Self {
        Meter { used: AtomicI64::new(0), limit: DEFAULT_CASE_MEMORY as i64 }
    }
}

/// The fault of a case past its budget: the platform's code for a plug-in out of memory, naming the budget
/// and how to raise it.
pub fn exceeded(limit: i64) -> Fault {
    Fault::new(
        codes::SANDBOX_WORKER_NOT_AVAILABLE,
        format!(
            "This case keeps more than its memory budget of {} MB (records written, trace records, queued \
             asynchronous jobs and the contexts they hold, shared variables): raise `settings.caseMemoryMb` in \
             the organization file if a case needs more (BOX-5)",
            limit >> 20
        ),
    )
}

thread_local! {
    /// The meter of the case running on this thread.
    static CURRENT: RefCell<Option<Arc<Meter>>> = const { RefCell::new(None) };
}

/// Counts against `meter` on this thread for as long as it lives, then puts back the enclosing one.
pub struct Scope(Option<Arc<Meter>>);

impl Scope {
    pub fn enter(meter: Arc<Meter>) -> Self {
        Scope(CURRENT.replace(Some(meter)))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CURRENT.set(self.0.take());
    }
}

/// Adds `bytes` (or takes them back, when negative) to the case running here; nothing outside a case.
pub fn add(bytes: i64) {
    CURRENT.with_borrow(|meter| {
        if let Some(meter) = meter {
            meter.add(bytes);
        }
    });
}

/// `Err` once the case running here keeps more than its budget.
pub fn check() -> Result<(), Fault> {
    CURRENT.with_borrow(|meter| meter.as_ref().map_or(Ok(()), |m| m.check()))
}

/// Bytes counted against a case for as long as the charge lives (a queued job, a parent context a job holds).
#[derive(Debug)]
pub struct Charge {
    meter: Option<Arc<Meter>>,
    bytes: i64,
}

impl Charge {
    /// Counts `bytes` against the case running here until the charge is dropped, on whatever thread.
    pub fn new(bytes: usize) -> Self {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let meter = CURRENT.with_borrow(Clone::clone);
        if let Some(m) = &meter {
            m.add(bytes);
        }
        Charge { meter, bytes }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(m) = &self.meter {
            m.add(-self.bytes);
        }
    }
}

/// A charge a value may carry once: set the first time the value is kept (a context a queued job holds),
/// released when the value is dropped. A clone is a new value, not yet kept: it carries none.
#[derive(Default)]
pub struct Held(OnceLock<Charge>);

impl Held {
    /// Charges `bytes()` unless already charged; `true` if it charged now.
    pub fn hold(&self, bytes: impl FnOnce() -> usize) -> bool {
        let mut charged = false;
        self.0.get_or_init(|| {
            charged = true;
            Charge::new(bytes())
        });
        charged
    }
}

impl Clone for Held {
    fn clone(&self) -> Self {
        Held::default()
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({:?})", self.0.get().map(|c| c.bytes))
    }
}

/// Keeps at most [`MAX_MESSAGE`] bytes of an exception message, cut at a character boundary, saying how much
/// was left out.
pub fn bound_message(text: &mut String) {
    if let Some(end) = cut_at(text) {
        let note = cut_note(text.len() - end);
        text.truncate(end);
        text.push_str(&note);
    }
}

/// Where a message past [`MAX_MESSAGE`] is cut; `None` when it is kept whole.
fn cut_at(text: &str) -> Option<usize> {
    if text.len() <= MAX_MESSAGE {
        return None;
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(end)
}

fn cut_note(dropped: usize) -> String {
    format!(" … [{dropped} more bytes of this message cut: a message keeps {} KB]", MAX_MESSAGE >> 10)
}

/// A fault with its message bounded ([`bound_message`]).
pub fn bounded(mut fault: Fault) -> Fault {
    bound_message(&mut fault.message);
    fault
}

/// A copy of a fault with its message bounded, copying no more of the message than is kept.
pub fn bounded_copy(fault: &Fault) -> Fault {
    let Some(end) = cut_at(&fault.message) else { return fault.clone() };
    let message = format!("{}{}", &fault.message[..end], cut_note(fault.message.len() - end));
    Fault { code: fault.code, message, faulted_request_index: fault.faulted_request_index }
}

/// Estimated bytes of values, from their lengths: what a stored copy costs, not an exact allocation count.
pub mod size {
    use super::*;

    /// What a map entry, a boxed value or a small allocation costs beyond its contents.
    const SLOT: usize = 32;

    pub fn value(v: &Value) -> usize {
        SLOT + match v {
            Value::Text(s) | Value::Decimal(s) | Value::Money(s) => s.len(),
            Value::Choices(c) => 4 * c.len(),
            Value::Lookup(r) => reference(r),
            Value::EntityCollection(parties) => parties.iter().map(entity).sum(),
            Value::Aliased(a) => a.entity_logical_name.len() + a.attribute_logical_name.len() + value(&a.value),
            _ => 0,
        }
    }

    pub fn reference(r: &EntityReference) -> usize {
        SLOT + r.logical_name.len() + r.name.as_ref().map_or(0, String::len) + keys(&r.key_attributes)
    }

    fn keys(k: &KeyAttributes) -> usize {
        k.iter().map(|(name, v)| name.len() + value(v)).sum()
    }

    pub fn entity(e: &Entity) -> usize {
        let attributes: usize = e.attributes.iter().map(|(name, v)| SLOT + name.len() + value(v)).sum();
        let formatted: usize = e.formatted_values.iter().map(|(name, text)| SLOT + name.len() + text.len()).sum();
        64 + e.logical_name.len() + attributes + keys(&e.key_attributes) + formatted
    }

    pub fn parameters(p: &Parameters) -> usize {
        p.iter().map(|(name, v)| SLOT + name.len() + parameter(v)).sum()
    }

    pub fn parameter(p: &ParameterValue) -> usize {
        SLOT + match p {
            ParameterValue::Value(v) => value(v),
            ParameterValue::Entity(e) => entity(e),
            ParameterValue::EntityCollection(c) => {
                c.entity_name.len()
                    + c.paging_cookie.as_ref().map_or(0, String::len)
                    + c.entities.iter().map(entity).sum::<usize>()
            }
            ParameterValue::EntityReferences(r) => r.iter().map(reference).sum(),
            ParameterValue::ColumnSet(c) => columns(c),
            ParameterValue::Query(q) => query(q),
            ParameterValue::Relationship(s) => s.len(),
            ParameterValue::PrincipalAccess(a) => reference(&a.principal),
            ParameterValue::Guids(g) => 16 * g.len(),
            ParameterValue::Requests(r) => r.iter().map(request).sum(),
            ParameterValue::Responses(r) => r.iter().map(response).sum(),
            ParameterValue::ExecuteMultipleSettings(_) => 0,
            ParameterValue::ExecuteMultipleResponses(items) => items
                .iter()
                .map(|i| {
                    SLOT + i.response.as_ref().map_or(0, response) + i.fault.as_ref().map_or(0, |f| f.message.len())
                })
                .sum(),
            // Metadata is read-only text about tables: its debug form's length is a fair measure.
            ParameterValue::Metadata(m) => format!("{m:?}").len(),
        }
    }

    pub fn request(r: &Request) -> usize {
        SLOT + r.message.len() + parameters(&r.parameters)
    }

    pub fn response(r: &Response) -> usize {
        SLOT + r.message.len() + parameters(&r.results)
    }

    fn columns(c: &xrm_model::ColumnSet) -> usize {
        match c {
            xrm_model::ColumnSet::AllColumns => 0,
            xrm_model::ColumnSet::Columns(names) => names.iter().map(|n| SLOT + n.len()).sum(),
        }
    }

    pub fn query(q: &Query) -> usize {
        match q {
            Query::FetchXml(text) => text.len(),
            Query::ByAttribute(q) => {
                q.entity_name.len()
                    + columns(&q.column_set)
                    + q.attributes.iter().map(|a| SLOT + a.len()).sum::<usize>()
                    + q.values.iter().map(value).sum::<usize>()
                    + q.orders.iter().map(|o| SLOT + o.attribute_name.len()).sum::<usize>()
            }
            Query::Expression(q) => {
                q.entity_name.len()
                    + columns(&q.column_set)
                    + filter(&q.criteria)
                    + q.link_entities.iter().map(link).sum::<usize>()
                    + q.orders.iter().map(|o| SLOT + o.attribute_name.len()).sum::<usize>()
            }
        }
    }

    /// Filters and link-entities nest at most 64 levels (the conversion refuses deeper ones).
    fn filter(f: &FilterExpression) -> usize {
        let conditions: usize = f
            .conditions
            .iter()
            .map(|c| SLOT + c.attribute_name.len() + c.values.iter().map(value).sum::<usize>())
            .sum();
        SLOT + conditions + f.filters.iter().map(filter).sum::<usize>()
    }

    fn link(l: &LinkEntity) -> usize {
        SLOT + l.link_from_attribute_name.len()
            + l.link_to_entity_name.len()
            + l.link_to_attribute_name.len()
            + columns(&l.columns)
            + filter(&l.link_criteria)
            + l.link_entities.iter().map(link).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_counts_against_its_meter_and_charges_are_given_back_when_dropped() {
        let meter = Meter::new(1000);
        add(10_000); // outside any case: nothing
        {
            let _scope = Scope::enter(meter.clone());
            add(600);
            assert!(check().is_ok());
            let charge = Charge::new(500);
            let fault = check().unwrap_err();
            assert_eq!(fault.code, codes::SANDBOX_WORKER_NOT_AVAILABLE);
            assert!(fault.message.contains("settings.caseMemoryMb"), "{}", fault.message);
            drop(charge);
            assert!(check().is_ok());
            let held = Held::default();
            assert!(held.hold(|| 100));
            assert!(!held.hold(|| 100), "charged once");
            assert_eq!(meter.used(), 700);
            let copy = held.clone();
            assert!(copy.hold(|| 50), "a copy is charged of its own");
            assert_eq!(meter.used(), 750);
            drop((copy, held));
            assert_eq!(meter.used(), 600);
        }
        assert!(check().is_ok(), "outside the scope");
    }

    #[test]
    fn a_long_message_is_cut_at_64_kb_saying_so() {
        let mut text = "é".repeat(MAX_MESSAGE);
        bound_message(&mut text);
        assert!(text.len() < MAX_MESSAGE + 100);
        assert!(text.contains("more bytes of this message cut"), "{}", &text[text.len() - 100..]);
        let mut short = "short".to_owned();
        bound_message(&mut short);
        assert_eq!(short, "short");
    }
}
