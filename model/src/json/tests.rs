//! Tests of the JSON form.

use super::*;

fn resolve(alias: &str) -> Option<Uuid> {
    (alias == "alice").then(|| Uuid::from_u128(7))
}

#[test]
fn reads_every_value_type() {
    let reader = Reader::new(&resolve);
    let root = Path::Root("v");
    let cases = [
        (json!("x"), Value::Text("x".into())),
        (json!(42), Value::Integer(42)),
        (json!(5_000_000_000_i64), Value::BigInt(5_000_000_000)),
        (json!(4.5), Value::Double(4.5)),
        (json!(true), Value::Boolean(true)),
        (json!(null), Value::Null),
        (json!({"@decimal": "12.3400"}), Value::Decimal("12.3400".into())),
        (json!({"@money": "12.50"}), Value::Money("12.50".into())),
        (json!({"@guid": "@alice"}), Value::Guid(Uuid::from_u128(7))),
        (json!({"@option": 1}), Value::Choice(1)),
        (json!({"@options": [1, 3]}), Value::Choices(vec![1, 3])),
        (
            json!({"@aliased": {"entity": "contact", "attribute": "fullname", "value": "Carl"}}),
            Value::Aliased(AliasedValue::new("contact", "fullname", Value::Text("Carl".into()))),
        ),
        (
            json!({"@aliased": {"entity": "account", "attribute": "revenue", "value": {"@money": "5.00"}}}),
            Value::Aliased(AliasedValue::new("account", "revenue", Value::Money("5.00".into()))),
        ),
    ];
    for (input, want) in cases {
        let got = reader.value(&input, &root).unwrap();
        assert_eq!(got, want, "{input}");
        assert_eq!(reader.value(&value_to_json(&got), &root).unwrap(), want, "round trip of {input}");
    }
    let when = reader.value(&json!({"@datetime": "2026-11-21T10:00:00Z"}), &root).unwrap();
    assert_eq!(when.to_string(), "2026-11-21T10:00:00Z");
    let lookup = reader.value(&json!({"@ref": "systemuser", "id": "@alice"}), &root).unwrap();
    assert_eq!(lookup, Value::Lookup(EntityReference::new("systemuser", Uuid::from_u128(7))));
}

/// Found by the `values` fuzz target: a date whose UTC year RFC 3339 cannot write is refused when read.
#[test]
fn dates_outside_four_digit_years_in_utc_are_refused() {
    assert!(parse_datetime("0000-01-01T00:00:00+01:00").is_none());
    assert!(parse_datetime("9999-12-31T23:59:59-01:00").is_none());
    let edge = parse_datetime("0000-01-01T00:00:00Z").unwrap();
    assert_eq!(parse_datetime(&edge.to_rfc3339_opts(SecondsFormat::AutoSi, true)), Some(edge));
}

#[test]
fn errors_name_the_path_and_what_was_expected() {
    let reader = Reader::new(&resolve);
    let root = Path::Root("suite.json");
    let case = root.key("cases");
    let first = case.index(0);
    let err = reader.entity(&json!({"@logicalname": "account", "@id": "@nobody"}), &first).unwrap_err();
    assert_eq!(err.path, "suite.json.cases[0].@id");
    assert!(err.message.contains("unknown alias `@nobody`"), "{err}");
    let err = reader.value(&json!({"@money": "12,50"}), &root).unwrap_err();
    assert_eq!(err.path, "suite.json.@money");
    let err = reader.request(&json!({"message": "Update", "target": {"@logicalname": "account"}}), &root).unwrap_err();
    assert!(err.message.contains("needs `@id`"), "{err}");
    let err = reader.request(&json!({"message": "Create", "targte": {}}), &root).unwrap_err();
    assert_eq!(err.path, "suite.json.targte");
}

#[test]
fn reads_requests_of_every_shape() {
    let reader = Reader::new(&resolve);
    let root = Path::Root("r");
    let r = reader
        .request(
            &json!({"message": "Retrieve", "target": {"@ref": "account", "id": "@alice"}, "columns": ["name"]}),
            &root,
        )
        .unwrap();
    assert_eq!(r.target_reference().map(|t| t.id), Some(Uuid::from_u128(7)));
    assert_eq!(
        r.parameter(messages::COLUMN_SET),
        Some(&ParameterValue::ColumnSet(ColumnSet::Columns(vec!["name".into()])))
    );
    let r = reader
        .request(
            &json!({"message": "GrantAccess", "target": {"@ref": "account", "id": "@alice"},
                         "principal": {"@ref": "systemuser", "id": "@alice"}, "accessmask": "ReadAccess|WriteAccess"}),
            &root,
        )
        .unwrap();
    let Some(ParameterValue::PrincipalAccess(pa)) = r.parameter(messages::PRINCIPAL_ACCESS) else {
        panic!("no access")
    };
    assert_eq!(pa.access_mask, access_rights::READ | access_rights::WRITE);
    let r = reader
        .request(
            &json!({"message": "AddMembersTeam", "parameters": {"TeamId": {"@guid": "@alice"},
                         "MemberIds": [{"@guid": "@alice"}, {"@guid": "00000000-0000-0000-0000-000000000002"}]}}),
            &root,
        )
        .unwrap();
    assert_eq!(r.parameter("MemberIds"), Some(&ParameterValue::Guids(vec![Uuid::from_u128(7), Uuid::from_u128(2)])));
    let bad = json!({"message": "AddMembersTeam", "parameters": {"MemberIds": [{"@guid": "@alice"}, 3]}});
    assert!(reader.request(&bad, &root).unwrap_err().to_string().contains("MemberIds[1]"));
    let q = reader
        .query(
            &json!({"entityname": "account", "columns": ["name"], "criteria": {"filteroperator": "or",
            "conditions": [{"attribute": "name", "operator": "like", "value": "C%"}],
            "filters": [{"conditions": [{"attribute": "revenue", "operator": "gt", "values": [5]}]}]},
            "linkentities": [{"linkfromattributename": "primarycontactid", "linktoentityname": "contact",
                              "linktoattributename": "contactid", "joinoperator": "leftouter", "entityalias": "c"}]}),
            &root,
        )
        .unwrap();
    let Query::Expression(q) = q else { panic!("not an expression") };
    assert_eq!(q.criteria.filter_operator, LogicalOperator::Or);
    assert_eq!(q.criteria.filters[0].conditions[0].operator, ConditionOperator::GreaterThan);
    assert_eq!(q.link_entities[0].join_operator, JoinOperator::LeftOuter);
}

#[test]
fn qry_10_an_aliased_value_names_its_table_column_and_value_and_does_not_nest() {
    let reader = Reader::new(&resolve);
    let root = Path::Root("v");
    let nested = json!({"@aliased": {"entity": "a", "attribute": "b", "value": {"@aliased": {"entity": "c", "attribute": "d", "value": 1}}}});
    let err = reader.value(&nested, &root).unwrap_err();
    assert!(err.message.contains("another aliased value"), "{err}");
    let err = reader.value(&json!({"@aliased": {"entity": "a", "value": 1}}), &root).unwrap_err();
    assert!(err.message.contains("attribute"), "{err}");
    let value = Value::Aliased(AliasedValue::new("contact", "fullname", Value::Text("Carl".into())));
    assert_eq!((value.to_string(), value.type_name()), ("Carl".to_owned(), "AliasedValue"));
    assert_eq!(value.unaliased(), &Value::Text("Carl".into()));
    assert!(Value::Aliased(AliasedValue::new("contact", "fullname", Value::Null)).is_null());
}
