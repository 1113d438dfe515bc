//! The JSON form of metadata (META-1): objects with the platform's property names, as suites compare them.

use serde_json::{Map, Value as Json, json};

use crate::metadata::{AttributeMetadata, EntityMetadata, Metadata, OptionSetMetadata};

pub fn metadata_to_json(m: &Metadata) -> Json {
    match m {
        Metadata::Entity(e) => entity_to_json(e),
        Metadata::Entities(es) => Json::Array(es.iter().map(entity_to_json).collect()),
        Metadata::Attribute(a) => attribute_to_json(a),
        Metadata::OptionSet(o) => option_set_to_json(o),
    }
}

fn entity_to_json(e: &EntityMetadata) -> Json {
    let keys: Vec<Json> =
        e.keys.iter().map(|k| json!({ "LogicalName": k.logical_name, "KeyAttributes": k.key_attributes })).collect();
    json!({
        "LogicalName": e.logical_name,
        "SchemaName": e.schema_name,
        "ObjectTypeCode": e.object_type_code,
        "DisplayName": e.display_name,
        "DisplayCollectionName": e.display_collection_name,
        "EntitySetName": e.entity_set_name,
        "PrimaryIdAttribute": e.primary_id_attribute,
        "PrimaryNameAttribute": e.primary_name_attribute,
        "OwnershipType": e.ownership_type,
        "IsActivity": e.is_activity,
        "IsCustomEntity": e.is_custom_entity,
        "Keys": keys,
        "Attributes": e.attributes.iter().map(attribute_to_json).collect::<Vec<_>>(),
    })
}

fn attribute_to_json(a: &AttributeMetadata) -> Json {
    let mut obj = Map::new();
    obj.insert("LogicalName".into(), json!(a.logical_name));
    obj.insert("SchemaName".into(), json!(a.schema_name));
    obj.insert("EntityLogicalName".into(), json!(a.entity_logical_name));
    obj.insert("DisplayName".into(), json!(a.display_name));
    obj.insert("AttributeType".into(), json!(a.attribute_type));
    obj.insert("RequiredLevel".into(), json!(a.required_level));
    obj.insert("IsPrimaryId".into(), json!(a.is_primary_id));
    obj.insert("IsPrimaryName".into(), json!(a.is_primary_name));
    obj.insert("IsCustomAttribute".into(), json!(a.is_custom_attribute));
    if !a.targets.is_empty() || matches!(a.attribute_type.as_str(), "Lookup" | "Customer" | "Owner" | "PartyList") {
        obj.insert("Targets".into(), json!(a.targets));
    }
    if let Some(set) = &a.option_set {
        obj.insert("OptionSet".into(), option_set_to_json(set));
    }
    Json::Object(obj)
}

fn option_set_to_json(o: &OptionSetMetadata) -> Json {
    let options: Vec<Json> = o
        .options
        .iter()
        .map(|option| {
            let mut obj = Map::new();
            obj.insert("Value".into(), json!(option.value));
            obj.insert("Label".into(), json!(option.label));
            if let Some(state) = option.state {
                obj.insert("State".into(), json!(state));
            }
            if let Some(status) = option.default_status {
                obj.insert("DefaultStatus".into(), json!(status));
            }
            Json::Object(obj)
        })
        .collect();
    json!({
        "Name": o.name,
        "DisplayName": o.display_name,
        "IsGlobal": o.is_global,
        "OptionSetType": o.option_set_type,
        "Options": options,
    })
}
