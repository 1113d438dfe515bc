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

pub mod fetchxml;
mod filter;
mod like;
mod plan;
pub mod values;

use std::collections::HashSet;

use xrm_model::{ColumnSet, Entity, EntityCollection, EntityReference, Fault, Query, Uuid, codes};

use crate::org::{Organization, Table};
use crate::store::Store;
pub use filter::compare;
use plan::{Key, Plan, Row};

/// Who runs the query: the user `eq-userid` and `eq-businessid` stand for, and which rows they may read.
pub struct Caller<'a> {
    pub user: Uuid,
    pub business_unit: Uuid,
    /// Whether the caller may read a row (SEC-6): rows it may not read are left out, never an error.
    pub readable: &'a dyn Fn(&Entity) -> bool,
}

/// The platform's page size when a query asks for none.
const DEFAULT_PAGE: u32 = 5000;

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
    let mut out = Entity { logical_name: record.logical_name.clone(), id: record.id, attributes: Default::default() };
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

/// Retrieve: one record by id, with the requested columns.
pub fn retrieve(
    org: &Organization,
    store: &Store,
    target: &EntityReference,
    columns: &ColumnSet,
) -> Result<Entity, Fault> {
    let table = org.require_table(&target.logical_name)?;
    check_columns(table, columns)?;
    let record = store.get(&table.logical_name, target.id).ok_or_else(|| not_found(&table.logical_name, target.id))?;
    Ok(project(table, record, columns))
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
    let q = match query {
        Query::Expression(q) => q,
        Query::FetchXml(text) => {
            parsed = fetchxml::parse(text)?;
            &parsed
        }
    };
    let plan = Plan::new(org, q)?;
    let window = plan.window(q)?;
    let mut rows = plan.join(store, caller);
    rows.retain(|row| plan.criteria.matches(row, caller));
    let mut keyed: Vec<(Key, Row)> = rows.into_iter().map(|row| (plan.key(&row), row)).collect();
    keyed.sort_by(|a, b| plan.cmp_keys(&a.0, &b.0));
    let mut found: Vec<(Key, Entity)> = keyed.into_iter().map(|(key, row)| (key, plan.project(&row))).collect();
    if q.distinct {
        let mut seen = HashSet::new();
        // Rows are compared as returned; the debug text of a BTreeMap is a canonical form of it.
        found.retain(|(_, e)| seen.insert(format!("{:?}", e.attributes)));
    }
    let (entities, more_records, paging_cookie) = plan.page(window, found);
    Ok(EntityCollection { entity_name: q.entity_name.clone(), entities, more_records, paging_cookie })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;
    use xrm_model::PagingInfo;

    use super::*;
    use xrm_model::{
        ColumnSet, ConditionExpression, ConditionOperator as Op, JoinOperator, LinkEntity, OrderExpression,
        QueryExpression, Value,
    };

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn account(n: u128, name: &str) -> Entity {
        let mut e = Entity::with_id("account", id(n));
        e.set("name", name);
        e
    }

    /// Accounts 1..=5 named A..E (B's parent is A); contacts Ann (of A), Ben (of B) and Cy (of none).
    fn org() -> Organization {
        let account =
            |n: u128, name: &str| json!({ "@logicalname": "account", "@id": id(n).to_string(), "name": name });
        let mut records: Vec<_> = ["A", "B", "C", "D", "E"].iter().zip(1..).map(|(name, n)| account(n, name)).collect();
        records[1]["parentaccountid"] = json!({ "@ref": "account", "id": id(1).to_string() });
        for (n, name, parent) in [(11, "Ann", Some(1)), (12, "Ben", Some(2)), (13, "Cy", None)] {
            let mut c = json!({ "@logicalname": "contact", "@id": id(n).to_string(), "fullname": name });
            if let Some(p) = parent {
                c["parentcustomerid"] = json!({ "@ref": "account", "id": id(p).to_string() });
            }
            records.push(c);
        }
        let file = json!({ "name": "q", "businessunits": [ { "@alias": "root", "name": "Root" } ],
                           "users": [ { "@alias": "u", "businessunit": "@root" } ], "records": records });
        Organization::from_json(Path::new("q.json"), file).unwrap()
    }

    fn run(
        org: &Organization,
        store: &Store,
        q: &QueryExpression,
        readable: &dyn Fn(&Entity) -> bool,
    ) -> Result<EntityCollection, Fault> {
        let caller = Caller { user: Uuid::nil(), business_unit: Uuid::nil(), readable };
        retrieve_multiple(org, store, &Query::Expression(q.clone()), &caller)
    }

    /// Each row's `column` as text, `-` where it is absent.
    fn column(found: &EntityCollection, column: &str) -> Vec<String> {
        found.entities.iter().map(|e| e.get(column).map_or("-".into(), Value::to_string)).collect()
    }

    fn sorted(table: &str, by: &str) -> QueryExpression {
        let mut q = QueryExpression::new(table);
        q.orders = vec![OrderExpression { attribute_name: by.into(), descending: false, entity_name: None }];
        q
    }

    fn link(from: &str, table: &str, to: &str, alias: &str, outer: bool) -> LinkEntity {
        LinkEntity {
            link_from_attribute_name: from.into(),
            link_to_entity_name: table.into(),
            link_to_attribute_name: to.into(),
            join_operator: if outer { JoinOperator::LeftOuter } else { JoinOperator::Inner },
            entity_alias: Some(alias.into()),
            columns: ColumnSet::Columns(vec!["name".into()]),
            ..LinkEntity::default()
        }
    }

    fn page(number: u32, cookie: Option<String>) -> Option<PagingInfo> {
        Some(PagingInfo { page_number: number, count: 2, paging_cookie: cookie })
    }

    #[test]
    fn a_paging_cookie_continues_after_the_last_row_even_when_rows_arrive_before_it() {
        let org = org();
        let mut store = org.data.clone();
        let mut q = sorted("account", "name");
        q.page_info = page(1, None);
        let first = run(&org, &store, &q, &|_| true).unwrap();
        assert_eq!((column(&first, "name"), first.more_records), (vec!["A".into(), "B".into()], true));
        store.put(account(9, "AA"));
        q.page_info = page(2, first.paging_cookie.clone());
        let second = run(&org, &store, &q, &|_| true).unwrap();
        assert_eq!((column(&second, "name"), second.more_records), (vec!["C".into(), "D".into()], true));
        q.page_info = page(3, second.paging_cookie);
        let third = run(&org, &store, &q, &|_| true).unwrap();
        assert_eq!((column(&third, "name"), third.more_records), (vec!["E".into()], false));
        // The page number decides without a cookie, or with the cookie of another page.
        q.page_info = page(3, first.paging_cookie.clone());
        assert_eq!(column(&run(&org, &store, &q, &|_| true).unwrap(), "name"), ["D", "E"]);
        // A cookie of another query, or not a cookie at all, is refused.
        q.orders[0].descending = true;
        q.page_info = page(2, first.paging_cookie);
        assert_eq!(run(&org, &store, &q, &|_| true).unwrap_err().code, codes::INVALID_ARGUMENT);
        q.page_info = page(2, Some("<cookie page='1'/>".into()));
        assert_eq!(run(&org, &store, &q, &|_| true).unwrap_err().code, codes::INVALID_ARGUMENT);
    }

    #[test]
    fn without_paging_a_query_returns_the_platform_page_of_5000_and_says_more_follow() {
        let org = org();
        let mut store = org.data.clone();
        (100..5100).for_each(|n| store.put(account(n, "more")));
        let found = run(&org, &store, &QueryExpression::new("account"), &|_| true).unwrap();
        assert_eq!((found.entities.len(), found.more_records), (5000, true));
        assert!(found.paging_cookie.is_some());
    }

    #[test]
    fn an_outer_join_leaves_linked_columns_empty_and_an_inner_join_under_it_drops_the_row() {
        let org = org();
        let mut q = sorted("contact", "fullname");
        q.link_entities = vec![link("parentcustomerid", "account", "accountid", "a", true)];
        let found = run(&org, &org.data, &q, &|_| true).unwrap();
        assert_eq!(column(&found, "fullname"), ["Ann", "Ben", "Cy"]);
        assert_eq!(column(&found, "a.name"), ["A", "B", "-"]);
        // SQL's left-to-right joins: the inner join to a parent account drops Ann (A has none) and Cy.
        q.link_entities[0].link_entities = vec![link("parentaccountid", "account", "accountid", "p", false)];
        let found = run(&org, &org.data, &q, &|_| true).unwrap();
        assert_eq!((column(&found, "fullname"), column(&found, "p.name")), (vec!["Ben".into()], vec!["A".into()]));
    }

    #[test]
    fn rows_the_caller_may_not_read_are_left_out_linked_rows_too() {
        let org = org();
        let hidden = |e: &Entity| e.id == Some(id(2)) || e.id == Some(id(13));
        let readable = |e: &Entity| !hidden(e);
        let accounts = run(&org, &org.data, &sorted("account", "name"), &readable).unwrap();
        assert_eq!(column(&accounts, "name"), ["A", "C", "D", "E"]);
        let mut q = sorted("contact", "fullname");
        q.link_entities = vec![link("parentcustomerid", "account", "accountid", "a", false)];
        assert_eq!(column(&run(&org, &org.data, &q, &readable).unwrap(), "fullname"), ["Ann"]);
        q.link_entities[0].join_operator = JoinOperator::LeftOuter;
        let found = run(&org, &org.data, &q, &readable).unwrap();
        assert_eq!(
            (column(&found, "fullname"), column(&found, "a.name")),
            (vec!["Ann".into(), "Ben".into()], vec!["A".into(), "-".into()])
        );
    }

    #[test]
    fn a_bad_query_fails_before_any_row_is_read() {
        let org = org();
        let mut q = sorted("account", "name");
        q.top_count = Some(1);
        q.page_info = page(2, None);
        let fault = run(&org, &org.data, &q, &|_| true).unwrap_err();
        assert!(fault.message.contains("top count and paging"), "{fault}");
        let mut q = QueryExpression::new("account");
        let condition =
            |op, values| ConditionExpression { entity_name: None, attribute_name: "name".into(), operator: op, values };
        for (c, wanted) in [
            (condition(Op::Equal, vec![Value::Null]), "Use 'Null' or 'NotNull'"),
            (condition(Op::In, vec![]), "takes one or more values"),
            (condition(Op::Null, vec!["x".into()]), "takes no value"),
        ] {
            q.criteria.conditions = vec![c];
            let fault = run(&org, &org.data, &q, &|_| true).unwrap_err();
            assert!(fault.code == codes::INVALID_ARGUMENT && fault.message.contains(wanted), "{fault}");
        }
        let mut q = QueryExpression::new("contact");
        q.link_entities = vec![
            link("parentcustomerid", "account", "accountid", "a", false),
            link("parentcustomerid", "account", "accountid", "a", true),
        ];
        assert!(run(&org, &org.data, &q, &|_| true).unwrap_err().message.contains("The alias 'a' names more than one"));
    }
}
