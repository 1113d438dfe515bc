//! The engine on small organizations: joins, paging, security, bad queries, and the costs a plug-in controls.

use std::path::Path;

use serde_json::json;
use xrm_model::PagingInfo;

use super::*;
use xrm_model::{
    ColumnSet, ConditionExpression, ConditionOperator as Op, JoinOperator, LinkEntity, OrderExpression,
    QueryExpression, Value,
};

fn calendar() -> Calendar {
    Calendar { now: chrono::Utc::now(), zone: chrono::Offset::fix(&chrono::Utc) }
}

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
    let account = |n: u128, name: &str| json!({ "@logicalname": "account", "@id": id(n).to_string(), "name": name });
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
    let caller = Caller { user: Uuid::nil(), business_unit: Uuid::nil(), readable, calendar: calendar() };
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
    Some(PagingInfo { page_number: number, count: 2, paging_cookie: cookie, return_total_record_count: false })
}

/// The total record count alone: no page asked for.
fn total_only() -> Option<PagingInfo> {
    Some(PagingInfo { return_total_record_count: true, ..PagingInfo::default() })
}

#[test]
fn qry_9_the_total_record_count_counts_readable_matches_up_to_5000() {
    let org = org();
    let mut store = org.data.clone();
    let hidden = |e: &Entity| e.id == Some(id(2));
    let mut q = sorted("account", "name");
    assert_eq!(run(&org, &store, &q, &|_| true).unwrap().total_record_count, -1, "not asked");
    q.page_info = total_only();
    let found = run(&org, &store, &q, &|e| !hidden(e)).unwrap();
    assert_eq!((found.entities.len(), found.total_record_count, found.more_records), (4, 4, false));
    assert!(found.paging_cookie.is_none(), "the total alone asks for no page");
    // With a page, unordered (the run would stop at the page): every row is still counted.
    let mut unordered = QueryExpression::new("account");
    unordered.page_info = page(1, None).map(|p| PagingInfo { return_total_record_count: true, ..p });
    let found = run(&org, &store, &unordered, &|_| true).unwrap();
    assert_eq!((found.entities.len(), found.total_record_count, found.more_records), (2, 5, true));
    unordered.page_info = page(2, found.paging_cookie).map(|p| PagingInfo { return_total_record_count: true, ..p });
    let found = run(&org, &store, &unordered, &|_| true).unwrap();
    assert_eq!((column(&found, "name"), found.total_record_count), (vec!["C".into(), "D".into()], 5));
    (100..5100).for_each(|n| store.put(account(n, "more")));
    let found = run(&org, &store, &unordered, &|_| true).unwrap();
    assert_eq!((found.total_record_count, found.total_record_count_limit_exceeded), (5000, true));
    q.top_count = Some(1);
    let fault = run(&org, &store, &q, &|_| true).unwrap_err();
    assert_eq!(fault.code, codes::INVALID_ARGUMENT);
    assert!(fault.message.contains("top count and a total record count"), "{fault}");
}

#[test]
fn qry_8_a_query_by_attribute_is_an_and_of_eq_conditions_null_for_a_null_value() {
    let org = org();
    let caller = Caller { user: Uuid::nil(), business_unit: Uuid::nil(), readable: &|_| true, calendar: calendar() };
    let by = |q: xrm_model::QueryByAttribute| retrieve_multiple(&org, &org.data, &Query::ByAttribute(q), &caller);
    let q =
        xrm_model::QueryByAttribute::new("contact").with_attribute_value("fullname", "Ben").with_columns(["fullname"]);
    assert_eq!(column(&by(q).unwrap(), "fullname"), ["Ben"]);
    let q = xrm_model::QueryByAttribute::new("contact")
        .with_attribute_value("parentcustomerid", Value::Null)
        .with_order("fullname", true);
    assert_eq!(column(&by(q).unwrap(), "fullname"), ["Cy"]);
    let q =
        xrm_model::QueryByAttribute::new("account").with_attribute_value("name", "A").with_attribute_value("name", "B");
    assert!(by(q).unwrap().entities.is_empty());
    let fault = by(xrm_model::QueryByAttribute::new("account")).unwrap_err();
    assert!(fault.message.contains("at least one attribute"), "{fault}");
    let mut q = xrm_model::QueryByAttribute::new("account").with_attribute_value("name", "A");
    q.values.push(Value::Null);
    assert_eq!(by(q).unwrap_err().code, codes::INVALID_ARGUMENT);
    let q = xrm_model::QueryByAttribute::new("account").with_attribute_value("nmae", "A");
    assert_eq!(by(q).unwrap_err().code, codes::UNKNOWN_ATTRIBUTE);
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

/// `n` tasks, for the costs a plug-in controls.
fn tasks(org: &Organization, n: u128) -> Store {
    let mut store = org.data.clone();
    for i in 0..n {
        let mut task = Entity::with_id("task", id(1000 + i));
        task.set("subject", format!("task {i}"));
        store.put(task);
    }
    store
}

fn self_join(alias: &str) -> LinkEntity {
    LinkEntity {
        link_from_attribute_name: "subject".into(),
        link_to_entity_name: "task".into(),
        link_to_attribute_name: "subject".into(),
        join_operator: JoinOperator::LeftOuter,
        entity_alias: Some(alias.into()),
        ..LinkEntity::default()
    }
}

#[test]
fn a_join_streams_and_stops_at_top() {
    // Issue 12: 200 tasks joined to all 200 twice (40,000 rows per task) with `top 1` must not build the
    // 8,000,000 joined rows before taking the first.
    let org = org();
    let store = tasks(&org, 200);
    let mut q = QueryExpression::new("task");
    let all = |alias: &str| {
        let mut link = self_join(alias);
        link.link_from_attribute_name = "statecode".into();
        link.link_to_attribute_name = "statecode".into();
        link
    };
    let mut store = store;
    for i in 0..200 {
        let mut task = Entity::clone(store.get("task", id(1000 + i)).unwrap());
        task.set("statecode", Value::Choice(0));
        store.put(task);
    }
    q.link_entities = vec![all("a"), all("b")];
    q.top_count = Some(1);
    let start = std::time::Instant::now();
    let found = run(&org, &store, &q, &|_| true).unwrap();
    assert_eq!(found.entities.len(), 1);
    assert!(start.elapsed() < std::time::Duration::from_secs(1), "{:?}", start.elapsed());
    // With an order every joined row is looked at, but only the best ones are kept: cut at the deadline here.
    q.orders = vec![OrderExpression { attribute_name: "subject".into(), descending: true, entity_name: None }];
    let _scope = crate::deadline::Scope::enter(std::time::Instant::now() + std::time::Duration::from_millis(200));
    let start = std::time::Instant::now();
    let fault = run(&org, &store, &q, &|_| true).unwrap_err();
    assert_eq!(fault.code, codes::PLUGIN_TIMEOUT);
    assert!(start.elapsed() < std::time::Duration::from_secs(2), "{:?}", start.elapsed());
}

#[test]
fn sibling_link_entities_cost_linear_time() {
    let org = org();
    let store = tasks(&org, 3);
    let mut q = QueryExpression::new("task");
    q.link_entities = (0..20_000).map(|i| self_join(&format!("t{i}"))).collect();
    q.top_count = Some(1);
    // Linear: about a second unoptimised (the 100,000 of issue 12 are measured in the benchmark, 12); quadratic,
    // as the alias checks were, it took minutes, and would be cut here by the deadline (the engine checks it).
    let _deadline = crate::deadline::Scope::enter(std::time::Instant::now() + std::time::Duration::from_secs(60));
    let found = run(&org, &store, &q, &|_| true).unwrap();
    assert_eq!(found.entities.len(), 1);
    // The same in FetchXML, aliases left to the default (`task<n>`).
    let links = "<link-entity name='task' from='subject' to='subject' link-type='outer'/>".repeat(20_000);
    let fetch = format!("<fetch top='1'><entity name='task'><attribute name='subject'/>{links}</entity></fetch>");
    let caller = Caller { user: Uuid::nil(), business_unit: Uuid::nil(), readable: &|_| true, calendar: calendar() };
    let found = retrieve_multiple(&org, &store, &Query::FetchXml(fetch), &caller).unwrap();
    assert_eq!(found.entities.len(), 1);
    // A duplicate alias among them is still found.
    q.link_entities[19_999].entity_alias = Some("t5".into());
    assert!(run(&org, &store, &q, &|_| true).unwrap_err().message.contains("The alias 't5'"));
}

#[test]
fn the_engine_stops_at_the_execution_deadline() {
    let org = org();
    let store = tasks(&org, 2_000);
    let _scope = crate::deadline::Scope::enter(std::time::Instant::now());
    // Joins and filters.
    let mut q = QueryExpression::new("task");
    q.criteria.conditions = vec![ConditionExpression {
        entity_name: None,
        attribute_name: "subject".into(),
        operator: Op::Like,
        values: vec!["%x%".into()],
    }];
    assert_eq!(run(&org, &store, &q, &|_| true).unwrap_err().code, codes::PLUGIN_TIMEOUT);
    // FetchXML reading.
    let fetch = format!("<fetch><entity name='task'>{}</entity></fetch>", "<attribute name='subject'/>".repeat(1000));
    assert_eq!(fetchxml::parse(&fetch).unwrap_err().code, codes::PLUGIN_TIMEOUT);
}

#[test]
fn an_equality_on_an_indexed_lookup_reads_only_the_matching_rows() {
    let org = org();
    let mut q = sorted("contact", "fullname");
    q.criteria.conditions = vec![ConditionExpression {
        entity_name: None,
        attribute_name: "parentcustomerid".into(),
        operator: Op::In,
        values: vec![Value::Guid(id(2)), Value::Guid(id(1))],
    }];
    let read = std::cell::Cell::new(0);
    let counting = |_: &Entity| {
        read.set(read.get() + 1);
        true
    };
    assert_eq!(column(&run(&org, &org.data, &q, &counting).unwrap(), "fullname"), ["Ann", "Ben"]);
    assert_eq!(read.get(), 2, "only the two matching contacts are read");
    // The primary key too, and a link-entity joined on it.
    let mut q = QueryExpression::new("contact");
    q.criteria.conditions = vec![ConditionExpression {
        entity_name: None,
        attribute_name: "contactid".into(),
        operator: Op::Equal,
        values: vec![Value::Guid(id(12))],
    }];
    q.link_entities = vec![link("parentcustomerid", "account", "accountid", "a", false)];
    read.set(0);
    let found = run(&org, &org.data, &q, &counting).unwrap();
    assert_eq!((column(&found, "a.name"), read.get()), (vec!["B".into()], 2));
}

#[test]
fn qry_10_a_link_entitys_columns_come_back_as_aliased_values_under_alias_dot_column() {
    let org = org();
    let mut q = sorted("contact", "fullname");
    q.column_set = ColumnSet::Columns(vec!["fullname".into()]);
    q.link_entities = vec![link("parentcustomerid", "account", "accountid", "a", true)];
    let found = run(&org, &org.data, &q, &|_| true).unwrap();
    let ann = &found.entities[0];
    assert_eq!(ann.get("fullname"), Some(&Value::Text("Ann".into())), "the root's own columns stay plain");
    let want = xrm_model::AliasedValue::new("account", "name", Value::Text("A".into()));
    assert_eq!(ann.get("a.name"), Some(&Value::Aliased(want)));
    // Cy has no account: the outer join leaves the column out, as the platform does.
    assert_eq!(column(&found, "a.name"), ["A", "B", "-"]);
}

#[test]
fn qry_10_a_fetchxml_column_alias_returns_an_aliased_value_under_the_alias() {
    let org = org();
    let caller = Caller { user: Uuid::nil(), business_unit: Uuid::nil(), readable: &|_| true, calendar: calendar() };
    let fetch = |xml: &str| retrieve_multiple(&org, &org.data, &Query::FetchXml(xml.into()), &caller);
    let found = fetch(
        "<fetch><entity name='contact'><attribute name='fullname'/><attribute name='fullname' alias='who'/>
           <order attribute='fullname'/>
           <link-entity name='account' from='accountid' to='parentcustomerid' alias='a'>
             <attribute name='name' alias='company'/><attribute name='accountid'/>
           </link-entity></entity></fetch>",
    )
    .unwrap();
    let ann = &found.entities[0];
    let aliased =
        |table: &str, column: &str, v: Value| Some(Value::Aliased(xrm_model::AliasedValue::new(table, column, v)));
    assert_eq!(ann.get("who").cloned(), aliased("contact", "fullname", Value::Text("Ann".into())));
    assert_eq!(ann.get("company").cloned(), aliased("account", "name", Value::Text("A".into())));
    assert_eq!(ann.get("a.accountid").cloned(), aliased("account", "accountid", Value::Guid(id(1))));
    assert_eq!(
        (ann.get("fullname").is_some(), ann.get("a.name")),
        (true, None),
        "an aliased column only under its alias"
    );
    let twice = "<fetch><entity name='contact'><attribute name='fullname' alias='x'/>
                   <link-entity name='account' from='accountid' to='parentcustomerid'><attribute name='name' alias='x'/></link-entity>
                 </entity></fetch>";
    let fault = fetch(twice).unwrap_err();
    assert_eq!(fault.code, codes::INVALID_ARGUMENT);
    assert!(fault.message.contains("'x' is used more than once"), "{fault}");
    let unknown = "<fetch><entity name='contact'><attribute name='nothing' alias='x'/></entity></fetch>";
    assert_eq!(fetch(unknown).unwrap_err().code, codes::UNKNOWN_ATTRIBUTE);
}
