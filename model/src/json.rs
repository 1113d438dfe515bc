//! The JSON form of values, entities, requests and queries (`formats.md`, "Values" and "Suite").
//!
//! Reading reports every error with the JSON path where it happened and what was expected. GUID positions
//! accept `@alias`, resolved through the reader's resolver.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value as Json, json};
use uuid::Uuid;

use crate::query::{
    ColumnSet, ConditionExpression, ConditionOperator, FilterExpression, JoinOperator, LinkEntity, LogicalOperator,
    OrderExpression, PagingInfo, Query, QueryByAttribute, QueryExpression,
};
use crate::request::{EntityCollection, ParameterValue, PrincipalAccess, Request, Response, access_rights, messages};
use crate::value::{AliasedValue, Entity, EntityReference, KeyAttributes, Value};

mod batch;
mod metadata;

/// Where a JSON value sits in its document; rendered only when an error is reported.
#[derive(Clone, Copy)]
pub enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub fn index(&'a self, index: usize) -> Path<'a> {
        Path::Index(self, index)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(root) => f.write_str(root),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// An error in a JSON document: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub path: String,
    pub message: String,
}

impl JsonError {
    pub fn new(path: &Path<'_>, message: impl Into<String>) -> Self {
        JsonError { path: path.to_string(), message: message.into() }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at `{}`: {}", self.path, self.message)
    }
}

impl std::error::Error for JsonError {}

pub type Result<T> = std::result::Result<T, JsonError>;

/// Short name of a JSON value's kind, for error messages.
pub fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

fn expected(path: &Path<'_>, what: &str, got: &Json) -> JsonError {
    JsonError::new(path, format!("expected {what}, found {}", kind(got)))
}

/// Reads the JSON form into model types, resolving `@alias` through `resolve`.
pub struct Reader<'r> {
    resolve: &'r dyn Fn(&str) -> Option<Uuid>,
    /// Where unknown aliases go instead of failing the read, when a loader wants them all.
    unknown: Option<&'r std::cell::RefCell<Vec<UnknownAlias>>>,
}

/// An alias the resolver did not know, and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlias {
    pub path: String,
    /// As written, with its `@`.
    pub alias: String,
}

impl Default for Reader<'static> {
    fn default() -> Self {
        Reader { resolve: &|_| None, unknown: None }
    }
}

impl<'r> Reader<'r> {
    /// `resolve` gets an alias without its `@` and returns the GUID it stands for.
    pub fn new(resolve: &'r dyn Fn(&str) -> Option<Uuid>) -> Self {
        Reader { resolve, unknown: None }
    }

    /// A reader that reads an unknown alias as the nil GUID and notes it in `unknown`, so that one read
    /// finds every unknown alias of a document along with its other errors.
    pub fn noting_unknown(
        resolve: &'r dyn Fn(&str) -> Option<Uuid>,
        unknown: &'r std::cell::RefCell<Vec<UnknownAlias>>,
    ) -> Self {
        Reader { resolve, unknown: Some(unknown) }
    }

    /// A GUID in text, or `@alias`.
    pub fn guid(&self, v: &Json, path: &Path<'_>) -> Result<Uuid> {
        let text = v.as_str().ok_or_else(|| expected(path, "a GUID or `@alias`", v))?;
        self.guid_text(text, path)
    }

    pub fn guid_text(&self, text: &str, path: &Path<'_>) -> Result<Uuid> {
        if let Some(alias) = text.strip_prefix('@') {
            return match ((self.resolve)(alias), self.unknown) {
                (Some(id), _) => Ok(id),
                (None, Some(unknown)) => {
                    unknown.borrow_mut().push(UnknownAlias { path: path.to_string(), alias: text.to_owned() });
                    Ok(Uuid::nil())
                }
                (None, None) => Err(JsonError::new(path, format!("unknown alias `{text}`"))),
            };
        }
        Uuid::parse_str(text).map_err(|_| JsonError::new(path, format!("`{text}` is not a GUID or an `@alias`")))
    }

    /// `{"@ref": "account", "id": "<guid or alias>"}`, with an optional `name`; or a reference by alternate key,
    /// `{"@ref": "account", "keys": {"accountnumber": "A-1"}}`.
    pub fn reference(&self, v: &Json, path: &Path<'_>) -> Result<EntityReference> {
        let obj = v.as_object().ok_or_else(|| expected(path, "a reference `{\"@ref\": …, \"id\": …}`", v))?;
        check_keys(obj, &["@ref", "id", "name", "keys"], path)?;
        let table = required_str(obj, "@ref", path)?;
        let key_attributes = match obj.get("keys") {
            Some(keys) => self.key_attributes(keys, &path.key("keys"))?,
            None => KeyAttributes::new(),
        };
        let id = match obj.get("id") {
            Some(id) => self.guid(id, &path.key("id"))?,
            None if !key_attributes.is_empty() => Uuid::nil(),
            None => return Err(JsonError::new(path, "missing `id` (or `keys`, to name the record by alternate key)")),
        };
        let name = optional_str(obj, "name", path)?.map(str::to_owned);
        Ok(EntityReference { logical_name: table.to_owned(), id, name, key_attributes })
    }

    /// `{"column": value, …}`: the values of an alternate key's columns (`KeyAttributeCollection`).
    pub fn key_attributes(&self, v: &Json, path: &Path<'_>) -> Result<KeyAttributes> {
        let obj = v.as_object().ok_or_else(|| expected(path, "key columns and values `{\"column\": value}`", v))?;
        if obj.is_empty() {
            return Err(JsonError::new(path, "no key columns (name at least one column of an alternate key)"));
        }
        obj.iter().map(|(column, value)| Ok((column.clone(), self.value(value, &path.key(column))?))).collect()
    }

    /// A column value (`formats.md`, "Values").
    pub fn value(&self, v: &Json, path: &Path<'_>) -> Result<Value> {
        Ok(match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Boolean(*b),
            Json::String(s) => Value::Text(s.clone()),
            Json::Number(n) => match n.as_i64() {
                Some(i) => i32::try_from(i).map_or(Value::BigInt(i), Value::Integer),
                None => Value::Double(n.as_f64().unwrap_or_default()),
            },
            // A party list (ACT-1): `[{"@logicalname": "activityparty", "partyid": …}, …]`.
            Json::Array(items) => {
                let parties = items.iter().enumerate().map(|(i, item)| self.entity(item, &path.index(i)));
                Value::EntityCollection(parties.collect::<Result<Vec<_>>>()?)
            }
            Json::Object(obj) => self.tagged_value(obj, v, path)?,
        })
    }

    fn tagged_value(&self, obj: &Map<String, Json>, v: &Json, path: &Path<'_>) -> Result<Value> {
        if obj.contains_key("@ref") {
            return self.reference(v, path).map(Value::Lookup);
        }
        let (tag, inner) = match obj.iter().next() {
            Some((tag, inner)) if obj.len() == 1 => (tag.as_str(), inner),
            _ => return Err(JsonError::new(path, "expected a typed value such as `{\"@money\": \"12.50\"}`")),
        };
        let inner_path = path.key(tag);
        match tag {
            "@decimal" | "@money" => {
                let text = decimal_text(inner, &inner_path)?;
                Ok(if tag == "@money" { Value::Money(text) } else { Value::Decimal(text) })
            }
            "@datetime" => {
                let text = inner.as_str().ok_or_else(|| expected(&inner_path, "an RFC 3339 date and time", inner))?;
                parse_datetime(text)
                    .map(Value::DateTime)
                    .ok_or_else(|| JsonError::new(&inner_path, format!("`{text}` is not an RFC 3339 date and time")))
            }
            "@guid" => self.guid(inner, &inner_path).map(Value::Guid),
            "@option" => int32(inner, &inner_path).map(Value::Choice),
            "@options" => {
                let items = inner.as_array().ok_or_else(|| expected(&inner_path, "a list of numbers", inner))?;
                let values = items.iter().enumerate().map(|(i, item)| int32(item, &inner_path.index(i)));
                values.collect::<Result<Vec<_>>>().map(Value::Choices)
            }
            "@aliased" => self.aliased(inner, &inner_path).map(Value::Aliased),
            _ => Err(JsonError::new(
                path,
                format!(
                    "unknown value type `{tag}` (expected @decimal, @money, @datetime, @guid, @option, @options, @aliased or @ref)"
                ),
            )),
        }
    }

    /// The inside of `{"@aliased": {"entity": "contact", "attribute": "fullname", "value": "Carl"}}`: an
    /// `AliasedValue` (QRY-10); its value is any other value.
    fn aliased(&self, v: &Json, path: &Path<'_>) -> Result<AliasedValue> {
        let form = "`{\"entity\": …, \"attribute\": …, \"value\": …}`";
        let obj = v.as_object().ok_or_else(|| expected(path, form, v))?;
        check_keys(obj, &["entity", "attribute", "value"], path)?;
        let entity = required_str(obj, "entity", path)?;
        let attribute = required_str(obj, "attribute", path)?;
        let inner = obj.get("value").ok_or_else(|| JsonError::new(path, "missing `value`"))?;
        let value = self.value(inner, &path.key("value"))?;
        if let Value::Aliased(_) = value {
            return Err(JsonError::new(&path.key("value"), "an aliased value can't hold another aliased value"));
        }
        Ok(AliasedValue::new(entity, attribute, value))
    }

    /// An entity: `{"@logicalname": …, "@id": …, "@keys": {…}, "@formatted": {…}, column: value, …}`.
    pub fn entity(&self, v: &Json, path: &Path<'_>) -> Result<Entity> {
        let obj = v.as_object().ok_or_else(|| expected(path, "an entity `{\"@logicalname\": …}`", v))?;
        let table = required_str(obj, "@logicalname", path)?;
        let mut entity = Entity::new(table);
        for (key, item) in obj {
            match key.as_str() {
                "@logicalname" => {}
                "@id" => entity.id = Some(self.guid(item, &path.key(key))?),
                "@keys" => entity.key_attributes = self.key_attributes(item, &path.key(key))?,
                "@formatted" => entity.formatted_values = formatted(item, &path.key(key))?,
                k if k.starts_with('@') => {
                    return Err(JsonError::new(
                        &path.key(key),
                        "unknown key (expected `@logicalname`, `@id`, `@keys`, `@formatted` or a column)",
                    ));
                }
                column => {
                    let value = self.value(item, &path.key(key))?;
                    entity.attributes.insert(column.to_owned(), value);
                }
            }
        }
        Ok(entity)
    }

    /// A parameter value: an entity, a list of entities or references, or a column value.
    pub fn parameter_value(&self, v: &Json, path: &Path<'_>) -> Result<ParameterValue> {
        match v {
            Json::Object(obj) if obj.contains_key("@logicalname") => self.entity(v, path).map(ParameterValue::Entity),
            Json::Array(items) if items.first().is_some_and(|i| i.get("@ref").is_some()) => {
                let refs = items.iter().enumerate().map(|(i, item)| self.reference(item, &path.index(i)));
                refs.collect::<Result<Vec<_>>>().map(ParameterValue::EntityReferences)
            }
            // `Guid[]` (the `MemberIds` of AddMembersTeam): `[{"@guid": "@alice"}, …]`.
            Json::Array(items) if items.first().is_some_and(|i| i.get("@guid").is_some()) => {
                let ids = items.iter().enumerate().map(|(i, item)| match self.value(item, &path.index(i))? {
                    Value::Guid(id) => Ok(id),
                    _ => Err(expected(&path.index(i), "a GUID `{\"@guid\": …}`", item)),
                });
                ids.collect::<Result<Vec<_>>>().map(ParameterValue::Guids)
            }
            Json::Array(items) => {
                let entities = items.iter().enumerate().map(|(i, item)| self.entity(item, &path.index(i)));
                let entities = entities.collect::<Result<Vec<_>>>()?;
                let entity_name = entities.first().map(|e| e.logical_name.clone()).unwrap_or_default();
                Ok(ParameterValue::EntityCollection(EntityCollection { entity_name, entities, ..Default::default() }))
            }
            _ => self.value(v, path).map(ParameterValue::Value),
        }
    }

    /// A request in the suite's shape: `{"message": "Create", "target": …, …}`.
    pub fn request(&self, v: &Json, path: &Path<'_>) -> Result<Request> {
        let obj = v.as_object().ok_or_else(|| expected(path, "a request `{\"message\": …}`", v))?;
        check_keys(obj, REQUEST_KEYS, path)?;
        let message = required_str(obj, "message", path)?;
        let mut request = Request::new(message);
        let params = &mut request.parameters;
        if let Some(target) = obj.get("target") {
            let tpath = path.key("target");
            let value = match message {
                messages::CREATE | messages::UPDATE | messages::UPSERT => {
                    ParameterValue::Entity(self.entity(target, &tpath)?)
                }
                _ if target.get("@logicalname").is_some() => ParameterValue::Entity(self.entity(target, &tpath)?),
                _ => ParameterValue::Value(Value::Lookup(self.reference(target, &tpath)?)),
            };
            if message == messages::UPDATE
                && value.as_entity().is_some_and(|e| e.id.is_none() && e.key_attributes.is_empty())
            {
                return Err(JsonError::new(&tpath, "an Update target needs `@id` (or `@keys`)"));
            }
            params.insert(messages::TARGET.into(), value);
        } else if TARGETED.contains(&message) {
            return Err(JsonError::new(path, format!("a {message} request needs `target`")));
        }
        if let Some(cols) = obj.get("columns") {
            params.insert(
                messages::COLUMN_SET.into(),
                ParameterValue::ColumnSet(column_set(cols, &path.key("columns"))?),
            );
        } else if message == messages::RETRIEVE {
            params.insert(messages::COLUMN_SET.into(), ParameterValue::ColumnSet(ColumnSet::AllColumns));
        }
        if let Some(q) = obj.get("query") {
            params.insert(messages::QUERY.into(), ParameterValue::Query(self.query(q, &path.key("query"))?));
        } else if message == messages::RETRIEVE_MULTIPLE {
            return Err(JsonError::new(path, "a RetrieveMultiple request needs `query`"));
        }
        if let Some(rel) = obj.get("relationship") {
            let name = rel.as_str().ok_or_else(|| expected(&path.key("relationship"), "a relationship name", rel))?;
            params.insert(messages::RELATIONSHIP.into(), ParameterValue::Relationship(name.to_owned()));
        }
        if let Some(related) = obj.get("related") {
            let rpath = path.key("related");
            let items = match related {
                Json::Array(items) => {
                    items.iter().enumerate().map(|(i, r)| self.reference(r, &rpath.index(i))).collect::<Result<_>>()?
                }
                single => vec![self.reference(single, &rpath)?],
            };
            params.insert(messages::RELATED_ENTITIES.into(), ParameterValue::EntityReferences(items));
        }
        for (key, name) in [("assignee", messages::ASSIGNEE), ("revokee", messages::REVOKEE)] {
            if let Some(r) = obj.get(key) {
                params.insert(name.into(), ParameterValue::Value(Value::Lookup(self.reference(r, &path.key(key))?)));
            }
        }
        for (key, name) in [("state", messages::STATE), ("status", messages::STATUS)] {
            if let Some(n) = obj.get(key) {
                params.insert(name.into(), ParameterValue::Value(Value::Choice(int32(n, &path.key(key))?)));
            }
        }
        if let Some(principal) = obj.get("principal") {
            let principal = self.reference(principal, &path.key("principal"))?;
            let mask = match obj.get("accessmask") {
                Some(m) => access_mask(m, &path.key("accessmask"))?,
                None => return Err(JsonError::new(path, "`principal` needs `accessmask`")),
            };
            params.insert(
                messages::PRINCIPAL_ACCESS.into(),
                ParameterValue::PrincipalAccess(PrincipalAccess { principal, access_mask: mask }),
            );
        }
        self.batch_parameters(obj, message, path, params)?;
        if let Some(extra) = obj.get("parameters") {
            let ppath = path.key("parameters");
            let extra = extra.as_object().ok_or_else(|| expected(&ppath, "an object of parameters", extra))?;
            for (name, value) in extra {
                params.insert(name.clone(), self.parameter_value(value, &ppath.key(name))?);
            }
        }
        Ok(request)
    }

    /// `{"fetchxml": "<fetch …>"}`, a QueryByAttribute (`attributes` and `values`) or a QueryExpression in JSON.
    pub fn query(&self, v: &Json, path: &Path<'_>) -> Result<Query> {
        let obj = v.as_object().ok_or_else(|| expected(path, "a query", v))?;
        if let Some(fetch) = obj.get("fetchxml") {
            check_keys(obj, &["fetchxml"], path)?;
            let text = fetch.as_str().ok_or_else(|| expected(&path.key("fetchxml"), "FetchXML text", fetch))?;
            return Ok(Query::FetchXml(text.to_owned()));
        }
        if obj.contains_key("attributes") {
            return self.query_by_attribute(obj, path).map(Query::ByAttribute);
        }
        check_keys(
            obj,
            &["entityname", "columns", "criteria", "orders", "top", "pageinfo", "linkentities", "distinct"],
            path,
        )?;
        let mut q = QueryExpression::new(required_str(obj, "entityname", path)?);
        if let Some(cols) = obj.get("columns") {
            q.column_set = column_set(cols, &path.key("columns"))?;
        }
        if let Some(c) = obj.get("criteria") {
            q.criteria = self.filter(c, &path.key("criteria"))?;
        }
        if let Some(orders) = obj.get("orders") {
            q.orders = list(orders, &path.key("orders"), order)?;
        }
        if let Some(top) = obj.get("top") {
            q.top_count = Some(uint32(top, &path.key("top"))?);
        }
        if let Some(page) = obj.get("pageinfo") {
            q.page_info = Some(paging(page, &path.key("pageinfo"))?);
        }
        if let Some(links) = obj.get("linkentities") {
            q.link_entities = list(links, &path.key("linkentities"), |l, p| self.link_entity(l, p))?;
        }
        if let Some(d) = obj.get("distinct") {
            q.distinct = d.as_bool().ok_or_else(|| expected(&path.key("distinct"), "a boolean", d))?;
        }
        Ok(q.into())
    }

    /// `{"entityname": …, "attributes": ["name"], "values": ["Contoso"], …}` (QRY-8).
    fn query_by_attribute(&self, obj: &Map<String, Json>, path: &Path<'_>) -> Result<QueryByAttribute> {
        check_keys(obj, &["entityname", "attributes", "values", "columns", "orders", "top", "pageinfo"], path)?;
        let mut q = QueryByAttribute::new(required_str(obj, "entityname", path)?);
        q.attributes = list(required(obj, "attributes", path)?, &path.key("attributes"), |c, p| {
            c.as_str().map(str::to_owned).ok_or_else(|| expected(p, "a column name", c))
        })?;
        q.values = list(required(obj, "values", path)?, &path.key("values"), |v, p| self.value(v, p))?;
        if q.attributes.len() != q.values.len() {
            return Err(JsonError::new(
                &path.key("values"),
                format!(
                    "{} values for {} attributes (give one value per attribute)",
                    q.values.len(),
                    q.attributes.len()
                ),
            ));
        }
        if let Some(cols) = obj.get("columns") {
            q.column_set = column_set(cols, &path.key("columns"))?;
        }
        if let Some(orders) = obj.get("orders") {
            q.orders = list(orders, &path.key("orders"), order)?;
        }
        if let Some(top) = obj.get("top") {
            q.top_count = Some(uint32(top, &path.key("top"))?);
        }
        if let Some(page) = obj.get("pageinfo") {
            q.page_info = Some(paging(page, &path.key("pageinfo"))?);
        }
        Ok(q)
    }

    fn filter(&self, v: &Json, path: &Path<'_>) -> Result<FilterExpression> {
        let obj = v.as_object().ok_or_else(|| expected(path, "a filter `{\"conditions\": […]}`", v))?;
        check_keys(obj, &["filteroperator", "conditions", "filters"], path)?;
        let mut filter = FilterExpression::default();
        if let Some(op) = obj.get("filteroperator") {
            filter.filter_operator = match op.as_str() {
                Some("and" | "And") => LogicalOperator::And,
                Some("or" | "Or") => LogicalOperator::Or,
                _ => return Err(expected(&path.key("filteroperator"), "`and` or `or`", op)),
            };
        }
        if let Some(conds) = obj.get("conditions") {
            filter.conditions = list(conds, &path.key("conditions"), |c, p| self.condition(c, p))?;
        }
        if let Some(children) = obj.get("filters") {
            filter.filters = list(children, &path.key("filters"), |f, p| self.filter(f, p))?;
        }
        Ok(filter)
    }

    fn condition(&self, v: &Json, path: &Path<'_>) -> Result<ConditionExpression> {
        let obj = v.as_object().ok_or_else(|| expected(path, "a condition", v))?;
        check_keys(obj, &["entityname", "attribute", "attributename", "operator", "value", "values"], path)?;
        let attribute = match (obj.get("attribute"), obj.get("attributename")) {
            (Some(a), None) | (None, Some(a)) => a.as_str().ok_or_else(|| expected(path, "a column name", a))?,
            _ => return Err(JsonError::new(path, "a condition needs one `attribute`")),
        };
        let op_text = optional_str(obj, "operator", path)?.unwrap_or("eq");
        let operator = ConditionOperator::parse(op_text)
            .ok_or_else(|| JsonError::new(&path.key("operator"), format!("unknown condition operator `{op_text}`")))?;
        let mut values = Vec::new();
        if let Some(v) = obj.get("value") {
            values.push(self.value(v, &path.key("value"))?);
        }
        if let Some(vs) = obj.get("values") {
            values.extend(list(vs, &path.key("values"), |v, p| self.value(v, p))?);
        }
        Ok(ConditionExpression {
            entity_name: optional_str(obj, "entityname", path)?.map(str::to_owned),
            attribute_name: attribute.to_owned(),
            operator,
            values,
        })
    }

    fn link_entity(&self, v: &Json, path: &Path<'_>) -> Result<LinkEntity> {
        let obj = v.as_object().ok_or_else(|| expected(path, "a link-entity", v))?;
        check_keys(
            obj,
            &[
                "linkfromattributename",
                "linktoentityname",
                "linktoattributename",
                "joinoperator",
                "entityalias",
                "columns",
                "linkcriteria",
                "linkentities",
            ],
            path,
        )?;
        let join_operator = match optional_str(obj, "joinoperator", path)? {
            None | Some("inner" | "Inner") => JoinOperator::Inner,
            Some("outer" | "leftouter" | "LeftOuter") => JoinOperator::LeftOuter,
            Some(other) => {
                let known = |(_, fetch, sdk): &&(JoinOperator, &str, &str)| {
                    *fetch == other || *sdk == other || fetch.replace(' ', "") == other
                };
                match JoinOperator::ALL.iter().find(known) {
                    Some((op, _, _)) => *op,
                    None => {
                        return Err(JsonError::new(
                            &path.key("joinoperator"),
                            format!(
                                "unknown join operator `{other}` (expected `inner`, `leftouter`, `exists`, `in`, `any`, `notany`, `all`, `notall` or `matchfirstrowusingcrossapply`)"
                            ),
                        ));
                    }
                }
            }
        };
        Ok(LinkEntity {
            link_from_attribute_name: required_str(obj, "linkfromattributename", path)?.to_owned(),
            link_to_entity_name: required_str(obj, "linktoentityname", path)?.to_owned(),
            link_to_attribute_name: required_str(obj, "linktoattributename", path)?.to_owned(),
            join_operator,
            entity_alias: optional_str(obj, "entityalias", path)?.map(str::to_owned),
            columns: match obj.get("columns") {
                Some(c) => column_set(c, &path.key("columns"))?,
                None => ColumnSet::Columns(Vec::new()),
            },
            link_criteria: match obj.get("linkcriteria") {
                Some(c) => self.filter(c, &path.key("linkcriteria"))?,
                None => FilterExpression::default(),
            },
            link_entities: match obj.get("linkentities") {
                Some(l) => list(l, &path.key("linkentities"), |l, p| self.link_entity(l, p))?,
                None => Vec::new(),
            },
        })
    }
}

const REQUEST_KEYS: &[&str] = &[
    "message",
    "target",
    "columns",
    "query",
    "relationship",
    "related",
    "assignee",
    "state",
    "status",
    "principal",
    "accessmask",
    "revokee",
    "parameters",
    "requests",
    "settings",
    "returnresponses",
    "targets",
];

/// Messages whose request must carry a `target` (the JSON Schema of the suite file says the same).
pub const TARGETED: &[&str] = &[
    messages::CREATE,
    messages::UPDATE,
    messages::DELETE,
    messages::RETRIEVE,
    messages::ASSOCIATE,
    messages::DISASSOCIATE,
    messages::ASSIGN,
    messages::SET_STATE,
    messages::GRANT_ACCESS,
    messages::MODIFY_ACCESS,
    messages::REVOKE_ACCESS,
    messages::UPSERT,
    messages::MERGE,
    messages::RETRIEVE_PRINCIPAL_ACCESS,
];

impl From<QueryExpression> for Query {
    fn from(q: QueryExpression) -> Self {
        Query::Expression(q)
    }
}

fn order(v: &Json, path: &Path<'_>) -> Result<OrderExpression> {
    let obj = v.as_object().ok_or_else(|| expected(path, "an order `{\"attribute\": …}`", v))?;
    check_keys(obj, &["attribute", "attributename", "descending", "entityname"], path)?;
    let attribute = optional_str(obj, "attribute", path)?.or(optional_str(obj, "attributename", path)?);
    Ok(OrderExpression {
        attribute_name: attribute.ok_or_else(|| JsonError::new(path, "an order needs `attribute`"))?.to_owned(),
        descending: match obj.get("descending") {
            Some(d) => d.as_bool().ok_or_else(|| expected(&path.key("descending"), "a boolean", d))?,
            None => false,
        },
        entity_name: optional_str(obj, "entityname", path)?.map(str::to_owned),
    })
}

fn paging(v: &Json, path: &Path<'_>) -> Result<PagingInfo> {
    let obj = v.as_object().ok_or_else(|| expected(path, "paging `{\"pagenumber\": …, \"count\": …}`", v))?;
    check_keys(obj, &["pagenumber", "count", "pagingcookie", "returntotalrecordcount"], path)?;
    let return_total_record_count = match obj.get("returntotalrecordcount") {
        Some(b) => b.as_bool().ok_or_else(|| expected(&path.key("returntotalrecordcount"), "a boolean", b))?,
        None => false,
    };
    // Asking for the total record count alone needs no page (QRY-9).
    let number = |key: &str| match obj.get(key) {
        None if return_total_record_count => Ok(0),
        _ => uint32(required(obj, key, path)?, &path.key(key)),
    };
    Ok(PagingInfo {
        page_number: number("pagenumber")?,
        count: number("count")?,
        paging_cookie: optional_str(obj, "pagingcookie", path)?.map(str::to_owned),
        return_total_record_count,
    })
}

/// `["name", "revenue"]`, or `"all"` for every column.
pub fn column_set(v: &Json, path: &Path<'_>) -> Result<ColumnSet> {
    match v {
        Json::String(s) if s == "all" => Ok(ColumnSet::AllColumns),
        Json::Array(_) => {
            list(v, path, |c, p| c.as_str().map(str::to_owned).ok_or_else(|| expected(p, "a column name", c)))
                .map(ColumnSet::Columns)
        }
        _ => Err(expected(path, "a list of column names or \"all\"", v)),
    }
}

/// `"ReadAccess|WriteAccess"` into `AccessRights` flags.
pub fn access_mask(v: &Json, path: &Path<'_>) -> Result<u32> {
    let text = v.as_str().ok_or_else(|| expected(path, "access rights such as \"ReadAccess|WriteAccess\"", v))?;
    text.split('|').map(str::trim).try_fold(0, |mask, name| {
        let right = access_rights::NAMES.iter().find(|(_, n)| *n == name).map(|(bit, _)| *bit);
        right.map(|bit| mask | bit).ok_or_else(|| JsonError::new(path, format!("unknown access right `{name}`")))
    })
}

fn list<T>(v: &Json, path: &Path<'_>, mut each: impl FnMut(&Json, &Path<'_>) -> Result<T>) -> Result<Vec<T>> {
    let items = v.as_array().ok_or_else(|| expected(path, "a list", v))?;
    items.iter().enumerate().map(|(i, item)| each(item, &path.index(i))).collect()
}

fn required<'v>(obj: &'v Map<String, Json>, key: &str, path: &Path<'_>) -> Result<&'v Json> {
    obj.get(key).ok_or_else(|| JsonError::new(path, format!("missing `{key}`")))
}

fn required_str<'v>(obj: &'v Map<String, Json>, key: &str, path: &Path<'_>) -> Result<&'v str> {
    let v = required(obj, key, path)?;
    v.as_str().ok_or_else(|| expected(&path.key(key), "a string", v))
}

fn optional_str<'v>(obj: &'v Map<String, Json>, key: &str, path: &Path<'_>) -> Result<Option<&'v str>> {
    match obj.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(v) => Err(expected(&path.key(key), "a string", v)),
    }
}

/// Refuses keys outside `allowed`, so that a typo is an error rather than a silent default.
pub fn check_keys(obj: &Map<String, Json>, allowed: &[&str], path: &Path<'_>) -> Result<()> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(JsonError::new(
            &path.key(key),
            format!(
                "unknown key `{key}`{} (expected one of: {})",
                crate::suggest::hint(key, allowed.iter().copied()),
                allowed.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn int32(v: &Json, path: &Path<'_>) -> Result<i32> {
    v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| expected(path, "a 32-bit integer", v))
}

fn uint32(v: &Json, path: &Path<'_>) -> Result<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| expected(path, "a non-negative integer", v))
}

/// Decimal text (`"12.50"`), or a JSON number.
fn decimal_text(v: &Json, path: &Path<'_>) -> Result<String> {
    let text = match v {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        _ => return Err(expected(path, "decimal text such as \"12.50\"", v)),
    };
    let digits = text.strip_prefix('-').unwrap_or(&text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next().unwrap_or("0");
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if is_digits(whole) && is_digits(frac) {
        Ok(text)
    } else {
        Err(JsonError::new(path, format!("`{text}` is not decimal text such as \"12.50\"")))
    }
}

/// RFC 3339 text as UTC. An offset can carry a date written in years 0000..=9999 outside them in UTC
/// (`0000-01-01T00:00:00+01:00`), where RFC 3339 cannot write it back: such a date is refused here, so that
/// every date read is one `value_to_json` writes readably.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc)).filter(is_writable)
}

/// Whether RFC 3339 can write the date: its year in UTC has four digits.
pub fn is_writable(t: &DateTime<Utc>) -> bool {
    (0..=9999).contains(&chrono::Datelike::year(t))
}

/// The JSON form of a value.
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Text(s) => Json::String(s.clone()),
        Value::Integer(n) => json!(n),
        Value::BigInt(n) => json!(n),
        Value::Double(n) => json!(n),
        Value::Boolean(b) => json!(b),
        Value::Decimal(s) => json!({ "@decimal": s }),
        Value::Money(s) => json!({ "@money": s }),
        Value::DateTime(t) => json!({ "@datetime": t.to_rfc3339_opts(SecondsFormat::AutoSi, true) }),
        Value::Guid(g) => json!({ "@guid": g.to_string() }),
        Value::Choice(n) => json!({ "@option": n }),
        Value::Choices(ns) => json!({ "@options": ns }),
        Value::Lookup(r) => reference_to_json(r),
        Value::EntityCollection(parties) => Json::Array(parties.iter().map(entity_to_json).collect()),
        Value::Aliased(a) => json!({ "@aliased": {
            "entity": a.entity_logical_name,
            "attribute": a.attribute_logical_name,
            "value": value_to_json(&a.value),
        } }),
    }
}

pub fn reference_to_json(r: &EntityReference) -> Json {
    let mut obj = Map::new();
    obj.insert("@ref".into(), Json::String(r.logical_name.clone()));
    obj.insert("id".into(), Json::String(r.id.to_string()));
    if let Some(name) = &r.name {
        obj.insert("name".into(), Json::String(name.clone()));
    }
    if !r.key_attributes.is_empty() {
        obj.insert("keys".into(), keys_to_json(&r.key_attributes));
    }
    Json::Object(obj)
}

fn keys_to_json(keys: &KeyAttributes) -> Json {
    Json::Object(keys.iter().map(|(column, value)| (column.clone(), value_to_json(value))).collect())
}

/// The JSON form of an entity.
pub fn entity_to_json(e: &Entity) -> Json {
    let mut obj = Map::new();
    obj.insert("@logicalname".into(), Json::String(e.logical_name.clone()));
    if let Some(id) = e.id {
        obj.insert("@id".into(), Json::String(id.to_string()));
    }
    if !e.key_attributes.is_empty() {
        obj.insert("@keys".into(), keys_to_json(&e.key_attributes));
    }
    for (column, value) in &e.attributes {
        obj.insert(column.clone(), value_to_json(value));
    }
    if !e.formatted_values.is_empty() {
        let texts = e.formatted_values.iter().map(|(column, text)| (column.clone(), Json::String(text.clone())));
        obj.insert("@formatted".into(), Json::Object(texts.collect()));
    }
    Json::Object(obj)
}

/// `{"column": "text", …}`: an entity's formatted values (QRY-7).
fn formatted(v: &Json, path: &Path<'_>) -> Result<std::collections::BTreeMap<String, String>> {
    let obj = v.as_object().ok_or_else(|| expected(path, "formatted values `{\"column\": \"text\"}`", v))?;
    obj.iter()
        .map(|(column, text)| match text {
            Json::String(s) => Ok((column.clone(), s.clone())),
            other => Err(expected(&path.key(column), "text", other)),
        })
        .collect()
}

/// The JSON form of a parameter value.
pub fn parameter_to_json(p: &ParameterValue) -> Json {
    match p {
        ParameterValue::Value(v) => value_to_json(v),
        ParameterValue::Entity(e) => entity_to_json(e),
        ParameterValue::EntityCollection(c) => Json::Array(c.entities.iter().map(entity_to_json).collect()),
        ParameterValue::EntityReferences(refs) => Json::Array(refs.iter().map(reference_to_json).collect()),
        ParameterValue::ColumnSet(ColumnSet::AllColumns) => json!("all"),
        ParameterValue::ColumnSet(ColumnSet::Columns(cols)) => json!(cols),
        ParameterValue::Query(Query::FetchXml(x)) => json!({ "fetchxml": x }),
        ParameterValue::Query(Query::Expression(q)) => json!({ "entityname": q.entity_name }),
        ParameterValue::Query(Query::ByAttribute(q)) => {
            json!({ "entityname": q.entity_name, "attributes": q.attributes })
        }
        ParameterValue::Relationship(name) => json!(name),
        ParameterValue::PrincipalAccess(pa) => {
            json!({ "principal": reference_to_json(&pa.principal), "accessmask": pa.access_mask })
        }
        ParameterValue::Guids(ids) => Json::Array(ids.iter().map(|id| Json::String(id.to_string())).collect()),
        ParameterValue::Requests(requests) => Json::Array(requests.iter().map(batch::request_to_json).collect()),
        ParameterValue::Responses(responses) => Json::Array(responses.iter().map(response_to_json).collect()),
        ParameterValue::ExecuteMultipleSettings(s) => {
            json!({ "continueonerror": s.continue_on_error, "returnresponses": s.return_responses })
        }
        ParameterValue::ExecuteMultipleResponses(items) => {
            Json::Array(items.iter().map(batch::response_item_to_json).collect())
        }
        ParameterValue::Metadata(m) => metadata::metadata_to_json(m),
    }
}

/// A response's outputs as suites see them: Create gives `id`, Retrieve `entity`, RetrieveMultiple `entities`,
/// `count`, `morerecords`, `pagingcookie`, `totalrecordcount` and `totalrecordcountlimitexceeded`; every other
/// result by its own name.
pub fn response_to_json(r: &Response) -> Json {
    let mut obj = Map::new();
    for (name, value) in &r.results {
        if let Some(key) = batch::result_key(&r.message, name) {
            obj.insert(key.into(), parameter_to_json(value));
            continue;
        }
        match (name.as_str(), value) {
            (messages::ENTITY, _) => {
                obj.insert("entity".into(), parameter_to_json(value));
            }
            (messages::ENTITY_COLLECTION, ParameterValue::EntityCollection(c)) => {
                obj.insert("entities".into(), parameter_to_json(value));
                obj.insert("count".into(), json!(c.entities.len()));
                obj.insert("morerecords".into(), json!(c.more_records));
                if let Some(cookie) = &c.paging_cookie {
                    obj.insert("pagingcookie".into(), json!(cookie));
                }
                obj.insert("totalrecordcount".into(), json!(c.total_record_count));
                obj.insert("totalrecordcountlimitexceeded".into(), json!(c.total_record_count_limit_exceeded));
            }
            _ => {
                obj.insert(name.clone(), parameter_to_json(value));
            }
        }
    }
    Json::Object(obj)
}

#[cfg(test)]
mod tests;
