//! JSON Schemas of the files the sandbox reads (`formats.md`), for editors to check and complete them as they
//! are typed. The schemas are derived from the very structs the loaders deserialize, so they cannot drift
//! from what is accepted; the parts that the loaders read by hand (values, entities, requests, queries) get the
//! hand-written schemas below, which follow `xrm_model::json::Reader`.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value as Json, json};
use xrm_model::{ConditionOperator, access_rights, messages};

/// The schema files `xrm-sandbox schema` writes: file name and schema.
pub fn schemas() -> Vec<(&'static str, Json)> {
    vec![
        ("org.schema.json", root::<crate::org::OrgFile>()),
        ("registrations.schema.json", root::<crate::suite::RegistrationsFile>()),
        ("suite.schema.json", root::<crate::suite::SuiteFile>()),
    ]
}

fn root<T: JsonSchema>() -> Json {
    let mut schema = SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>().to_value();
    unwrap_descriptions(&mut schema);
    let Json::Object(map) = schema else { return schema };
    // What a reader of the file wants first: which draft, and what the file is.
    let first = ["$schema", "title", "description"];
    let mut ordered: Map<String, Json> =
        first.iter().filter_map(|k| map.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
    for (key, value) in map {
        ordered.entry(key).or_insert(value);
    }
    Json::Object(ordered)
}

/// Doc comments wrap at the source's line width; editors show a description as one paragraph, so single line
/// breaks become spaces (blank lines stay paragraph breaks).
fn unwrap_descriptions(v: &mut Json) {
    match v {
        Json::Object(obj) => {
            for (key, item) in obj.iter_mut() {
                match item {
                    Json::String(text) if key == "description" => *text = unwrap_lines(text),
                    other => unwrap_descriptions(other),
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

fn unwrap_lines(text: &str) -> String {
    text.split("\n\n").map(|paragraph| paragraph.replace('\n', " ")).collect::<Vec<_>>().join("\n\n")
}

/// A schema from its JSON form (an object or a boolean).
pub(crate) fn object(v: Json) -> Schema {
    match v {
        Json::Object(map) => Schema::from(map),
        Json::Bool(b) => Schema::from(b),
        _ => Schema::default(),
    }
}

/// Declares a schema for a part the loaders read by hand: an uninhabited marker type, named in `$defs`, for
/// `#[schemars(with = …)]` on the raw `serde_json::Value` field that holds the part.
macro_rules! form {
    ($(#[$doc:meta])* $ty:ident, $name:literal, |$g:ident| $body:expr) => {
        $(#[$doc])*
        pub(crate) enum $ty {}

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn json_schema($g: &mut SchemaGenerator) -> Schema {
                object($body)
            }
        }
    };
}

const HEX: &str = "[0-9A-Fa-f]";

/// The texts `Uuid::parse_str` accepts (plain, hyphenated, braced, URN), or `@alias`.
fn guid_pattern() -> String {
    let hyphenated = format!("{HEX}{{8}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{12}}");
    format!("^(@.+|{HEX}{{32}}|{hyphenated}|\\{{{hyphenated}\\}}|urn:uuid:{hyphenated})$")
}

fn int32() -> Json {
    json!({ "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX })
}

fn uint32() -> Json {
    json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX })
}

/// An object with exactly one key, as the typed values are.
fn tagged(tag: &str, inner: impl serde::Serialize, description: &str) -> Json {
    json!({
        "type": "object",
        "description": description,
        "properties": { tag: inner },
        "required": [tag],
        "additionalProperties": false,
    })
}

form!(
    /// A GUID, or `@alias` for the GUID of a user, team, business unit, role or saved record.
    GuidForm,
    "Guid",
    |_g| json!({
        "type": "string",
        "description": "A GUID, or `@alias` for the GUID of a user, team, business unit, role or saved record.",
        "pattern": guid_pattern(),
    })
);

form!(
    /// Decimal text such as `"12.50"`, or a JSON number.
    DecimalForm,
    "Decimal",
    |_g| json!({
        "description": "Decimal text such as \"12.50\", or a JSON number.",
        "anyOf": [ { "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" }, { "type": "number" } ],
    })
);

form!(
    /// `{"@ref": "account", "id": "<guid or alias>"}`, with an optional `name`.
    ReferenceForm,
    "Reference",
    |g| json!({
        "type": "object",
        "description": "A reference to a record (EntityReference): its table and id, or the values of one of \
            its table's alternate keys.",
        "properties": {
            "@ref": { "type": "string", "description": "The table's logical name, such as `account`." },
            "id": g.subschema_for::<GuidForm>(),
            "name": { "type": ["string", "null"], "description": "The record's primary name (optional)." },
            "keys": g.subschema_for::<KeysForm>(),
        },
        "required": ["@ref"],
        "anyOf": [ { "required": ["id"] }, { "required": ["keys"] } ],
        "additionalProperties": false,
    })
);

form!(
    /// A column value (`formats.md`, "Values").
    ValueForm,
    "Value",
    |g| json!({
        "description": "A column value: text, a number, a boolean, null (clears the column), or a typed value \
            such as {\"@money\": \"12.50\"}, {\"@option\": 1} or a lookup {\"@ref\": \"account\", \"id\": \"@alias\"}, or a party \
            list: an array of activityparty records.",
        "anyOf": [
            { "type": ["string", "number", "boolean", "null"] },
            tagged("@decimal", g.subschema_for::<DecimalForm>(), "A decimal number."),
            tagged("@money", g.subschema_for::<DecimalForm>(), "An amount of money."),
            tagged("@datetime", json!({ "type": "string", "format": "date-time" }), "An RFC 3339 date and time."),
            tagged("@guid", g.subschema_for::<GuidForm>(), "A unique identifier."),
            tagged("@option", int32(), "A choice (option set value)."),
            tagged("@options", json!({ "type": "array", "items": int32() }), "Choices (multi-select option set)."),
            tagged(
                "@aliased",
                json!({
                    "type": "object",
                    "properties": {
                        "entity": { "type": "string", "description": "The table the value was read from." },
                        "attribute": { "type": "string", "description": "The column the value was read from." },
                        "value": { "description": "The value itself (any value but an aliased one)." },
                    },
                    "required": ["entity", "attribute", "value"],
                    "additionalProperties": false,
                }),
                "An AliasedValue (QRY-10): what a query returns for a link-entity's column or under a FetchXML \
                    column alias; in expectations only, a write refuses it.",
            ),
            g.subschema_for::<ReferenceForm>(),
            {
                "type": "array",
                "items": { "type": "object" },
                "description": "A party list (ACT-1): activityparty records ({\"@logicalname\": \"activityparty\", \
                    \"partyid\": …}), each with a partyid or an addressused; in an assertion, the columns each party \
                    must have.",
            },
        ],
    })
);

form!(
    /// The values of an alternate key's columns: `{"accountnumber": "A-1"}`.
    KeysForm,
    "Keys",
    |g| json!({
        "type": "object",
        "description": "The record's alternate key: each column of one of the table's `keys` and its value \
            (KeyAttributes).",
        "minProperties": 1,
        "additionalProperties": g.subschema_for::<ValueForm>(),
    })
);

/// An entity's keys: `@logicalname`, `@id`, `extra` and columns; no other `@` key.
fn entity(g: &mut SchemaGenerator, extra: &[(&str, Json)], description: &str) -> Json {
    let mut properties = json!({
        "@logicalname": { "type": "string", "description": "The table's logical name, such as `account`." },
        "@id": g.subschema_for::<GuidForm>(),
    });
    if let Some(obj) = properties.as_object_mut() {
        obj.extend(extra.iter().map(|(key, schema)| ((*key).to_owned(), schema.clone())));
    }
    json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": ["@logicalname"],
        "patternProperties": { "^[^@]": g.subschema_for::<ValueForm>() },
        "additionalProperties": false,
    })
}

form!(
    /// An entity: `{"@logicalname": …, "@id": …, column: value, …}`.
    EntityForm,
    "Entity",
    |g| {
        let keys = g.subschema_for::<KeysForm>().to_value();
        let formatted = json!({
            "type": "object",
            "description": "Formatted values by column (QRY-7): a write ignores them.",
            "additionalProperties": { "type": "string" },
        });
        entity(
            g,
            &[("@keys", keys), ("@formatted", formatted)],
            "A record: its table, optionally its id or alternate key (`@keys`), and its columns as keys.",
        )
    }
);

form!(
    /// A record of the organization file: an entity that may be given an `@alias`.
    RecordForm,
    "Record",
    |g| entity(
        g,
        &[("@alias", json!({ "type": "string", "description": "Names the record for `@alias` references." }))],
        "A record the organization starts with: its table, optionally its id or alias, and its columns as keys."
    )
);

form!(
    /// `["name", "revenue"]`, or `"all"`.
    ColumnSetForm,
    "ColumnSet",
    |_g| json!({
        "description": "The columns to read: a list of column names, or \"all\".",
        "anyOf": [ { "const": "all" }, { "type": "array", "items": { "type": "string" } } ],
    })
);

form!(
    /// A parameter of a message: an entity, a list of entities, references or GUIDs, or a column value.
    ParameterForm,
    "Parameter",
    |g| json!({
        "anyOf": [
            g.subschema_for::<EntityForm>(),
            { "type": "array", "items": g.subschema_for::<ReferenceForm>() },
            { "type": "array", "items": g.subschema_for::<EntityForm>() },
            { "type": "array", "description": "A list of GUIDs (`Guid[]`, such as AddMembersTeam's `MemberIds`).",
              "items": { "type": "object", "properties": { "@guid": { "type": "string" } }, "required": ["@guid"],
                         "additionalProperties": false } },
            g.subschema_for::<ValueForm>(),
        ],
    })
);

form!(
    /// A condition of a filter.
    ConditionForm,
    "Condition",
    |g| {
        let operators: Vec<Json> = ConditionOperator::ALL
            .iter()
            .flat_map(|(_, fetch, sdk)| [json!(fetch), json!(sdk)])
            .chain([Json::Null])
            .collect();
        json!({
            "type": "object",
            "description": "A condition on one column; give `attribute` or `attributename`, not both.",
            "properties": {
                "attribute": { "type": "string" },
                "attributename": { "type": "string" },
                "entityname": { "type": ["string", "null"], "description": "The alias of the link-entity the column belongs to." },
                "operator": { "enum": operators, "description": "The FetchXML or SDK name of the operator (default `eq`)." },
                "value": g.subschema_for::<ValueForm>(),
                "values": { "type": "array", "items": g.subschema_for::<ValueForm>() },
            },
            "oneOf": [ { "required": ["attribute"] }, { "required": ["attributename"] } ],
            "additionalProperties": false,
        })
    }
);

form!(
    /// A filter: conditions and nested filters joined by `and` or `or`.
    FilterForm,
    "Filter",
    |g| json!({
        "type": "object",
        "description": "Conditions and nested filters, joined by `filteroperator` (default `and`).",
        "properties": {
            "filteroperator": { "enum": ["and", "And", "or", "Or"] },
            "conditions": { "type": "array", "items": g.subschema_for::<ConditionForm>() },
            "filters": { "type": "array", "items": g.subschema_for::<FilterForm>() },
        },
        "additionalProperties": false,
    })
);

form!(
    /// A sort order of a query.
    OrderForm,
    "Order",
    |_g| json!({
        "type": "object",
        "properties": {
            "attribute": { "type": "string" },
            "attributename": { "type": "string" },
            "descending": { "type": "boolean" },
            "entityname": { "type": ["string", "null"] },
        },
        "anyOf": [ { "required": ["attribute"] }, { "required": ["attributename"] } ],
        "additionalProperties": false,
    })
);

/// Every spelling the query reader takes: FetchXML's `link-type` (also without its space), the SDK's name,
/// `leftouter`, or none.
fn join_operators() -> Vec<Json> {
    let mut names: Vec<Json> = vec!["leftouter".into(), Json::Null];
    for (_, fetch, sdk) in xrm_model::JoinOperator::ALL {
        names.push(fetch.into());
        names.push(sdk.into());
        if fetch.contains(' ') {
            names.push(fetch.replace(' ', "").into());
        }
    }
    names
}

form!(
    /// A link-entity (join) of a query.
    LinkEntityForm,
    "LinkEntity",
    |g| json!({
        "type": "object",
        "properties": {
            "linkfromattributename": { "type": "string" },
            "linktoentityname": { "type": "string" },
            "linktoattributename": { "type": "string" },
            "joinoperator": { "enum": join_operators() },
            "entityalias": { "type": ["string", "null"] },
            "columns": g.subschema_for::<ColumnSetForm>(),
            "linkcriteria": g.subschema_for::<FilterForm>(),
            "linkentities": { "type": "array", "items": g.subschema_for::<LinkEntityForm>() },
        },
        "required": ["linkfromattributename", "linktoentityname", "linktoattributename"],
        "additionalProperties": false,
    })
);

form!(
    /// `{"fetchxml": "<fetch …>"}`, a QueryByAttribute or a QueryExpression in JSON.
    QueryForm,
    "Query",
    |g| json!({
        "description": "A query: {\"fetchxml\": \"<fetch …>\"}, a QueryByAttribute ({\"entityname\": …, \"attributes\": […], \"values\": […]}, QRY-8), or a QueryExpression in JSON.",
        "anyOf": [
            {
                "type": "object",
                "properties": { "fetchxml": { "type": "string", "description": "FetchXML text." } },
                "required": ["fetchxml"],
                "additionalProperties": false,
            },
            {
                "type": "object",
                "properties": {
                    "entityname": { "type": "string", "description": "The table queried." },
                    "columns": g.subschema_for::<ColumnSetForm>(),
                    "criteria": g.subschema_for::<FilterForm>(),
                    "orders": { "type": "array", "items": g.subschema_for::<OrderForm>() },
                    "top": uint32(),
                    "pageinfo": paging_info(),
                    "linkentities": { "type": "array", "items": g.subschema_for::<LinkEntityForm>() },
                    "distinct": { "type": "boolean" },
                },
                "required": ["entityname"],
                "additionalProperties": false,
            },
            {
                "type": "object",
                "description": "A QueryByAttribute (QRY-8): the records whose `attributes` equal `values` (one value each; null matches an empty column).",
                "properties": {
                    "entityname": { "type": "string", "description": "The table queried." },
                    "attributes": { "type": "array", "items": { "type": "string" }, "minItems": 1 },
                    "values": { "type": "array", "items": g.subschema_for::<ValueForm>() },
                    "columns": g.subschema_for::<ColumnSetForm>(),
                    "orders": { "type": "array", "items": g.subschema_for::<OrderForm>() },
                    "top": uint32(),
                    "pageinfo": paging_info(),
                },
                "required": ["entityname", "attributes", "values"],
                "additionalProperties": false,
            },
        ],
    })
);

/// `PagingInfo`: a page by number and count (and cookie), or the total record count alone (QRY-9).
fn paging_info() -> Json {
    json!({
        "type": "object",
        "properties": {
            "pagenumber": uint32(),
            "count": uint32(),
            "pagingcookie": { "type": ["string", "null"] },
            "returntotalrecordcount": {
                "type": "boolean",
                "description": "Answer `totalrecordcount`: the matches, up to 5,000 (QRY-9).",
            },
        },
        "anyOf": [ { "required": ["pagenumber", "count"] }, { "required": ["returntotalrecordcount"] } ],
        "additionalProperties": false,
    })
}

/// `"ReadAccess|WriteAccess"`: access right names joined by `|`.
fn access_mask_pattern() -> String {
    let names: Vec<&str> = access_rights::NAMES.iter().map(|(_, name)| *name).collect();
    let one = format!("\\s*({})\\s*", names.join("|"));
    format!("^{one}(\\|{one})*$")
}

/// Requires `then` of a request whose `message` is one of `names`.
fn when_message(names: &[&str], then: Json) -> Json {
    json!({ "if": { "properties": { "message": { "enum": names } }, "required": ["message"] }, "then": then })
}

form!(
    /// A request in the suite's shape: `{"message": "Create", "target": …, …}`.
    RequestForm,
    "Request",
    |g| json!({
        "type": "object",
        "description": "An organization service request: the message and its parameters.",
        "properties": {
            "message": {
                "type": "string",
                "description": "The message: Create, Retrieve, Update, Delete, RetrieveMultiple, Associate, \
                    Disassociate, Assign, SetState, GrantAccess, ModifyAccess, RevokeAccess, Upsert, \
                    ExecuteMultiple, ExecuteTransaction, CreateMultiple, UpdateMultiple, UpsertMultiple, \
                    AddMembersTeam, RemoveMembersTeam, RetrievePrincipalAccess, RetrieveUserPrivileges, … \
                    (docs/reference/messages.md), or a custom API's unique name.",
                "examples": [messages::CREATE, messages::UPDATE, messages::DELETE, messages::RETRIEVE,
                             messages::RETRIEVE_MULTIPLE],
            },
            "target": {
                "description": "The record: an entity for Create, Update and Upsert (Update needs `@id` or \
                    `@keys`), a reference otherwise.",
                "anyOf": [g.subschema_for::<EntityForm>(), g.subschema_for::<ReferenceForm>()],
            },
            "columns": g.subschema_for::<ColumnSetForm>(),
            "query": g.subschema_for::<QueryForm>(),
            "relationship": { "type": "string", "description": "The relationship's schema name." },
            "related": {
                "description": "The records to associate or disassociate.",
                "anyOf": [g.subschema_for::<ReferenceForm>(),
                          { "type": "array", "items": g.subschema_for::<ReferenceForm>() }],
            },
            "assignee": g.subschema_for::<ReferenceForm>(),
            "state": int32(),
            "status": int32(),
            "principal": g.subschema_for::<ReferenceForm>(),
            "accessmask": {
                "type": "string",
                "description": "Access right names joined by `|`, such as \"ReadAccess|WriteAccess\".",
                "pattern": access_mask_pattern(),
            },
            "revokee": g.subschema_for::<ReferenceForm>(),
            "parameters": {
                "type": "object",
                "description": "The parameters of a custom message, by name.",
                "additionalProperties": g.subschema_for::<ParameterForm>(),
            },
            "requests": {
                "type": "array",
                "description": "The requests of an ExecuteMultiple or ExecuteTransaction, run in order.",
                "items": g.subschema_for::<RequestForm>(),
            },
            "settings": {
                "type": "object",
                "description": "ExecuteMultiple's settings (each false when left out).",
                "properties": {
                    "continueonerror": { "type": "boolean", "description": "Go on after a request fails." },
                    "returnresponses": { "type": "boolean", "description": "Return the responses of the \
                        requests that succeed (faults are always returned)." },
                },
                "additionalProperties": false,
            },
            "returnresponses": {
                "type": "boolean",
                "description": "ExecuteTransaction: return each request's response (default false).",
            },
            "targets": {
                "type": "array",
                "description": "The records of a CreateMultiple, UpdateMultiple or UpsertMultiple, all of one table.",
                "items": g.subschema_for::<EntityForm>(),
            },
        },
        "required": ["message"],
        "dependentRequired": { "principal": ["accessmask"] },
        "allOf": [
            when_message(xrm_model::json::TARGETED, json!({ "required": ["target"] })),
            when_message(&[messages::RETRIEVE_MULTIPLE], json!({ "required": ["query"] })),
            when_message(&[messages::UPDATE], json!({ "properties": { "target": {
                "anyOf": [ { "required": ["@id"] }, { "required": ["@keys"] } ] } } })),
            when_message(messages::BATCHES, json!({ "required": ["requests"] })),
            when_message(&[messages::CREATE_MULTIPLE, messages::UPDATE_MULTIPLE, messages::UPSERT_MULTIPLE],
                         json!({ "required": ["targets"] })),
        ],
        "additionalProperties": false,
    })
);

form!(
    /// What an expectation compares with: any JSON, matched as `formats.md` says (aliases stand for GUIDs, an
    /// object matches the keys it names).
    ExpectedForm,
    "Expected",
    |_g| json!({
        "description": "The expected value: a column value, an `@alias` for a GUID or lookup, an entity or a list; \
            an object matches on the keys it names.",
    })
);

form!(
    /// A step's configuration: text passed as it is, or a JSON value passed as its JSON text.
    ConfigurationForm,
    "Configuration",
    |_g| json!({
        "description": "Passed to the plug-in's constructor: a string as it is, or any other JSON value as its \
            JSON text, with every \"@alias\" string replaced by the GUID it stands for.",
    })
);
