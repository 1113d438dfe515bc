//! Aggregates over a small organization: groups, functions, nulls, security, the record limit.

use std::path::Path;

use serde_json::json;
use xrm_model::{EntityCollection, Query, Uuid};

use super::*;
use crate::org::Organization;
use crate::query::{Calendar, retrieve_multiple};

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// Accounts owned by two users: Alice's A (10 employees, $100.00, 2026-01-15), B (20, $50.50, 2026-02-01) and
/// C (no employees nor revenue, 2026-02-20); Bob's D (5, $10.00, 2025-12-31, city Paris) and E (5, no
/// revenue). `settings.aggregateQueryRecordLimit` is `limit`.
fn org(limit: u64) -> Organization {
    let owner = |n: u128| json!({ "@ref": "systemuser", "id": id(n).to_string() });
    let account = |n: u128, name: &str, user: u128, staff: Option<i32>, revenue: Option<&str>, created: &str| {
        let mut a = json!({ "@logicalname": "account", "@id": id(n).to_string(), "name": name, "ownerid": owner(user),
                            "createdon": { "@datetime": created } });
        if let Some(s) = staff {
            a["numberofemployees"] = json!(s);
        }
        if let Some(r) = revenue {
            a["revenue"] = json!({ "@money": r });
        }
        a
    };
    let mut records = vec![
        account(1, "A", 101, Some(10), Some("100.00"), "2026-01-15T10:00:00Z"),
        account(2, "B", 101, Some(20), Some("50.50"), "2026-02-01T10:00:00Z"),
        account(3, "C", 101, None, None, "2026-02-20T10:00:00Z"),
        account(4, "D", 102, Some(5), Some("10.00"), "2025-12-31T23:00:00Z"),
        account(5, "E", 102, Some(5), None, "2026-03-01T10:00:00Z"),
    ];
    records[3]["address1_city"] = json!("Paris");
    let file = json!({ "name": "agg", "settings": { "aggregateQueryRecordLimit": limit },
        "businessunits": [ { "@alias": "root", "name": "Root" } ],
        "users": [ { "@alias": "alice", "systemuserid": id(101).to_string(), "fullname": "Alice", "businessunit": "@root" },
                   { "@alias": "bob", "systemuserid": id(102).to_string(), "fullname": "Bob", "businessunit": "@root" } ],
        "records": records });
    Organization::from_json(Path::new("agg.json"), file).unwrap()
}

fn fetch(org: &Organization, readable: &dyn Fn(&Entity) -> bool, xml: &str) -> Result<EntityCollection, Fault> {
    let calendar = Calendar { now: chrono::Utc::now(), zone: chrono::Offset::fix(&chrono::Utc) };
    let caller = Caller { user: Uuid::nil(), business_unit: Uuid::nil(), readable, calendar };
    retrieve_multiple(org, &org.data, &Query::FetchXml(xml.into()), &caller)
}

fn aggregate(attributes: &str) -> String {
    format!("<fetch aggregate='true'><entity name='account'>{attributes}</entity></fetch>")
}

/// Each record's aliases as `alias=value`, the value as its text.
fn rows(found: &EntityCollection) -> Vec<String> {
    found
        .entities
        .iter()
        .map(|e| e.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn qry_6_one_record_per_group_with_each_function_over_the_groups_rows() {
    let org = org(100);
    let found = fetch(
        &org,
        &|_| true,
        &aggregate(
            "<attribute name='ownerid' alias='owner' groupby='true'/>
             <attribute name='accountid' alias='n' aggregate='count'/>
             <attribute name='revenue' alias='revenues' aggregate='countcolumn'/>
             <attribute name='numberofemployees' alias='sizes' aggregate='countcolumn' distinct='true'/>
             <attribute name='revenue' alias='total' aggregate='sum'/>
             <attribute name='revenue' alias='mean' aggregate='avg'/>
             <attribute name='numberofemployees' alias='staff' aggregate='sum'/>
             <attribute name='numberofemployees' alias='avgstaff' aggregate='avg'/>
             <attribute name='numberofemployees' alias='least' aggregate='min'/>
             <attribute name='createdon' alias='latest' aggregate='max'/>",
        ),
    )
    .unwrap();
    assert_eq!(
        rows(&found),
        [
            format!(
                "avgstaff=15 latest=2026-02-20T10:00:00Z least=10 mean=75.25 n=3 owner={} revenues=2 sizes=2 staff=30 total=150.50",
                id(101)
            ),
            format!(
                "avgstaff=5 latest=2026-03-01T10:00:00Z least=5 mean=10.00 n=2 owner={} revenues=1 sizes=1 staff=10 total=10.00",
                id(102)
            ),
        ]
    );
    let first = &found.entities[0];
    let typed = |alias: &str| first.get(alias).map(|v| (v.type_name(), v.unaliased().type_name()));
    assert_eq!(typed("n"), Some(("AliasedValue", "Integer")));
    assert_eq!(typed("total"), Some(("AliasedValue", "Money")));
    assert_eq!(typed("avgstaff"), Some(("AliasedValue", "Decimal")), "the mean of whole numbers is a decimal");
    assert_eq!(typed("owner"), Some(("AliasedValue", "Lookup")), "a group-by column keeps its own type");
    let Some(Value::Aliased(n)) = first.get("n") else { panic!("no count") };
    assert_eq!((n.entity_logical_name.as_str(), n.attribute_logical_name.as_str()), ("account", "accountid"));
}

#[test]
fn qry_6_without_group_by_one_record_even_over_no_rows_and_nulls_are_left_out() {
    let org = org(100);
    let xml = aggregate(
        "<attribute name='accountid' alias='n' aggregate='count'/><attribute name='revenue' alias='total' aggregate='sum'/>
         <filter><condition attribute='name' operator='eq' value='nobody'/></filter>",
    );
    assert_eq!(rows(&fetch(&org, &|_| true, &xml).unwrap()), ["n=0"]);
}

#[test]
fn qry_6_date_groupings_read_the_date_in_the_users_time_zone_and_orders_by_alias() {
    let org = org(100);
    let found = fetch(
        &org,
        &|_| true,
        &aggregate(
            "<attribute name='createdon' alias='year' groupby='true' dategrouping='year'/>
             <attribute name='createdon' alias='month' groupby='true' dategrouping='month'/>
             <attribute name='accountid' alias='n' aggregate='count'/>
             <order alias='n' descending='true'/>",
        ),
    )
    .unwrap();
    assert_eq!(
        rows(&found),
        ["month=2 n=2 year=2026", "month=12 n=1 year=2025", "month=1 n=1 year=2026", "month=3 n=1 year=2026"]
    );
    let parts = |grouping: DateGrouping, text: &str| {
        let t = xrm_model::json::parse_datetime(text).unwrap();
        grouping.part(t, chrono::Offset::fix(&chrono::Utc))
    };
    // 2026-01-01 is a Thursday: week 1 runs to Saturday the 3rd, Sunday the 4th begins week 2.
    assert_eq!(parts(DateGrouping::Week, "2026-01-03T12:00:00Z"), 1);
    assert_eq!(parts(DateGrouping::Week, "2026-01-04T12:00:00Z"), 2);
    assert_eq!(parts(DateGrouping::Quarter, "2026-05-04T12:00:00Z"), 2);
    assert_eq!(parts(DateGrouping::Day, "2026-05-04T12:00:00Z"), 4);
    let tz = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
    let t = xrm_model::json::parse_datetime("2025-12-31T23:00:00Z").unwrap();
    assert_eq!(DateGrouping::Year.part(t, tz), 2026, "in the users' zone it is already 2026");
}

#[test]
fn qry_6_sec_6_rows_the_caller_may_not_read_are_left_out_before_aggregating() {
    let org = org(100);
    let alice_only = |e: &Entity| matches!(e.get("ownerid"), Some(Value::Lookup(r)) if r.id == id(101));
    let xml = aggregate(
        "<attribute name='accountid' alias='n' aggregate='count'/><attribute name='revenue' alias='total' aggregate='sum'/>",
    );
    assert_eq!(rows(&fetch(&org, &alice_only, &xml).unwrap()), ["n=3 total=150.50"]);
}

#[test]
fn qry_6_an_aggregate_reading_more_rows_than_the_limit_fails_with_0x8004e023() {
    let xml = aggregate("<attribute name='accountid' alias='n' aggregate='count'/>");
    assert_eq!(rows(&fetch(&org(5), &|_| true, &xml).unwrap()), ["n=5"]);
    let fault = fetch(&org(4), &|_| true, &xml).unwrap_err();
    assert_eq!((fault.code, fault.message.as_str()), (codes::AGGREGATE_QUERY_RECORD_LIMIT, LIMIT_EXCEEDED));
}

#[test]
fn qry_6_a_function_that_does_not_fit_its_column_is_refused() {
    let org = org(100);
    let fault = fetch(&org, &|_| true, &aggregate("<attribute name='name' alias='x' aggregate='sum'/>")).unwrap_err();
    assert_eq!(fault.code, codes::INVALID_ARGUMENT);
    assert!(fault.message.contains("the aggregate 'sum' does not apply"), "{fault}");
    let fault =
        fetch(&org, &|_| true, &aggregate("<attribute name='name' alias='x' groupby='true' dategrouping='year'/>"))
            .unwrap_err();
    assert!(fault.message.contains("a dategrouping does not apply"), "{fault}");
}

#[test]
fn qry_6_values_that_compare_equal_group_together_text_without_regard_to_case() {
    let mut org = org(100);
    let mut shouted = Entity::with_id("account", id(6));
    shouted.set("name", "F").set("address1_city", "PARIS");
    shouted.set("ownerid", Value::Lookup(xrm_model::EntityReference::new("systemuser", id(102))));
    org.data.put(shouted);
    let found = fetch(
        &org,
        &|_| true,
        &aggregate(
            "<attribute name='address1_city' alias='city' groupby='true'/>
             <attribute name='accountid' alias='n' aggregate='count'/>",
        ),
    )
    .unwrap();
    // The first row's spelling names the group; the empty city groups the other four rows.
    assert_eq!(rows(&found), ["n=4", "city=Paris n=2"]);
}
