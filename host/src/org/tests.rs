//! The organization file's table metadata, as the loader reads it and refuses it.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value as Json, json};

use super::*;

fn org_with(tables: Json) -> Result<Organization, crate::input::FileErrors> {
    let file = json!({ "name": "o", "businessunits": [{ "@alias": "root", "name": "Root" }],
                       "users": [{ "@alias": "alice", "businessunit": "@root" }], "tables": tables });
    Organization::from_json(Path::new("org.json"), file)
}

/// The contract's example table, every metadata key used once.
fn shipment() -> Json {
    json!({
        "logicalname": "new_shipment", "schemaname": "new_Shipment", "objecttypecode": 10100,
        "primarynameattribute": "new_name",
        "displayname": "Shipment", "displaycollectionname": "Shipments",
        "keys": [{ "name": "new_number_key", "columns": ["new_number"] }],
        "columns": {
            "new_number": { "type": "String", "displayname": "Number", "requiredlevel": "ApplicationRequired" },
            "new_kind": { "type": "Picklist", "displayname": "Kind", "requiredlevel": "Recommended",
                          "options": { "1": "Standard", "2": "Express" } },
            "new_fragile": { "type": "Boolean", "options": { "0": "No", "1": "Yes" } },
            "new_accountid": { "type": "Lookup", "targets": ["account"] },
            "new_customerid": { "type": "Customer" },
            "new_weight": "Decimal",
            "new_carrierid": { "Lookup": "account" },
            "statecode": { "type": "State", "options": { "0": "Active", "1": "Inactive" },
                           "defaultstatus": { "0": 1, "1": 2 } },
            "statuscode": { "type": "Status", "options": { "1": { "label": "Active", "state": 0 },
                                                           "2": { "label": "Delivered", "state": 1 } } }
        }
    })
}

fn error(tables: Json) -> String {
    match org_with(tables) {
        Ok(_) => panic!("the organization loads"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn table_and_column_metadata_are_loaded_as_written() {
    let org = org_with(json!([shipment()])).unwrap();
    let t = org.table("new_shipment").unwrap();
    assert_eq!(t.display_name.as_deref(), Some("Shipment"));
    assert_eq!(t.display_collection_name.as_deref(), Some("Shipments"));
    assert_eq!(t.entity_set_name, "new_shipments", "the default, as the platform forms it");
    assert_eq!(t.keys, vec![AlternateKey { name: "new_number_key".into(), columns: vec!["new_number".into()] }]);

    let number = t.column_meta("new_number").unwrap();
    assert_eq!(number.display_name.as_deref(), Some("Number"));
    assert_eq!(number.required_level, RequiredLevel::ApplicationRequired);
    assert_eq!(t.columns["new_number"], ColumnType::String);

    let kind = t.column_meta("new_kind").unwrap();
    assert_eq!(kind.required_level, RequiredLevel::Recommended);
    assert_eq!((kind.label(1), kind.label(2), kind.label(3)), (Some("Standard"), Some("Express"), None));
    assert_eq!(t.columns["new_kind"], ColumnType::Picklist);
    assert_eq!(t.column_meta("new_fragile").unwrap().label(1), Some("Yes"));

    assert_eq!(t.columns["new_accountid"], ColumnType::Lookup(vec!["account".into()]));
    assert_eq!(t.columns["new_customerid"], ColumnType::Lookup(vec!["account".into(), "contact".into()]));
    assert_eq!(t.columns["new_carrierid"], ColumnType::Lookup(vec!["account".into()]));
    assert!(t.column_meta("new_accountid").is_none() && t.column_meta("new_weight").is_none(), "nothing declared");

    let state = t.column_meta("statecode").unwrap();
    let active = StateOption { label: "Active".into(), default_status: Some(1) };
    let inactive = StateOption { label: "Inactive".into(), default_status: Some(2) };
    assert_eq!(state.options, Options::State(BTreeMap::from([(0, active), (1, inactive)])));
    let status = t.column_meta("statuscode").unwrap();
    let Options::Status(statuses) = &status.options else { panic!("{:?}", status.options) };
    assert_eq!(statuses[&2], StatusOption { label: "Delivered".into(), state: 1 });
    assert_eq!(t.columns["statuscode"], ColumnType::Picklist);
}

#[test]
fn an_entity_set_name_may_be_given_and_built_in_tables_have_theirs() {
    let mut table = shipment();
    table["entitysetname"] = json!("new_shipmentset");
    let org = org_with(json!([table])).unwrap();
    assert_eq!(org.table("new_shipment").unwrap().entity_set_name, "new_shipmentset");
    assert_eq!(org.table("opportunity").unwrap().entity_set_name, "opportunities");
}

#[test]
fn a_built_in_table_gains_metadata_and_keys() {
    let org = org_with(json!([{
        "logicalname": "account", "objecttypecode": 1, "displayname": "Customer",
        "keys": [{ "name": "accountnumber_key", "columns": ["accountnumber"] }],
        "columns": { "industrycode": { "type": "Picklist", "options": { "1": "Accounting" } } }
    }]))
    .unwrap();
    let account = org.table("account").unwrap();
    assert_eq!(account.display_name.as_deref(), Some("Customer"));
    assert_eq!(account.keys[0].columns, ["accountnumber"]);
    assert_eq!(account.column_meta("industrycode").unwrap().label(1), Some("Accounting"));
    assert!(account.columns.contains_key("revenue"), "the built-in columns stay");
}

/// Changes `shipment()` at a JSON pointer, and expects the loader's error to name `path` and say `says`.
fn refused(pointer: &str, value: Json, path: &str, says: &str) {
    let mut table = shipment();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match table.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}")) {
        Json::Object(map) => drop(map.insert(key.to_owned(), value)),
        Json::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        other => panic!("{pointer}: {other}"),
    }
    let text = error(json!([table]));
    assert!(text.starts_with("org.json: at `"), "{text}");
    assert!(text.contains(&format!("at `{path}`")), "expected the path {path}: {text}");
    assert!(text.contains(says), "expected {says:?}: {text}");
}

#[test]
fn bad_metadata_is_refused_at_its_json_path() {
    let cols = "/columns";
    refused(
        &format!("{cols}/new_kind/type"),
        json!("Pickle"),
        "tables[0].columns.new_kind.type",
        "unknown column type `Pickle`",
    );
    refused(&format!("{cols}/new_weight"), json!("Dec"), "tables[0].columns.new_weight", "unknown column type `Dec`");
    refused(&format!("{cols}/new_kind/options/1"), json!(7), "tables[0].columns.new_kind.options.1", "label");
    refused(
        &format!("{cols}/new_kind/requiredlevel"),
        json!("Always"),
        "tables[0].columns.new_kind.requiredlevel",
        "Always",
    );
    refused(
        &format!("{cols}/new_kind/colour"),
        json!("red"),
        "tables[0].columns.new_kind.colour",
        "unknown field `colour`",
    );
    refused(
        &format!("{cols}/new_number/options"),
        json!({ "1": "x" }),
        "tables[0].columns.new_number.options",
        "`options` is for",
    );
    refused(
        &format!("{cols}/new_kind/targets"),
        json!(["account"]),
        "tables[0].columns.new_kind.targets",
        "`targets` is for",
    );
    refused(&format!("{cols}/new_kind/defaultstatus"), json!({}), "tables[0].columns.new_kind.defaultstatus", "State");
    refused(
        &format!("{cols}/new_fragile/options/2"),
        json!("Maybe"),
        "tables[0].columns.new_fragile.options.2",
        "0 (false) and 1 (true)",
    );
    refused(
        &format!("{cols}/statuscode/options/1"),
        json!("Active"),
        "tables[0].columns.statuscode.options.1",
        "\"state\"",
    );
    refused(
        &format!("{cols}/statuscode/options/1/state"),
        json!(5),
        "tables[0].columns.statuscode.options.1.state",
        "not an option of the State column `statecode`",
    );
    refused(
        &format!("{cols}/statecode/defaultstatus/1"),
        json!(1),
        "tables[0].columns.statecode.defaultstatus.1",
        "1 is not a status of state 1",
    );
    refused(
        &format!("{cols}/statecode/defaultstatus/0"),
        json!(9),
        "tables[0].columns.statecode.defaultstatus.0",
        "9 is not a status",
    );
    refused(
        "/keys/0/columns/0",
        json!("new_nothing"),
        "tables[0].keys[0].columns[0]",
        "`new_shipment` has no column `new_nothing`",
    );
    refused("/keys/0/columns", json!([]), "tables[0].keys[0].columns", "at least one column");
    refused("/keys/0/name", json!(""), "tables[0].keys[0].name", "empty");
    refused("/entitysetname", json!(""), "tables[0].entitysetname", "empty");
    refused(
        &format!("{cols}/new_carrierid"),
        json!({ "Lookup": "account", "displayname": "Carrier" }),
        "tables[0].columns.new_carrierid",
        "\"type\": \"Lookup\"",
    );
    refused(
        &format!("{cols}/new_weight"),
        json!(3),
        "tables[0].columns.new_weight",
        "expected a type name or an object",
    );
}

#[test]
fn option_values_are_whole_numbers_and_each_state_column_is_alone() {
    let mut table = shipment();
    table["columns"]["new_kind"]["options"] = json!({ "one": "Standard" });
    let text = error(json!([table]));
    assert!(text.contains("at `tables[0].columns.new_kind.options.one`") && text.contains("whole number"), "{text}");

    let mut table = shipment();
    table["columns"]["statecode"]["defaultstatus"] = json!({ "7": 1 });
    let text = error(json!([table]));
    assert!(text.contains("statecode.defaultstatus.7") && text.contains("not one of this column's options"), "{text}");

    let mut table = shipment();
    table["columns"]["new_state2"] = json!({ "type": "State" });
    let text = error(json!([table]));
    assert!(text.contains("at `tables[0].columns.statecode`") && text.contains("one State column"), "{text}");

    let mut table = shipment();
    table["keys"] = json!([{ "name": "k", "columns": ["new_number"] }, { "name": "k", "columns": ["new_kind"] }]);
    let text = error(json!([table]));
    assert!(text.contains("at `tables[0].keys[1].name`") && text.contains("declared twice"), "{text}");
}

#[test]
fn every_type_name_the_schema_offers_is_read() {
    for name in table_file::TYPES {
        let table = json!([{ "logicalname": "new_t", "objecttypecode": 10001, "columns": { "new_c": name } }]);
        assert!(org_with(table).is_ok(), "{name}");
    }
}

fn org_with_choices(optionsets: Json, column: Json) -> Result<Organization, crate::input::FileErrors> {
    let file = json!({ "name": "o", "businessunits": [{ "@alias": "root", "name": "Root" }],
                       "users": [{ "@alias": "alice", "businessunit": "@root" }], "optionsets": optionsets,
                       "tables": [{ "logicalname": "new_thing", "objecttypecode": 10200, "columns": { "new_color": column } }] });
    Organization::from_json(Path::new("org.json"), file)
}

#[test]
fn a_column_takes_the_options_of_a_global_choice_and_bad_ones_are_refused() {
    let colors = json!([{ "name": "new_color", "displayname": "Color", "options": { "1": "Red", "2": "Blue" } }]);
    let org = org_with_choices(colors.clone(), json!({ "type": "Picklist", "optionset": "new_color" })).unwrap();
    let table = org.table("new_thing").unwrap();
    let meta = table.column_meta("new_color").unwrap();
    assert_eq!(meta.global_choice.as_deref(), Some("new_color"));
    assert_eq!(meta.label(2), Some("Blue"));
    assert!(table.custom && table.custom_columns.contains("new_color") && !table.custom_columns.contains("createdon"));
    assert_eq!(org.option_sets["new_color"].display_name.as_deref(), Some("Color"));

    let refused = |optionsets: Json, column: Json| match org_with_choices(optionsets, column) {
        Ok(_) => panic!("the organization loads"),
        Err(e) => e.to_string(),
    };
    let unknown = refused(colors.clone(), json!({ "type": "Picklist", "optionset": "new_colour" }));
    assert!(unknown.contains("tables[0].columns.new_color.optionset") && unknown.contains("new_color"), "{unknown}");
    let both =
        refused(colors.clone(), json!({ "type": "Picklist", "optionset": "new_color", "options": { "1": "A" } }));
    assert!(both.contains("not both"), "{both}");
    let text = refused(colors.clone(), json!({ "type": "String", "optionset": "new_color" }));
    assert!(text.contains("`optionset` is for Picklist and MultiSelectPicklist"), "{text}");
    let twice = refused(json!([{ "name": "a", "options": {} }, { "name": "a", "options": {} }]), json!("String"));
    assert!(twice.contains("optionsets[1].name") && twice.contains("declared twice"), "{twice}");
    let label = refused(json!([{ "name": "a", "options": { "one": "One" } }]), json!("String"));
    assert!(label.contains("optionsets[0].options.one"), "{label}");
}
