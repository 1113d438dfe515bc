//! Metadata (META-1) both ways: what RetrieveEntity, RetrieveAttribute, RetrieveAllEntities and
//! RetrieveOptionSet answer, field by field.

use xrm_model as m;

use crate::sandbox::bindings::xrm::plugin::types as w;

/// A metadata answer as WIT carries it.
pub(crate) fn metadata(m: &m::Metadata) -> w::Metadata {
    match m {
        m::Metadata::Entity(e) => w::Metadata::Entity(entity(e)),
        m::Metadata::Entities(es) => w::Metadata::Entities(es.iter().map(entity).collect()),
        m::Metadata::Attribute(a) => w::Metadata::Attribute(attribute(a)),
        m::Metadata::OptionSet(o) => w::Metadata::OptionSet(option_set(o)),
    }
}

pub(crate) fn from_metadata(m: w::Metadata) -> m::Metadata {
    match m {
        w::Metadata::Entity(e) => m::Metadata::Entity(from_entity(e)),
        w::Metadata::Entities(es) => m::Metadata::Entities(es.into_iter().map(from_entity).collect()),
        w::Metadata::Attribute(a) => m::Metadata::Attribute(from_attribute(a)),
        w::Metadata::OptionSet(o) => m::Metadata::OptionSet(from_option_set(o)),
    }
}

fn entity(e: &m::EntityMetadata) -> w::EntityMetadata {
    w::EntityMetadata {
        logical_name: e.logical_name.clone(),
        schema_name: e.schema_name.clone(),
        object_type_code: e.object_type_code,
        display_name: e.display_name.clone(),
        display_collection_name: e.display_collection_name.clone(),
        entity_set_name: e.entity_set_name.clone(),
        primary_id_attribute: e.primary_id_attribute.clone(),
        primary_name_attribute: e.primary_name_attribute.clone(),
        ownership_type: e.ownership_type.clone(),
        is_activity: e.is_activity,
        is_custom_entity: e.is_custom_entity,
        keys: e
            .keys
            .iter()
            .map(|k| w::EntityKeyMetadata {
                logical_name: k.logical_name.clone(),
                key_attributes: k.key_attributes.clone(),
            })
            .collect(),
        attributes: e.attributes.iter().map(attribute).collect(),
    }
}

fn from_entity(e: w::EntityMetadata) -> m::EntityMetadata {
    m::EntityMetadata {
        logical_name: e.logical_name,
        schema_name: e.schema_name,
        object_type_code: e.object_type_code,
        display_name: e.display_name,
        display_collection_name: e.display_collection_name,
        entity_set_name: e.entity_set_name,
        primary_id_attribute: e.primary_id_attribute,
        primary_name_attribute: e.primary_name_attribute,
        ownership_type: e.ownership_type,
        is_activity: e.is_activity,
        is_custom_entity: e.is_custom_entity,
        keys: e
            .keys
            .into_iter()
            .map(|k| m::EntityKeyMetadata { logical_name: k.logical_name, key_attributes: k.key_attributes })
            .collect(),
        attributes: e.attributes.into_iter().map(from_attribute).collect(),
    }
}

fn attribute(a: &m::AttributeMetadata) -> w::AttributeMetadata {
    w::AttributeMetadata {
        logical_name: a.logical_name.clone(),
        schema_name: a.schema_name.clone(),
        entity_logical_name: a.entity_logical_name.clone(),
        display_name: a.display_name.clone(),
        attribute_type: a.attribute_type.clone(),
        required_level: a.required_level.clone(),
        is_primary_id: a.is_primary_id,
        is_primary_name: a.is_primary_name,
        is_custom_attribute: a.is_custom_attribute,
        targets: a.targets.clone(),
        option_set: a.option_set.as_ref().map(option_set),
    }
}

fn from_attribute(a: w::AttributeMetadata) -> m::AttributeMetadata {
    m::AttributeMetadata {
        logical_name: a.logical_name,
        schema_name: a.schema_name,
        entity_logical_name: a.entity_logical_name,
        display_name: a.display_name,
        attribute_type: a.attribute_type,
        required_level: a.required_level,
        is_primary_id: a.is_primary_id,
        is_primary_name: a.is_primary_name,
        is_custom_attribute: a.is_custom_attribute,
        targets: a.targets,
        option_set: a.option_set.map(from_option_set),
    }
}

fn option_set(o: &m::OptionSetMetadata) -> w::OptionSetMetadata {
    w::OptionSetMetadata {
        name: o.name.clone(),
        display_name: o.display_name.clone(),
        is_global: o.is_global,
        option_set_type: o.option_set_type.clone(),
        options: o
            .options
            .iter()
            .map(|o| w::OptionMetadata {
                value: o.value,
                label: o.label.clone(),
                state: o.state,
                default_status: o.default_status,
            })
            .collect(),
    }
}

fn from_option_set(o: w::OptionSetMetadata) -> m::OptionSetMetadata {
    m::OptionSetMetadata {
        name: o.name,
        display_name: o.display_name,
        is_global: o.is_global,
        option_set_type: o.option_set_type,
        options: o
            .options
            .into_iter()
            .map(|o| m::OptionMetadata {
                value: o.value,
                label: o.label,
                state: o.state,
                default_status: o.default_status,
            })
            .collect(),
    }
}
