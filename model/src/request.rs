use std::collections::BTreeMap;

use uuid::Uuid;

use crate::fault::Fault;
use crate::metadata::Metadata;
use crate::query::{ColumnSet, Query};
use crate::value::{Entity, EntityReference, Value};

/// A set of records returned by RetrieveMultiple.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityCollection {
    pub entity_name: String,
    pub entities: Vec<Entity>,
    pub more_records: bool,
    pub paging_cookie: Option<String>,
    /// `TotalRecordCount`: the query's matches, at most 5,000, when the query asked for it; -1 when it did not
    /// (QRY-9).
    pub total_record_count: i32,
    /// `TotalRecordCountLimitExceeded`: more than 5,000 records match.
    pub total_record_count_limit_exceeded: bool,
}

impl Default for EntityCollection {
    fn default() -> Self {
        EntityCollection {
            entity_name: String::new(),
            entities: Vec::new(),
            more_records: false,
            paging_cookie: None,
            total_record_count: -1,
            total_record_count_limit_exceeded: false,
        }
    }
}

/// A principal and the access rights it gets on a record (GrantAccess, ModifyAccess).
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalAccess {
    pub principal: EntityReference,
    pub access_mask: u32,
}

/// The platform's `AccessRights` flags.
pub mod access_rights {
    pub const READ: u32 = 1;
    pub const WRITE: u32 = 2;
    pub const APPEND: u32 = 4;
    pub const APPEND_TO: u32 = 16;
    pub const CREATE: u32 = 32;
    pub const DELETE: u32 = 65_536;
    pub const SHARE: u32 = 262_144;
    pub const ASSIGN: u32 = 524_288;

    /// Each right with the name files use (`ReadAccess`).
    pub const NAMES: [(u32, &str); 8] = [
        (READ, "ReadAccess"),
        (WRITE, "WriteAccess"),
        (APPEND, "AppendAccess"),
        (APPEND_TO, "AppendToAccess"),
        (CREATE, "CreateAccess"),
        (DELETE, "DeleteAccess"),
        (SHARE, "ShareAccess"),
        (ASSIGN, "AssignAccess"),
    ];
}

/// `ExecuteMultipleSettings`: whether an `ExecuteMultiple` goes on after a request fails, and whether it
/// returns the responses of the requests that succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecuteMultipleSettings {
    pub continue_on_error: bool,
    pub return_responses: bool,
}

/// `ExecuteMultipleResponseItem`: the outcome of one request of an `ExecuteMultiple`, by its index in
/// `Requests`: its response, or the fault it ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteMultipleResponseItem {
    pub request_index: u32,
    pub response: Option<Response>,
    pub fault: Option<Fault>,
}

/// The value of a request, response, context or shared-variable parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterValue {
    Value(Value),
    Entity(Entity),
    EntityCollection(EntityCollection),
    EntityReferences(Vec<EntityReference>),
    ColumnSet(ColumnSet),
    Query(Query),
    Relationship(String),
    PrincipalAccess(PrincipalAccess),
    /// A list of ids (`Guid[]`: the `Ids` of `CreateMultiple`).
    Guids(Vec<Uuid>),
    /// `OrganizationRequestCollection`: the `Requests` of `ExecuteMultiple` and `ExecuteTransaction`.
    Requests(Vec<Request>),
    /// `OrganizationResponseCollection`: the `Responses` of `ExecuteTransaction`, the `Results` of
    /// `UpsertMultiple`.
    Responses(Vec<Response>),
    /// The `Settings` of `ExecuteMultiple`.
    ExecuteMultipleSettings(ExecuteMultipleSettings),
    /// `ExecuteMultipleResponseItemCollection`: the `Responses` of `ExecuteMultiple`.
    ExecuteMultipleResponses(Vec<ExecuteMultipleResponseItem>),
    /// What the metadata messages answer (META-1): `EntityMetadata`, `AttributeMetadata`,
    /// `OptionSetMetadata`.
    Metadata(Metadata),
}

impl ParameterValue {
    pub fn as_entity(&self) -> Option<&Entity> {
        match self {
            ParameterValue::Entity(e) => Some(e),
            _ => None,
        }
    }

    pub fn as_value(&self) -> Option<&Value> {
        match self {
            ParameterValue::Value(v) => Some(v),
            _ => None,
        }
    }

    /// A reference held as a lookup value (the Target of Delete, Retrieve, Assign, …).
    pub fn as_reference(&self) -> Option<&EntityReference> {
        match self {
            ParameterValue::Value(Value::Lookup(r)) => Some(r),
            _ => None,
        }
    }
}

impl<T: Into<Value>> From<T> for ParameterValue {
    fn from(v: T) -> Self {
        ParameterValue::Value(v.into())
    }
}

impl From<Entity> for ParameterValue {
    fn from(e: Entity) -> Self {
        ParameterValue::Entity(e)
    }
}

/// A named parameter collection (`ParameterCollection`).
pub type Parameters = BTreeMap<String, ParameterValue>;

/// The message names the sandbox knows, and the parameter names of their requests.
pub mod messages {
    pub const CREATE: &str = "Create";
    pub const RETRIEVE: &str = "Retrieve";
    pub const UPDATE: &str = "Update";
    pub const DELETE: &str = "Delete";
    pub const RETRIEVE_MULTIPLE: &str = "RetrieveMultiple";
    pub const ASSOCIATE: &str = "Associate";
    pub const DISASSOCIATE: &str = "Disassociate";
    pub const ASSIGN: &str = "Assign";
    pub const SET_STATE: &str = "SetState";
    pub const SET_STATE_DYNAMIC_ENTITY: &str = "SetStateDynamicEntity";
    pub const GRANT_ACCESS: &str = "GrantAccess";
    pub const MODIFY_ACCESS: &str = "ModifyAccess";
    pub const REVOKE_ACCESS: &str = "RevokeAccess";
    pub const WHO_AM_I: &str = "WhoAmI";
    pub const EXECUTE_MULTIPLE: &str = "ExecuteMultiple";
    pub const EXECUTE_TRANSACTION: &str = "ExecuteTransaction";
    pub const UPSERT: &str = "Upsert";
    pub const CREATE_MULTIPLE: &str = "CreateMultiple";
    pub const UPDATE_MULTIPLE: &str = "UpdateMultiple";
    pub const UPSERT_MULTIPLE: &str = "UpsertMultiple";
    pub const MERGE: &str = "Merge";
    pub const QUALIFY_LEAD: &str = "QualifyLead";
    pub const ADD_USER_TO_RECORD_TEAM: &str = "AddUserToRecordTeam";
    pub const REMOVE_USER_FROM_RECORD_TEAM: &str = "RemoveUserFromRecordTeam";
    pub const ADD_MEMBERS_TEAM: &str = "AddMembersTeam";
    pub const REMOVE_MEMBERS_TEAM: &str = "RemoveMembersTeam";
    pub const RETRIEVE_PRINCIPAL_ACCESS: &str = "RetrievePrincipalAccess";
    pub const RETRIEVE_USER_PRIVILEGES: &str = "RetrieveUserPrivileges";
    pub const SEND_EMAIL: &str = "SendEmail";
    pub const RETRIEVE_ENTITY: &str = "RetrieveEntity";
    pub const RETRIEVE_ATTRIBUTE: &str = "RetrieveAttribute";
    pub const RETRIEVE_ALL_ENTITIES: &str = "RetrieveAllEntities";
    pub const RETRIEVE_OPTION_SET: &str = "RetrieveOptionSet";

    /// Every message the pipeline runs itself (custom APIs aside): the one list that loaders, the import and
    /// the pipeline's dispatch agree on. A message is runnable when it is here or a custom API of the
    /// organization.
    pub const BUILT_IN: &[&str] = &[
        CREATE,
        RETRIEVE,
        UPDATE,
        DELETE,
        RETRIEVE_MULTIPLE,
        ASSOCIATE,
        DISASSOCIATE,
        ASSIGN,
        SET_STATE,
        GRANT_ACCESS,
        MODIFY_ACCESS,
        REVOKE_ACCESS,
        WHO_AM_I,
        EXECUTE_MULTIPLE,
        EXECUTE_TRANSACTION,
        UPSERT,
        CREATE_MULTIPLE,
        UPDATE_MULTIPLE,
        UPSERT_MULTIPLE,
        MERGE,
        QUALIFY_LEAD,
        ADD_USER_TO_RECORD_TEAM,
        REMOVE_USER_FROM_RECORD_TEAM,
        ADD_MEMBERS_TEAM,
        REMOVE_MEMBERS_TEAM,
        RETRIEVE_PRINCIPAL_ACCESS,
        RETRIEVE_USER_PRIVILEGES,
        SEND_EMAIL,
        RETRIEVE_ENTITY,
        RETRIEVE_ATTRIBUTE,
        RETRIEVE_ALL_ENTITIES,
        RETRIEVE_OPTION_SET,
    ];

    /// The messages that carry other requests: `ExecuteMultiple` and `ExecuteTransaction` (PIPE-17).
    pub const BATCHES: &[&str] = &[EXECUTE_MULTIPLE, EXECUTE_TRANSACTION];

    /// The bulk messages and the single message each merges with (PIPE-17): `CreateMultiple` with `Create`, ….
    pub const BULK: &[(&str, &str)] =
        &[(CREATE_MULTIPLE, CREATE), (UPDATE_MULTIPLE, UPDATE), (UPSERT_MULTIPLE, UPSERT)];

    /// The single message a bulk message merges with, and the other way round.
    pub fn merged_with(name: &str) -> Option<&'static str> {
        BULK.iter().find_map(|(multiple, single)| match name {
            n if n == *multiple => Some(*single),
            n if n == *single => Some(*multiple),
            _ => None,
        })
    }

    /// Whether the pipeline runs `name` itself.
    pub fn is_built_in(name: &str) -> bool {
        BUILT_IN.contains(&name)
    }

    /// Messages that are no request of their own here, but whose steps fire for another message: the platform
    /// fires steps registered on SetStateDynamicEntity for SetState (PIPE-1).
    pub const FIRED_FOR: &[(&str, &str)] = &[(SET_STATE_DYNAMIC_ENTITY, SET_STATE)];

    /// The message a step registered on `name` fires for: itself, or the message of `FIRED_FOR`.
    pub fn fires_for(name: &str) -> &str {
        FIRED_FOR.iter().find(|(step, _)| *step == name).map_or(name, |(_, request)| request)
    }

    /// Whether a step registered on `name` can fire without a custom API: a built-in message or one that
    /// fires for one.
    pub fn can_fire(name: &str) -> bool {
        is_built_in(fires_for(name))
    }

    pub const TARGET: &str = "Target";
    pub const COLUMN_SET: &str = "ColumnSet";
    pub const QUERY: &str = "Query";
    pub const RELATIONSHIP: &str = "Relationship";
    pub const RELATED_ENTITIES: &str = "RelatedEntities";
    pub const ASSIGNEE: &str = "Assignee";
    pub const STATE: &str = "State";
    pub const STATUS: &str = "Status";
    pub const PRINCIPAL_ACCESS: &str = "PrincipalAccess";
    pub const REVOKEE: &str = "Revokee";
    /// The request parameters of `ExecuteMultiple` and `ExecuteTransaction`.
    pub const REQUESTS: &str = "Requests";
    pub const SETTINGS: &str = "Settings";
    pub const RETURN_RESPONSES: &str = "ReturnResponses";
    /// The entities of `CreateMultiple`, `UpdateMultiple` and `UpsertMultiple`.
    pub const TARGETS: &str = "Targets";
    /// The response parameter of Create.
    pub const ID: &str = "id";
    /// The response parameter of Retrieve.
    pub const ENTITY: &str = "Entity";
    /// The response parameter of RetrieveMultiple.
    pub const ENTITY_COLLECTION: &str = "EntityCollection";
    /// A response parameter of WhoAmI: the user the request runs as.
    pub const USER_ID: &str = "UserId";
    /// A response parameter of WhoAmI: that user's business unit.
    pub const BUSINESS_UNIT_ID: &str = "BusinessUnitId";
    /// A response parameter of WhoAmI: the organization.
    pub const ORGANIZATION_ID: &str = "OrganizationId";
    /// The response parameters of `ExecuteMultiple` (`Responses`, `IsFaulted`) and `ExecuteTransaction`
    /// (`Responses`).
    pub const RESPONSES: &str = "Responses";
    pub const IS_FAULTED: &str = "IsFaulted";
    /// The response parameter of `CreateMultiple`.
    pub const IDS: &str = "Ids";
    /// The response parameters of `Upsert` (with `Target`).
    pub const RECORD_CREATED: &str = "RecordCreated";
    /// The response parameter of `UpsertMultiple`.
    pub const RESULTS: &str = "Results";
    /// The request parameters of `AddMembersTeam` and `RemoveMembersTeam`.
    pub const TEAM_ID: &str = "TeamId";
    pub const MEMBER_IDS: &str = "MemberIds";
    /// The request parameter of `RetrievePrincipalAccess`: the user or team asked about.
    pub const PRINCIPAL: &str = "Principal";
    /// The response parameter of `RetrievePrincipalAccess`: the `AccessRights` mask.
    pub const ACCESS_RIGHTS: &str = "AccessRights";
    /// The response parameter of `RetrieveUserPrivileges`.
    pub const ROLE_PRIVILEGES: &str = "RolePrivileges";
}

/// Any organization request: `OrganizationRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub message: String,
    pub parameters: Parameters,
}

impl Request {
    pub fn new(message: impl Into<String>) -> Self {
        Request { message: message.into(), parameters: Parameters::new() }
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<ParameterValue>) -> Self {
        self.parameters.insert(name.into(), value.into());
        self
    }

    pub fn create(target: Entity) -> Self {
        Request::new(messages::CREATE).with(messages::TARGET, target)
    }

    pub fn update(target: Entity) -> Self {
        Request::new(messages::UPDATE).with(messages::TARGET, target)
    }

    pub fn delete(target: EntityReference) -> Self {
        Request::new(messages::DELETE).with(messages::TARGET, target)
    }

    pub fn retrieve(target: EntityReference, columns: ColumnSet) -> Self {
        Request::new(messages::RETRIEVE)
            .with(messages::TARGET, target)
            .with(messages::COLUMN_SET, ParameterValue::ColumnSet(columns))
    }

    pub fn retrieve_multiple(query: Query) -> Self {
        Request::new(messages::RETRIEVE_MULTIPLE).with(messages::QUERY, ParameterValue::Query(query))
    }

    /// `Upsert`: creates the record, or updates it when its id or alternate key names one that exists.
    pub fn upsert(target: Entity) -> Self {
        Request::new(messages::UPSERT).with(messages::TARGET, target)
    }

    /// `ExecuteMultiple`: each request through its own pipeline, in order.
    pub fn execute_multiple(requests: Vec<Request>, settings: ExecuteMultipleSettings) -> Self {
        Request::new(messages::EXECUTE_MULTIPLE)
            .with(messages::REQUESTS, ParameterValue::Requests(requests))
            .with(messages::SETTINGS, ParameterValue::ExecuteMultipleSettings(settings))
    }

    /// `ExecuteTransaction`: the requests in one transaction, all or nothing.
    pub fn execute_transaction(requests: Vec<Request>, return_responses: bool) -> Self {
        Request::new(messages::EXECUTE_TRANSACTION)
            .with(messages::REQUESTS, ParameterValue::Requests(requests))
            .with(messages::RETURN_RESPONSES, return_responses)
    }

    /// A bulk message (`CreateMultiple`, `UpdateMultiple`, `UpsertMultiple`) on `targets`, all of one table.
    pub fn multiple(message: &str, targets: Vec<Entity>) -> Self {
        let entity_name = targets.first().map(|e| e.logical_name.clone()).unwrap_or_default();
        let collection = EntityCollection { entity_name, entities: targets, ..EntityCollection::default() };
        Request::new(message).with(messages::TARGETS, ParameterValue::EntityCollection(collection))
    }

    pub fn parameter(&self, name: &str) -> Option<&ParameterValue> {
        self.parameters.get(name)
    }

    /// The Target as an entity (Create, Update).
    pub fn target_entity(&self) -> Option<&Entity> {
        self.parameter(messages::TARGET).and_then(ParameterValue::as_entity)
    }

    /// The Target as a reference: the reference itself, or the entity's table and id.
    pub fn target_reference(&self) -> Option<EntityReference> {
        match self.parameter(messages::TARGET)? {
            ParameterValue::Entity(e) => Some(e.to_reference()),
            other => other.as_reference().cloned(),
        }
    }
}

/// The response to a request: `OrganizationResponse`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub message: String,
    pub results: Parameters,
}

impl Response {
    pub fn new(message: impl Into<String>) -> Self {
        Response { message: message.into(), results: Parameters::new() }
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<ParameterValue>) -> Self {
        self.results.insert(name.into(), value.into());
        self
    }
}
