//! `IEnvironmentVariableService`: the current value of an environment variable (ENV-1).

use xrm_model::{
    ColumnSet, ConditionExpression, ConditionOperator, Fault, FilterExpression, JoinOperator, LinkEntity,
    QueryExpression, Value, codes,
};

use crate::{GetAttributeValue, OrganizationService, PluginContext};

/// `IEnvironmentVariableService`: reads environment variables (`environmentvariabledefinition` and
/// `environmentvariablevalue` records) by their schema name.
///
/// Get it from [`PluginContext::environment_variable_service`].
///
/// ```no_run
/// use xrm_sandbox_guest::{PluginContext, PluginError};
///
/// fn api_url(context: &PluginContext) -> Result<String, PluginError> {
///     Ok(context.environment_variable_service().retrieve_environment_variable_value("new_ApiUrl")?)
/// }
/// ```
pub struct EnvironmentVariableService {
    service: OrganizationService,
}

impl EnvironmentVariableService {
    /// `RetrieveEnvironmentVariableValue(schemaName)`: the environment's own value when it has one (even an
    /// empty one), else the definition's default value (empty when it has none). A schema name no definition
    /// has fails with `0x80040217`.
    pub fn retrieve_environment_variable_value(&self, schema_name: &str) -> Result<String, Fault> {
        let found = self.service.retrieve_multiple(query(schema_name))?;
        let Some(definition) = found.entities.first() else {
            return Err(Fault::new(
                codes::OBJECT_DOES_NOT_EXIST,
                format!("environmentvariabledefinition With schemaname = {schema_name} Does Not Exist"),
            ));
        };
        // The typed getter reads through the AliasedValue a linked column comes back as (QRY-10); a column of
        // another type reads as absent, as before.
        let text = |column: &str| definition.get_string(column).ok().flatten().map(str::to_owned);
        let has_value = matches!(definition.get("value.environmentvariablevalueid"), Some(v) if !v.is_null());
        let value = if has_value { text("value.value") } else { text("defaultvalue") };
        Ok(value.unwrap_or_default())
    }
}

/// The definition with that schema name, and its value record if any (`value.` columns).
fn query(schema_name: &str) -> QueryExpression {
    let mut q = QueryExpression::new("environmentvariabledefinition");
    q.column_set = ColumnSet::Columns(vec!["schemaname".into(), "defaultvalue".into()]);
    q.criteria = FilterExpression {
        conditions: vec![ConditionExpression {
            entity_name: None,
            attribute_name: "schemaname".into(),
            operator: ConditionOperator::Equal,
            values: vec![Value::Text(schema_name.to_owned())],
        }],
        ..FilterExpression::default()
    };
    q.link_entities = vec![LinkEntity {
        link_from_attribute_name: "environmentvariabledefinitionid".into(),
        link_to_entity_name: "environmentvariablevalue".into(),
        link_to_attribute_name: "environmentvariabledefinitionid".into(),
        join_operator: JoinOperator::LeftOuter,
        entity_alias: Some("value".into()),
        columns: ColumnSet::Columns(vec!["environmentvariablevalueid".into(), "value".into()]),
        ..LinkEntity::default()
    }];
    q.top_count = Some(1);
    q
}

impl PluginContext<'_> {
    /// `IEnvironmentVariableService`; it reads as SYSTEM (ENV-1).
    pub fn environment_variable_service(&self) -> EnvironmentVariableService {
        EnvironmentVariableService { service: self.service_factory().create_organization_service(None) }
    }
}
