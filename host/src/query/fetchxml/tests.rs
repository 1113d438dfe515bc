//! Reading FetchXML into the model.

use super::*;
use crate::query::aggregate::{Aggregate, DateGrouping, Function, Kind};

#[test]
fn reads_fetchxml_into_the_query_model() {
    let q = parse(
        "<?xml version='1.0'?><!-- a view --><fetch top='3' distinct='true' xmlns:x='urn:x'><entity name='contact'>
           <attribute name='fullname'/><order attribute='fullname' descending='true'/>
           <filter type='or'>
             <condition attribute='lastname' operator='in'><value>A &amp; B</value><value>&#67;<![CDATA[<d>]]></value></condition>
             <condition attribute='jobtitle' operator='null' uiname='hint'/>
           </filter>
           <link-entity name='account' from='accountid' to='parentcustomerid' link-type='outer'>
             <attribute name='name'/><order attribute='name'/>
             <link-entity name='systemuser' from='systemuserid' to='ownerid' alias='u'/>
           </link-entity>
         </entity></fetch>",
    )
    .unwrap();
    assert_eq!((q.entity_name.as_str(), q.top_count, q.distinct), ("contact", Some(3), true));
    assert_eq!(q.column_set, ColumnSet::Columns(vec!["fullname".into()]));
    assert_eq!(q.criteria.filter_operator, LogicalOperator::Or);
    assert_eq!(q.criteria.conditions[0].values, [Value::from("A & B"), Value::from("C<d>")]);
    assert_eq!(q.criteria.conditions[1].operator, ConditionOperator::Null);
    let link = &q.link_entities[0];
    assert_eq!(
        (link.link_from_attribute_name.as_str(), link.link_to_attribute_name.as_str()),
        ("parentcustomerid", "accountid")
    );
    assert_eq!((link.entity_alias.as_deref(), link.join_operator), (Some("account1"), JoinOperator::LeftOuter));
    assert_eq!(link.link_entities[0].entity_alias.as_deref(), Some("u"));
    assert_eq!(link.link_entities[0].columns, ColumnSet::Columns(Vec::new()));
    // The link-entity's order comes after the entity's, naming the link-entity's (default) alias.
    let orders: Vec<_> =
        q.orders.iter().map(|o| (o.attribute_name.as_str(), o.descending, o.entity_name.as_deref())).collect();
    assert_eq!(orders, [("fullname", true, None), ("name", false, Some("account1"))]);
}

#[test]
fn paging_attributes_become_paging_info() {
    let q = parse("<fetch count='10' page='2' paging-cookie='c'><entity name='account'/></fetch>").unwrap();
    assert_eq!(
        q.page_info,
        Some(PagingInfo { page_number: 2, count: 10, paging_cookie: Some("c".into()), ..PagingInfo::default() })
    );
    assert_eq!(q.column_set, ColumnSet::AllColumns);
}

#[test]
fn entity_name_reads_only_as_far_as_the_entity() {
    assert_eq!(entity_name("<fetch><entity name='account'><broken"), Some("account".into()));
    assert_eq!(entity_name("<fetch/>"), None);
    assert_eq!(entity_name("not xml <"), None);
}

#[test]
fn faults_say_what_is_wrong_and_where() {
    let entity = |inner: &str| format!("<fetch><entity name='account'>{inner}</entity></fetch>");
    for (fetch, wanted) in [
        (String::new(), "there is no <fetch> element"),
        ("<fetch><entity name='account'>".into(), "<entity> at byte 7 is never closed"),
        ("<fetch/><fetch/>".into(), "a second top-level element <fetch> at byte 8"),
        ("<entity name='account'/>".into(), "must be a <fetch> element"),
        ("<fetch><entity name='a'/><entity name='b'/></fetch>".into(), "exactly one <entity>"),
        ("<fetch top='x'><entity name='a'/></fetch>".into(), "'top' on <fetch> at byte 0 must be a whole number"),
        ("<fetch top='1' count='2'><entity name='a'/></fetch>".into(), "'top' can't be used with 'count'"),
        (entity("text"), "unexpected text inside <entity> at byte 7"),
        (entity("<attribute name='a' name='b'/>"), "a bad attribute in <attribute> at byte 30"),
        (entity("<filter type='xor'/>"), "unknown filter type 'xor'"),
        (
            entity("<filter><condition attribute='a' operator='equals'/></filter>"),
            "unknown condition operator 'equals'",
        ),
        (
            entity("<filter><condition attribute='a' operator='in' value='1'><value>2</value></condition></filter>"),
            "both",
        ),
        (
            entity("<filter><condition attribute='a' operator='eq'><value>&nope;</value></condition></filter>"),
            "unknown entity reference at byte 84",
        ),
        (
            entity("<filter><link-entity name='contact' from='a' to='b'/></filter>"),
            "link-type 'inner' on <link-entity> at byte 38 inside a <filter>: use any, not any, all or not all",
        ),
        (entity("<link-entity name='contact' from='a' to='b' link-type='sideways'/>"), "unknown link-type 'sideways'"),
        (entity("<link-entity name='contact' from='a'/>"), "<link-entity> at byte 30 needs the attribute 'to'"),
        (
            entity("<order attribute='a' alias='x'/>"),
            "the attribute 'alias' outside an aggregate query (in <order> at byte 30) is not supported yet",
        ),
        (
            entity("<attribute name='a' aggregate='count' alias='n'/>"),
            "'aggregate' on <attribute> at byte 30 belongs in an aggregate query",
        ),
        (entity("<attribute name='a' alias=''/>"), "'alias' on <attribute> at byte 30 must not be empty"),
        (
            "<fetch top='2' returntotalrecordcount='true'><entity name='a'/></fetch>".into(),
            "A query can't have both a top count and a total record count",
        ),
        ("<filter>".repeat(100_000), "nest deeper than 64 levels at byte 512"),
    ] {
        let fault = parse(&fetch).unwrap_err();
        assert_eq!(fault.code, codes::INVALID_ARGUMENT, "{fetch}");
        assert!(fault.message.contains(wanted), "{fetch}: {}", fault.message);
    }
}

fn aggregate_of(fetch: &str) -> Result<Aggregate, Fault> {
    parse_fetch(fetch).map(|f| f.aggregate.unwrap_or_default())
}

#[test]
fn qry_6_an_aggregate_query_reads_its_functions_group_bys_and_orders_by_alias() {
    let a = aggregate_of(
        "<fetch aggregate='true'><entity name='account'>
           <attribute name='ownerid' alias='owner' groupby='true'/>
           <attribute name='createdon' alias='year' groupby='true' dategrouping='year'/>
           <attribute name='accountid' alias='n' aggregate='count'/>
           <attribute name='address1_city' alias='cities' aggregate='countcolumn' distinct='true'/>
           <order alias='n' descending='true'/>
           <link-entity name='contact' from='parentcustomerid' to='accountid' alias='c' link-type='outer'>
             <attribute name='numberofchildren' alias='kids' aggregate='sum'/>
           </link-entity></entity></fetch>",
    )
    .unwrap();
    let kinds: Vec<_> =
        a.columns.iter().map(|c| (c.entity.as_deref(), c.column.as_str(), c.alias.as_str(), c.kind)).collect();
    assert_eq!(
        kinds,
        [
            (None, "ownerid", "owner", Kind::GroupBy(None)),
            (None, "createdon", "year", Kind::GroupBy(Some(DateGrouping::Year))),
            (None, "accountid", "n", Kind::Aggregate { function: Function::Count, distinct: false }),
            (None, "address1_city", "cities", Kind::Aggregate { function: Function::CountColumn, distinct: true }),
            (Some("c"), "numberofchildren", "kids", Kind::Aggregate { function: Function::Sum, distinct: false }),
        ]
    );
    assert_eq!(a.orders, [("n".to_owned(), true)]);
}

#[test]
fn qry_6_an_aggregate_query_refuses_what_it_can_not_run() {
    let agg = |inner: &str| format!("<fetch aggregate='true'><entity name='account'>{inner}</entity></fetch>");
    for (fetch, wanted) in [
        (agg("<attribute name='a' aggregate='count'/>"), "needs an 'alias'"),
        (agg("<attribute name='a' alias='x'/>"), "needs an 'aggregate' or groupby"),
        (agg("<attribute name='a' alias='x' aggregate='median'/>"), "unknown aggregate 'median'"),
        (agg("<attribute name='a' alias='x' aggregate='sum' distinct='true'/>"), "'distinct' on <attribute>"),
        (agg("<attribute name='a' alias='x' aggregate='sum' groupby='true'/>"), "both 'aggregate' and 'groupby'"),
        (
            agg("<attribute name='a' alias='x' groupby='true' dategrouping='fiscal-period'/>"),
            "the dategrouping 'fiscal-period'",
        ),
        (agg("<attribute name='a' alias='x' groupby='true' dategrouping='decade'/>"), "unknown dategrouping 'decade'"),
        (agg("<attribute name='a' alias='x' aggregate='max' dategrouping='year'/>"), "needs groupby"),
        (agg("<all-attributes/>"), "in an aggregate query"),
        (agg("<attribute name='a' alias='x' aggregate='count'/><order attribute='a'/>"), "orders by an 'alias'"),
        (agg(""), "has no <attribute> with an aggregate"),
    ] {
        let fault = aggregate_of(&fetch).unwrap_err();
        assert_eq!(fault.code, codes::INVALID_ARGUMENT, "{fetch}");
        assert!(fault.message.contains(wanted), "{fetch}: {}", fault.message);
    }
}
