use std::collections::BTreeMap;

use chrono::DateTime;
use xrm_model::{
    ColumnSet, ConditionExpression, ConditionOperator, Entity, EntityCollection, EntityReference,
    ExecuteMultipleResponseItem, ExecuteMultipleSettings, Fault, FilterExpression, JoinOperator, LinkEntity,
    LogicalOperator, OrderExpression, PagingInfo, ParameterValue, PrincipalAccess, Query, QueryExpression, Request,
    Response, Uuid, Value,
};

use super::{from_wit, to_wit};
use crate::bindings::xrm::plugin::types as wit;

fn condition(attribute: &str, operator: ConditionOperator, values: Vec<Value>) -> ConditionExpression {
    ConditionExpression { entity_name: None, attribute_name: attribute.into(), operator, values }
}

fn filter(
    op: LogicalOperator,
    conditions: Vec<ConditionExpression>,
    filters: Vec<FilterExpression>,
) -> FilterExpression {
    FilterExpression { filter_operator: op, conditions, filters }
}

#[test]
fn guid_halves_are_big_endian_bytes() {
    let id = Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap();
    let g = to_wit::guid(id);
    assert_eq!(g.high, 0x0011_2233_4455_6677);
    assert_eq!(g.low, 0x8899_aabb_ccdd_eeff);
    assert_eq!(from_wit::uuid(g), id);
    assert_eq!(to_wit::guid(Uuid::nil()), wit::Guid { high: 0, low: 0 });
    assert_eq!(to_wit::guid(Uuid::max()), wit::Guid { high: u64::MAX, low: u64::MAX });
}

#[test]
fn datetimes_keep_nanoseconds() {
    let t = DateTime::from_timestamp(1_795_255_200, 123_456_789).unwrap();
    let w = to_wit::datetime(&t);
    assert_eq!(w, wit::Datetime { seconds: 1_795_255_200, nanoseconds: 123_456_789 });
    assert_eq!(from_wit::datetime(w), t);
    let before_epoch = DateTime::from_timestamp(-5, 0).unwrap();
    assert_eq!(from_wit::datetime(to_wit::datetime(&before_epoch)), before_epoch);
    assert_eq!(from_wit::datetime(wit::Datetime { seconds: i64::MAX, nanoseconds: 0 }), DateTime::UNIX_EPOCH);
}

#[test]
fn every_value_round_trips() {
    let id = Uuid::from_u128(0x1234);
    let values = [
        Value::Null,
        Value::Text("Contoso".into()),
        Value::Integer(-7),
        Value::BigInt(5_000_000_000),
        Value::Double(4.5),
        Value::Boolean(true),
        Value::Decimal("12.3400".into()),
        Value::Money("12.50".into()),
        Value::DateTime(DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
        Value::Guid(id),
        Value::Choice(3),
        Value::Choices(vec![1, 3]),
        Value::Lookup(EntityReference { name: Some("Contoso".into()), ..EntityReference::new("account", id) }),
        Value::Lookup(EntityReference::with_keys("account", [("accountnumber".to_owned(), Value::from("A-1"))].into())),
    ];
    for v in values {
        assert_eq!(from_wit::value(to_wit::value(&v)), v);
    }
    assert_eq!(to_wit::value(&Value::BigInt(1)), wit::Value::Bigint(1));
    assert_eq!(to_wit::value(&Value::Money("1.00".into())), wit::Value::Money("1.00".into()));
}

#[test]
fn entities_carry_id_and_columns() {
    let mut account = Entity::with_id("account", Uuid::from_u128(9));
    account.set("name", "Contoso").set("revenue", Value::Money("10.00".into()));
    let w = to_wit::entity(&account);
    assert_eq!(w.logical_name, "account");
    assert_eq!(w.id, Some(wit::Guid { high: 0, low: 9 }));
    let names: Vec<&str> = w.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["name", "revenue"]);
    assert_eq!(from_wit::entity(w), account);
    assert_eq!(from_wit::entity(to_wit::entity(&Entity::new("task"))).id, None);
}

#[test]
fn a_column_listed_twice_keeps_its_last_value() {
    let w = wit::Entity {
        logical_name: "account".into(),
        id: None,
        key_attributes: Vec::new(),
        attributes: vec![
            wit::Attribute { name: "name".into(), value: wit::Value::Text("first".into()) },
            wit::Attribute { name: "name".into(), value: wit::Value::Text("last".into()) },
        ],
        formatted_values: Vec::new(),
    };
    assert_eq!(from_wit::entity(w).get("name"), Some(&Value::Text("last".into())));
}

/// QRY-7: the formatted values a record comes with cross the interface, and `formatted_value` reads them.
#[test]
fn formatted_values_cross_the_interface() {
    let mut account = Entity::with_id("account", Uuid::from_u128(9));
    account.set("statecode", Value::Choice(0));
    account.formatted_values.insert("statecode".into(), "Active".into());
    let back = from_wit::entity(to_wit::entity(&account));
    assert_eq!(back.formatted_value("statecode"), Some("Active"));
    assert_eq!(back.formatted_value("name"), None);
    assert_eq!(back, account);
}

fn nested_query() -> QueryExpression {
    let mut q = QueryExpression::new("account");
    q.column_set = ColumnSet::Columns(vec!["name".into()]);
    q.criteria = filter(
        LogicalOperator::Or,
        vec![condition("name", ConditionOperator::BeginsWith, vec!["Con".into()])],
        vec![
            filter(
                LogicalOperator::And,
                vec![condition("revenue", ConditionOperator::GreaterThan, vec![Value::Money("5".into())])],
                vec![filter(
                    LogicalOperator::Or,
                    vec![condition("statecode", ConditionOperator::Null, vec![])],
                    vec![],
                )],
            ),
            filter(
                LogicalOperator::And,
                vec![condition("numberofemployees", ConditionOperator::In, vec![1.into(), 2.into()])],
                vec![],
            ),
        ],
    );
    let owner = LinkEntity {
        link_from_attribute_name: "owninguser".into(),
        link_to_entity_name: "systemuser".into(),
        link_to_attribute_name: "systemuserid".into(),
        join_operator: JoinOperator::Inner,
        entity_alias: Some("owner".into()),
        columns: ColumnSet::Columns(vec!["fullname".into()]),
        link_criteria: filter(
            LogicalOperator::And,
            vec![condition("isdisabled", ConditionOperator::Equal, vec![false.into()])],
            vec![],
        ),
        link_entities: vec![LinkEntity {
            link_from_attribute_name: "businessunitid".into(),
            link_to_entity_name: "businessunit".into(),
            link_to_attribute_name: "businessunitid".into(),
            entity_alias: Some("bu".into()),
            ..LinkEntity::default()
        }],
    };
    let contact = LinkEntity {
        link_from_attribute_name: "primarycontactid".into(),
        link_to_entity_name: "contact".into(),
        link_to_attribute_name: "contactid".into(),
        join_operator: JoinOperator::LeftOuter,
        entity_alias: Some("c".into()),
        ..LinkEntity::default()
    };
    q.link_entities = vec![owner, contact];
    q.orders = vec![OrderExpression {
        attribute_name: "fullname".into(),
        descending: true,
        entity_name: Some("owner".into()),
    }];
    q.top_count = Some(50);
    q.page_info = Some(PagingInfo {
        page_number: 2,
        count: 25,
        paging_cookie: Some("cookie".into()),
        return_total_record_count: true,
    });
    q.distinct = true;
    q
}

#[test]
fn query_filters_flatten_parents_first() {
    let w = to_wit::query_expression(&nested_query());
    assert_eq!(w.criteria, Some(0));
    let shape: Vec<(usize, Vec<u32>)> = w.filters.iter().map(|f| (f.conditions.len(), f.filters.clone())).collect();
    // criteria (0) → [1, 3]; 1 → [2]; the link's criteria comes after the query's filters.
    assert_eq!(shape, [(1, vec![1, 3]), (1, vec![2]), (1, vec![]), (1, vec![]), (1, vec![])]);
    assert_eq!(w.filters[0].filter_operator, wit::LogicalOperator::Or);
    assert_eq!(w.filters[2].conditions[0].operator, wit::ConditionOperator::Null);
    assert_eq!(w.filters[4].conditions[0].attribute_name, "isdisabled");
}

#[test]
fn link_entities_flatten_with_parent_indexes() {
    let w = to_wit::query_expression(&nested_query());
    let links: Vec<(Option<u32>, &str, Option<u32>)> =
        w.link_entities.iter().map(|l| (l.parent, l.link_to_entity_name.as_str(), l.criteria)).collect();
    assert_eq!(links, [(None, "systemuser", Some(4)), (Some(0), "businessunit", None), (None, "contact", None)]);
    assert_eq!(w.link_entities[2].join_operator, wit::JoinOperator::LeftOuter);
}

#[test]
fn queries_round_trip() {
    let q = nested_query();
    assert_eq!(from_wit::query_expression(to_wit::query_expression(&q)), q);
    let empty = QueryExpression::new("contact");
    let w = to_wit::query_expression(&empty);
    assert_eq!((w.criteria, w.filters.len()), (None, 0), "an empty filter is sent as none");
    assert_eq!(from_wit::query_expression(w), empty);
    let fetch = Query::FetchXml("<fetch><entity name='account'/></fetch>".into());
    assert_eq!(from_wit::query(to_wit::query(&fetch)), fetch);
}

/// QRY-8: a QueryByAttribute crosses the interface whole, its null values included.
#[test]
fn query_by_attribute_round_trips() {
    let q: Query = xrm_model::QueryByAttribute::new("account")
        .with_attribute_value("name", "Contoso")
        .with_attribute_value("telephone1", Value::Null)
        .with_columns(["name"])
        .with_order("name", true)
        .with_page_info(PagingInfo { page_number: 1, count: 2, paging_cookie: None, return_total_record_count: true })
        .into();
    assert_eq!(from_wit::query(to_wit::query(&q)), q);
}

#[test]
fn bad_arena_indexes_are_dropped_not_followed() {
    let f = |filters: Vec<u32>| wit::FilterExpression {
        filter_operator: wit::LogicalOperator::And,
        conditions: vec![],
        filters,
    };
    let link = |parent: Option<u32>, name: &str| wit::LinkEntity {
        parent,
        link_from_attribute_name: "a".into(),
        link_to_entity_name: name.into(),
        link_to_attribute_name: "b".into(),
        join_operator: wit::JoinOperator::Inner,
        entity_alias: None,
        columns: wit::ColumnSet::AllColumns,
        criteria: None,
    };
    let w = wit::QueryExpression {
        entity_name: "account".into(),
        column_set: wit::ColumnSet::AllColumns,
        // 0 → [1, 0 (cycle), 9 (out of range)]; 1 → [1 (self)].
        criteria: Some(0),
        filters: vec![f(vec![1, 0, 9]), f(vec![1])],
        // 1 and 2 are each other's parents: unreachable from the query.
        link_entities: vec![link(None, "contact"), link(Some(2), "x"), link(Some(1), "y")],
        orders: vec![],
        top_count: None,
        page_info: None,
        distinct: false,
    };
    let q = from_wit::query_expression(w);
    assert_eq!(q.criteria.filters.len(), 1);
    assert!(q.criteria.filters[0].filters.is_empty());
    assert_eq!(q.link_entities.len(), 1);
    assert!(q.link_entities[0].link_entities.is_empty());
}

#[test]
fn every_condition_operator_maps_both_ways() {
    for (op, _, _) in ConditionOperator::ALL.into_iter().filter(|(op, _, _)| to_wit::sendable(*op)) {
        assert_eq!(from_wit::condition_operator(to_wit::condition_operator(op)), op);
    }
}

#[test]
fn parameter_values_round_trip() {
    let account = EntityReference::new("account", Uuid::from_u128(1));
    let params = [
        ParameterValue::Value(Value::Integer(1)),
        ParameterValue::Entity(Entity::new("account")),
        ParameterValue::EntityCollection(EntityCollection {
            entity_name: "account".into(),
            entities: vec![Entity::with_id("account", Uuid::from_u128(2))],
            more_records: true,
            paging_cookie: Some("p".into()),
            total_record_count: 5000,
            total_record_count_limit_exceeded: true,
        }),
        ParameterValue::EntityReferences(vec![account.clone()]),
        ParameterValue::ColumnSet(ColumnSet::AllColumns),
        ParameterValue::Query(Query::Expression(nested_query())),
        ParameterValue::Relationship("account_primary_contact".into()),
        ParameterValue::PrincipalAccess(PrincipalAccess { principal: account, access_mask: 3 }),
    ];
    for p in params {
        assert_eq!(from_wit::parameter_value(to_wit::parameter_value(&p).unwrap()), p);
    }
    assert_eq!(
        to_wit::parameter_value(&ParameterValue::Relationship("r".into())).unwrap(),
        wit::ParameterValue::Relationship(wit::Relationship { schema_name: "r".into() })
    );
}

#[test]
fn requests_list_their_parameters_by_name() {
    let target = EntityReference::new("account", Uuid::from_u128(3));
    let request = Request::retrieve(target, ColumnSet::Columns(vec!["name".into()]));
    let w = to_wit::request(&request).unwrap();
    assert_eq!(w.message_name, "Retrieve");
    let names: Vec<&str> = w.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ColumnSet", "Target"]);
    assert_eq!(from_wit::parameters(w.parameters), request.parameters);
}

#[test]
fn responses_and_faults_convert() {
    let w = wit::Response {
        message_name: "Create".into(),
        results: vec![wit::Parameter {
            name: "id".into(),
            value: wit::ParameterValue::Value(wit::Value::Guid(to_wit::guid(Uuid::from_u128(5)))),
        }],
    };
    let r = from_wit::response(w);
    assert_eq!(r.message, "Create");
    assert_eq!(r.results, BTreeMap::from([("id".to_owned(), ParameterValue::Value(Value::Guid(Uuid::from_u128(5))))]));
    let fault = Fault::new(0x8004_0220, "missing privilege");
    assert_eq!(from_wit::fault(to_wit::fault(&fault)), fault);
    let fault = Fault::new(0x8004_0265, "no").at_request(2);
    assert_eq!(from_wit::fault(to_wit::fault(&fault)), fault);
}

#[test]
fn keys_batches_and_their_responses_convert_both_ways() {
    let keys: xrm_model::KeyAttributes = [
        ("new_carrier".to_owned(), Value::from("UPS")),
        ("new_tracking".to_owned(), Value::Integer(7)),
        ("new_accountid".to_owned(), Value::Lookup(EntityReference::new("account", Uuid::from_u128(4)))),
    ]
    .into();
    let mut upsert = Entity::with_keys("new_shipment", keys);
    upsert.set("new_name", "Parcel");
    assert_eq!(from_wit::entity(to_wit::entity(&upsert)), upsert);
    let create = Response::new("Create").with("id", Uuid::from_u128(5));
    let failed = Fault::new(0x8004_0265, "no");
    let params = [
        ParameterValue::Guids(vec![Uuid::from_u128(1), Uuid::from_u128(2)]),
        ParameterValue::Requests(vec![Request::upsert(upsert.clone()), Request::delete(upsert.to_reference())]),
        ParameterValue::Responses(vec![create.clone()]),
        ParameterValue::ExecuteMultipleSettings(ExecuteMultipleSettings {
            continue_on_error: true,
            return_responses: false,
        }),
        ParameterValue::ExecuteMultipleResponses(vec![
            ExecuteMultipleResponseItem { request_index: 0, response: Some(create), fault: None },
            ExecuteMultipleResponseItem { request_index: 1, response: None, fault: Some(failed) },
        ]),
    ];
    for p in params {
        assert_eq!(from_wit::parameter_value(to_wit::parameter_value(&p).unwrap()), p);
    }
    // Batches do not nest: a request inside a batch cannot carry requests of its own.
    let inner = Request::execute_transaction(vec![Request::new("WhoAmI")], false);
    let nested = ParameterValue::Requests(vec![inner]);
    assert_eq!(to_wit::parameter_value(&nested).unwrap_err().code, xrm_model::codes::INVALID_ARGUMENT);
}

#[test]
fn metadata_round_trips_alone_and_inside_a_batch_response() {
    use xrm_model::{
        AttributeMetadata, EntityKeyMetadata, EntityMetadata, Metadata, OptionMetadata, OptionSetMetadata,
    };
    let option_set = OptionSetMetadata {
        name: "new_color".into(),
        display_name: Some("Color".into()),
        is_global: true,
        option_set_type: "Picklist".into(),
        options: vec![OptionMetadata { value: 1, label: Some("Red".into()), state: Some(0), default_status: None }],
    };
    let attribute = AttributeMetadata {
        logical_name: "new_color".into(),
        attribute_type: "Picklist".into(),
        required_level: "None".into(),
        targets: vec!["account".into()],
        option_set: Some(option_set.clone()),
        ..AttributeMetadata::default()
    };
    let entity = EntityMetadata {
        logical_name: "new_shipment".into(),
        keys: vec![EntityKeyMetadata { logical_name: "k".into(), key_attributes: vec!["new_tracking".into()] }],
        attributes: vec![attribute.clone()],
        ..EntityMetadata::default()
    };
    for m in [
        Metadata::Entity(entity.clone()),
        Metadata::Entities(vec![entity]),
        Metadata::Attribute(attribute),
        Metadata::OptionSet(option_set),
    ] {
        let p = ParameterValue::Metadata(m);
        assert_eq!(from_wit::parameter_value(to_wit::parameter_value(&p).unwrap()), p);
        let mut response = Response::new("RetrieveAttribute");
        response.results.insert("AttributeMetadata".into(), p.clone());
        let batch = ParameterValue::Responses(vec![response]);
        assert_eq!(from_wit::parameter_value(to_wit::parameter_value(&batch).unwrap()), batch);
    }
}

#[test]
fn party_lists_round_trip_with_their_parties_columns() {
    let mut party = Entity::with_id("activityparty", Uuid::from_u128(7));
    party
        .set("partyid", EntityReference::new("contact", Uuid::from_u128(8)))
        .set("addressused", "carl@example.com")
        .set("participationtypemask", Value::Choice(2));
    let list = Value::EntityCollection(vec![party, Entity::new("activityparty")]);
    assert_eq!(from_wit::value(to_wit::value(&list)), list);
}

#[test]
fn qry_10_aliased_values_round_trip_with_their_table_column_and_value() {
    let mut party = Entity::with_id("activityparty", Uuid::from_u128(7));
    party.set("partyid", EntityReference::new("contact", Uuid::from_u128(8)));
    let inner = [
        Value::Text("Carl".into()),
        Value::Money("12.50".into()),
        Value::Null,
        Value::Lookup(EntityReference::new("account", Uuid::from_u128(3))),
        Value::EntityCollection(vec![party]),
    ];
    for value in inner {
        let aliased = Value::Aliased(xrm_model::AliasedValue::new("contact", "fullname", value));
        assert_eq!(from_wit::value(to_wit::value(&aliased)), aliased);
    }
}
