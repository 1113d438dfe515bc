//! Which rows a query returns: `top`, or a page by number or after a paging cookie, in the query's order; the
//! collector that keeps only those while rows stream by (memory bounded by the window, not by the rows).

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::{Value as Json, json};
use xrm_model::json::{Path as JsonPath, Reader, value_to_json};
use xrm_model::{Entity, Fault, QueryExpression, Uuid, Value};

use super::exec::Flow;
use super::filter::{Slots, cell, compare};
use super::formatted::Formatter;
use super::plan::Plan;
use super::{DEFAULT_PAGE, TOP_AND_TOTAL, invalid};

/// Where a row sorts: its order columns' values, then the ids of its records, so the order is total and a
/// paging cookie can say exactly where a page ended.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Key {
    values: Vec<Value>,
    ids: Vec<Option<Uuid>>,
}

impl Key {
    /// The root record's id: without orders, rows stream in that order, so a run may start there.
    pub(super) fn root(&self) -> Option<Uuid> {
        self.ids.first().copied().flatten()
    }
}

/// Which of the sorted rows to return.
pub(super) enum Window {
    Top(usize),
    Page { number: u32, count: u32, after: Option<Key>, asked: bool },
}

impl Window {
    pub(super) fn of(plan: &Plan, q: &QueryExpression) -> Result<Window, Fault> {
        match (q.top_count, &q.page_info) {
            (Some(_), Some(p)) if p.return_total_record_count => Err(invalid(TOP_AND_TOTAL.into())),
            (Some(_), Some(p)) if p.count > 0 || p.page_number > 1 => {
                Err(invalid("A query can't have both a top count and paging (page and count)".into()))
            }
            (Some(top), _) => Ok(Window::Top(top as usize)),
            (None, Some(p)) if p.asks_for_a_page() => {
                let number = p.page_number.max(1);
                let after = match p.paging_cookie.as_deref() {
                    Some(text) if !text.trim().is_empty() => read_cookie(plan, text, number)?,
                    _ => None,
                };
                let count = if p.count == 0 { DEFAULT_PAGE } else { p.count };
                Ok(Window::Page { number, count, after, asked: true })
            }
            (None, _) => Ok(Window::Page { number: 1, count: DEFAULT_PAGE, after: None, asked: false }),
        }
    }

    /// The cookie's row, after which the page starts.
    pub(super) fn after(&self) -> Option<&Key> {
        match self {
            Window::Page { after, .. } => after.as_ref(),
            Window::Top(_) => None,
        }
    }
}

/// A row kept by the collector: its sort key, its slots and, for a distinct query, its projection's text.
struct Kept<'s> {
    key: Key,
    row: Vec<Option<&'s Entity>>,
    signature: Option<String>,
}

/// Keeps the rows of a window as they stream by. Without orders they arrive in key order, so it stops as soon
/// as the window (and one row more, to know whether more follow) is full. With orders it keeps the best rows
/// seen, sorting and cutting its buffer whenever it doubles.
pub(super) struct Collector<'p, 'a, 's> {
    plan: &'p Plan<'a>,
    after: Option<Key>,
    /// Rows before the window (a page by number), rows in it, and whether to look for one more.
    skip: usize,
    keep: usize,
    look_ahead: bool,
    skipped: usize,
    rows: Vec<Kept<'s>>,
    /// Distinct projections seen (unordered distinct queries).
    seen: HashSet<String>,
    /// The total record count (QRY-9): how far to count, the rows counted, and for a distinct query the
    /// projections counted.
    count_to: Option<usize>,
    counted: usize,
    counted_distinct: HashSet<String>,
    /// Whether the window is full (unordered queries): later rows are only counted.
    full: bool,
}

impl<'p, 'a, 's> Collector<'p, 'a, 's> {
    /// `count_to`: count the matching rows up to one past that many (the total record count, QRY-9).
    pub(super) fn new(plan: &'p Plan<'a>, window: &Window, count_to: Option<usize>) -> Self {
        let (skip, keep, look_ahead, after) = match window {
            Window::Top(n) => (0, *n, false, None),
            Window::Page { after: Some(after), count, .. } => (0, *count as usize, true, Some(after.clone())),
            Window::Page { number, count, .. } => {
                ((*number as usize - 1).saturating_mul(*count as usize), *count as usize, true, None)
            }
        };
        Collector {
            plan,
            after,
            skip,
            keep,
            look_ahead,
            skipped: 0,
            rows: Vec::new(),
            seen: HashSet::new(),
            count_to,
            counted: 0,
            counted_distinct: HashSet::new(),
            full: false,
        }
    }

    /// The rows counted, when counting: at most one past the limit asked for.
    pub(super) fn total(&self) -> Option<usize> {
        self.count_to.map(|_| self.counted)
    }

    /// Counts a row (each distinct projection once for a distinct query); whether rows are still to be
    /// counted.
    fn count(&mut self, row: &Slots<'s>) -> bool {
        let Some(limit) = self.count_to else { return false };
        if self.counted > limit {
            return false;
        }
        let new = !self.plan.distinct || self.counted_distinct.insert(signature(&self.plan.project(row)));
        self.counted += usize::from(new);
        self.counted <= limit
    }

    /// Stops the run when the window is full, unless rows are still to be counted.
    fn stop(&mut self, counting: bool) -> Flow {
        self.full = true;
        if counting { Flow::Continue } else { Flow::Stop }
    }

    /// How many rows the collector needs at most: those before the window, in it, and one to look ahead.
    fn limit(&self) -> usize {
        self.skip.saturating_add(self.keep).saturating_add(usize::from(self.look_ahead))
    }

    pub(super) fn push(&mut self, row: &Slots<'s>) -> Result<Flow, Fault> {
        let counting = self.count(row);
        if self.full {
            return Ok(self.stop(counting));
        }
        let key = key(self.plan, row);
        if let Some(after) = &self.after
            && cmp_keys(self.plan, &key, after).is_le()
        {
            return Ok(Flow::Continue);
        }
        let signature = self.plan.distinct.then(|| signature(&self.plan.project(row)));
        let kept = Kept { key, row: row.to_vec(), signature };
        if !self.plan.orders.is_empty() {
            self.rows.push(kept);
            if self.rows.len() >= self.limit().saturating_mul(2).max(64) {
                self.compact();
            }
            return Ok(Flow::Continue);
        }
        if let Some(signature) = &kept.signature
            && !self.seen.insert(signature.clone())
        {
            return Ok(Flow::Continue);
        }
        if self.skipped < self.skip {
            self.skipped += 1;
            return Ok(Flow::Continue);
        }
        self.rows.push(kept);
        Ok(if self.rows.len() >= self.keep + usize::from(self.look_ahead) {
            self.stop(counting)
        } else {
            Flow::Continue
        })
    }

    /// Sorts the buffer, keeps the first row of each distinct projection, and cuts it to what may be returned.
    fn compact(&mut self) {
        let plan = self.plan;
        self.rows.sort_by(|a, b| cmp_keys(plan, &a.key, &b.key));
        if plan.distinct {
            let mut seen = HashSet::new();
            self.rows.retain(|k| k.signature.as_ref().is_none_or(|s| seen.insert(s.clone())));
        }
        self.rows.truncate(self.limit());
    }

    /// The rows of the window as entities, whether more follow, and the cookie that continues after them.
    pub(super) fn finish(mut self, window: &Window, formatter: &Formatter) -> (Vec<Entity>, bool, Option<String>) {
        let ordered = !self.plan.orders.is_empty();
        if ordered {
            self.compact();
        }
        let start = if ordered { self.skip.min(self.rows.len()) } else { 0 };
        let end = start.saturating_add(self.keep).min(self.rows.len());
        let more = self.look_ahead && self.rows.len() > end;
        let cookie = match (window, end.checked_sub(1).and_then(|i| self.rows.get(i))) {
            (Window::Page { number, asked, .. }, Some(last)) if end > start && (*asked || more) => {
                Some(cookie(self.plan, *number, &last.key))
            }
            _ => None,
        };
        let entities = self.rows[start..end].iter().map(|k| self.plan.project_formatted(&k.row, formatter)).collect();
        (entities, more, cookie)
    }
}

/// A projection as text, for telling distinct rows apart: the debug text of a BTreeMap is a canonical form.
fn signature(e: &Entity) -> String {
    format!("{:?}", e.attributes)
}

fn key(plan: &Plan, row: &Slots) -> Key {
    Key {
        values: plan.orders.iter().map(|o| cell(row, o.node, &o.column).clone()).collect(),
        ids: row.iter().map(|e| e.and_then(|e| e.id)).collect(),
    }
}

fn cmp_keys(plan: &Plan, a: &Key, b: &Key) -> Ordering {
    for ((o, x), y) in plan.orders.iter().zip(&a.values).zip(&b.values) {
        // Nulls sort first, as in SQL Server.
        let ord = y.is_null().cmp(&x.is_null()).then_with(|| compare(x, y).unwrap_or(Ordering::Equal));
        let ord = if o.descending { ord.reverse() } else { ord };
        if ord.is_ne() {
            return ord;
        }
    }
    a.ids.cmp(&b.ids)
}

/// The paging cookie, opaque to callers: JSON text holding the page it ends, the orders it was made for and
/// the sort key of the page's last row, so the next page starts right after that row even if rows were added
/// or removed before it in between.
fn cookie(plan: &Plan, page: u32, key: &Key) -> String {
    let values: Vec<Json> = key.values.iter().map(value_to_json).collect();
    json!({ "page": page, "orders": plan.order_signature(), "values": values, "ids": key.ids }).to_string()
}

/// The key to continue after, or `None` when the cookie ends another page than the one before `page` (the
/// page number then decides, as it does without a cookie).
fn read_cookie(plan: &Plan, text: &str, page: u32) -> Result<Option<Key>, Fault> {
    let bad = |why: &str| invalid(format!("The paging cookie is not valid: {why}"));
    let json: Json = serde_json::from_str(text).map_err(|_| bad("it is not a cookie this host made"))?;
    let cookie_page = json.get("page").and_then(Json::as_u64).ok_or_else(|| bad("it has no page"))?;
    if cookie_page.checked_add(1) != Some(u64::from(page)) {
        return Ok(None);
    }
    if json.get("orders").and_then(Json::as_str) != Some(plan.order_signature().as_str()) {
        return Err(bad("it was made for a query with other orders"));
    }
    let reader = Reader::default();
    let values: Option<Vec<Value>> = match json.get("values").and_then(Json::as_array) {
        Some(items) => items.iter().map(|v| reader.value(v, &JsonPath::Root("values")).ok()).collect(),
        None => None,
    };
    let ids: Option<Vec<Option<Uuid>>> = json.get("ids").and_then(|ids| serde_json::from_value(ids.clone()).ok());
    match (values, ids) {
        (Some(values), Some(ids)) if values.len() == plan.orders.len() && ids.len() == plan.nodes.len() => {
            Ok(Some(Key { values, ids }))
        }
        _ => Err(bad("it was made for another query")),
    }
}
