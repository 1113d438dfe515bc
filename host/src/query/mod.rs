//! The query engine: Retrieve by id and RetrieveMultiple over the store, one engine for QueryExpression and
//! FetchXML (read into a QueryExpression by [`fetchxml`]).
//!
//! A query is first bound to the organization's tables (a `Plan`): every alias resolved, every column
//! checked, every condition value typed by its column, so a bad query fails before any row is read. Then rows
//! are joined, filtered, sorted, made distinct and paged. A joined row is a `Row`: one slot per table of the
//! query (the root first, then the link-entities in document order), `None` where an outer join found nothing.
//!
//! The engine knows nothing of security: the pipeline passes which rows the caller may read as a predicate
//! ([`Caller::readable`]).

mod aggregate;
mod dates;
mod exec;
pub mod fetchxml;
mod filter;
pub mod formatted;
mod like;
mod page;
mod plan;
mod project;
pub mod values;

use xrm_model::{ColumnSet, Entity, EntityCollection, EntityReference, Fault, Query, Uuid, codes};

use crate::org::{Organization, Table};
use crate::store::Store;
pub use dates::Calendar;
pub use filter::compare;
pub use formatted::Formatter;
use page::{Collector, Key, Window};
use plan::Plan;

/// Who runs the query: the user `eq-userid` and `eq-businessid` stand for, and which rows they may read.
pub struct Caller<'a> {
    pub user: Uuid,
    pub business_unit: Uuid,
    /// Whether the caller may read a row (SEC-6): rows it may not read are left out, never an error.
    pub readable: &'a dyn Fn(&Entity) -> bool,
    /// The case's clock and the users' time zone, for date operators (QRY-2).
    pub calendar: Calendar,
}

/// The platform's page size when a query asks for none.
const DEFAULT_PAGE: u32 = 5000;

/// How far a total record count counts (QRY-9): past it, the count stops and says the limit was exceeded.
const TOTAL_COUNT_LIMIT: usize = 5000;

/// The fault for a query asking for `top` and the total record count together (QRY-9).
const TOP_AND_TOTAL: &str =
    "A query can't have both a top count and a total record count (ReturnTotalRecordCount, returntotalrecordcount)";

fn invalid(message: String) -> Fault {
    Fault::new(codes::INVALID_ARGUMENT, message)
}

fn unknown_column(table: &Table, column: &str) -> Fault {
    Fault::new(
        codes::UNKNOWN_ATTRIBUTE,
        format!("'{}' entity doesn't contain attribute with Name = '{column}'", table.logical_name),
    )
}

fn check_column(table: &Table, column: &str) -> Result<(), Fault> {
    match table.columns.contains_key(column) {
        true => Ok(()),
        false => Err(unknown_column(table, column)),
    }
}

/// Refuses a column set naming a column the table does not have.
fn check_columns(table: &Table, columns: &ColumnSet) -> Result<(), Fault> {
    let ColumnSet::Columns(cols) = columns else { return Ok(()) };
    cols.iter().try_for_each(|c| check_column(table, c))
}

/// The record with only the requested columns (and its key, as the platform returns it).
fn project(table: &Table, record: &Entity, columns: &ColumnSet) -> Entity {
    let mut out = Entity { id: record.id, ..Entity::new(record.logical_name.clone()) };
    for (name, value) in &record.attributes {
        if (columns.includes(name) || *name == table.primary_id) && !value.is_null() {
            out.attributes.insert(name.clone(), value.clone());
        }
    }
    out
}

/// The alias of a link-entity that has none: its table and its place among the query's link-entities in
/// document order, from 1 (`contact1`), as the platform names them.
pub fn default_alias(table: &str, n: usize) -> String {
    format!("{table}{n}")
}

/// Retrieve: one record by id, with the requested columns and their formatted values (QRY-7).
pub fn retrieve(
    org: &Organization,
    store: &Store,
    target: &EntityReference,
    columns: &ColumnSet,
) -> Result<Entity, Fault> {
    let table = org.require_table(&target.logical_name)?;
    check_columns(table, columns)?;
    let record = store.get(&table.logical_name, target.id).ok_or_else(|| not_found(&table.logical_name, target.id))?;
    let mut out = project(table, record, columns);
    Formatter::new(org, store).add(table, record, "", &mut out);
    Ok(out)
}

pub fn not_found(table: &str, id: Uuid) -> Fault {
    Fault::new(codes::OBJECT_DOES_NOT_EXIST, format!("{table} With Id = {id} Does Not Exist"))
}

pub fn retrieve_multiple(
    org: &Organization,
    store: &Store,
    query: &Query,
    caller: &Caller,
) -> Result<EntityCollection, Fault> {
    let parsed;
    let mut aliased: &[fetchxml::AliasedColumn] = &[];
    let mut aggregated = None;
    let q = match query {
        Query::Expression(q) => q,
        Query::FetchXml(text) => {
            parsed = fetchxml::parse_fetch(text)?;
            aliased = &parsed.aliased;
            aggregated = parsed.aggregate.as_ref();
            &parsed.query
        }
        // QRY-8: an `eq` (or `null`) condition per column.
        Query::ByAttribute(b) => {
            parsed = fetchxml::Fetch { query: b.to_expression()?, ..fetchxml::Fetch::default() };
            &parsed.query
        }
    };
    let plan = Plan::new(org, store, q, aliased, caller)?;
    if let Some(spec) = aggregated {
        let limit = org.settings.aggregate_query_record_limit;
        let (entities, more_records) =
            aggregate::run(&plan, store, caller, q, spec, limit, &Formatter::new(org, store))?;
        return Ok(EntityCollection {
            entity_name: q.entity_name.clone(),
            entities,
            more_records,
            paging_cookie: None,
            total_record_count: -1,
            total_record_count_limit_exceeded: false,
        });
    }
    let window = Window::of(&plan, q)?;
    let counting = q.page_info.as_ref().is_some_and(|p| p.return_total_record_count);
    let mut collector = Collector::new(&plan, &window, counting.then_some(TOTAL_COUNT_LIMIT));
    // Without orders rows stream in the order of their ids, root first: a cookie's row says where to start
    // (unless every row is to be counted).
    let from = if plan.orders.is_empty() && !counting { window.after().and_then(Key::root) } else { None };
    exec::run(&plan, store, caller, from, &mut |row| collector.push(row))?;
    let total = collector.total();
    let (entities, more_records, paging_cookie) = collector.finish(&window, &Formatter::new(org, store));
    // QRY-9: -1 when not asked; at most the limit, which says when it was passed.
    let (total_record_count, total_record_count_limit_exceeded) = match total {
        None => (-1, false),
        Some(n) => (i32::try_from(n.min(TOTAL_COUNT_LIMIT)).unwrap_or(i32::MAX), n > TOTAL_COUNT_LIMIT),
    };
    Ok(EntityCollection {
        entity_name: q.entity_name.clone(),
        entities,
        more_records,
        paging_cookie,
        total_record_count,
        total_record_count_limit_exceeded,
    })
}

#[cfg(test)]
mod tests;
