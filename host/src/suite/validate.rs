//! The names a suite's actions use, checked when the suite loads: messages, tables, columns, relationships and
//! custom API parameters against the organization, step names against the registrations, aliases against the
//! organization and what earlier actions saved. Each check reads the live catalogue, and every mistake is
//! reported at its JSON path with the name meant, before any case runs.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};
use xrm_model::json::{JsonError, Path as JsonPath, Reader, UnknownAlias};
use xrm_model::suggest;
use xrm_model::{ColumnSet, FilterExpression, LinkEntity, ParameterValue, Query, QueryExpression, Request, Uuid};

use super::{JobAssert, RecordAssert, TraceAssert};
use crate::input::join;
use crate::org::values::{AliasLookups, read_entity};
use crate::org::{Organization, Table};

/// What a case's actions may name at one point of the case.
pub(super) struct Known<'a> {
    pub org: &'a Organization,
    /// The registered steps' names.
    pub steps: &'a [String],
    /// Aliases saved by earlier actions of the case, with the table of the record each names when known.
    pub saved: &'a HashMap<String, Option<String>>,
}

impl Known<'_> {
    /// The table of the record `alias` (without `@`) names.
    fn alias_table(&self, alias: &str) -> Option<String> {
        match self.saved.get(alias) {
            Some(table) => table.clone(),
            None => self.org.table_of_alias(alias).map(str::to_owned),
        }
    }

    /// An unknown alias, with the known one meant.
    pub fn unknown_alias(&self, u: &UnknownAlias) -> JsonError {
        let known = self.org.aliases.keys().chain(self.saved.keys()).map(String::as_str);
        JsonError { path: u.path.clone(), message: self.org.unknown_alias(&u.alias, known) }
    }

    /// The names in a request already read into `request` from `json`.
    pub fn request(&self, json: &Json, request: &Request, path: &str) -> Vec<JsonError> {
        let mut problems = Vec::new();
        let mut push = |at: &str, result: Result<(), String>| {
            if let Err(e) = result {
                problems.push(err(at, e));
            }
        };
        push(&join(path, "message"), self.org.check_message(&request.message));
        let obj = json.as_object().cloned().unwrap_or_default();
        let target_path = &join(path, "target");
        let mut table = None;
        match obj.get("target") {
            Some(target) if target.get("@logicalname").is_some() => {
                table = self.entity(target, target_path, &mut problems);
            }
            Some(_) => {
                if let Some(t) = request.target_reference() {
                    table = self.table(&t.logical_name, &join(target_path, "@ref"), &mut problems);
                }
            }
            None => {}
        }
        if let (Some(ParameterValue::ColumnSet(ColumnSet::Columns(columns))), Some(table)) =
            (request.parameter(xrm_model::messages::COLUMN_SET), table)
        {
            let at = &join(path, "columns");
            for (i, column) in columns.iter().enumerate() {
                self.column(table, column, &index(at, i), &mut problems);
            }
        }
        if let Some(ParameterValue::Query(query)) = request.parameter(xrm_model::messages::QUERY) {
            self.query(query, &join(path, "query"), &mut problems);
        }
        if let Some(ParameterValue::Relationship(name)) = request.parameter(xrm_model::messages::RELATIONSHIP)
            && !self.org.relationships.contains_key(name)
        {
            let known = self.org.relationships.keys().map(String::as_str);
            problems.push(err(&join(path, "relationship"), suggest::unknown("relationship", name, known)));
        }
        for key in ["related", "assignee", "revokee", "principal"] {
            self.references(obj.get(key), &join(path, key), &mut problems);
        }
        // The records of a bulk message (PIPE-17), each read as a Create's or Update's target is.
        if let Some(Json::Array(targets)) = obj.get("targets") {
            let at = &join(path, "targets");
            for (i, target) in targets.iter().enumerate() {
                self.entity(target, &index(at, i), &mut problems);
            }
        }
        // The requests of a batch, each checked as a request of its own.
        if let (Some(Json::Array(items)), Some(ParameterValue::Requests(inner))) =
            (obj.get("requests"), request.parameter(xrm_model::messages::REQUESTS))
        {
            let at = &join(path, "requests");
            for (i, (json, inner)) in items.iter().zip(inner).enumerate() {
                problems.extend(self.request(json, inner, &index(at, i)));
            }
        }
        // Records given as parameters (a custom API's `Entity` or `EntityCollection`, a message's `Target` by
        // its parameter name): their tables, columns and values.
        for (name, value) in obj.get("parameters").and_then(Json::as_object).into_iter().flatten() {
            let at = &join(&join(path, "parameters"), name);
            match value {
                Json::Object(record) if record.contains_key("@logicalname") => {
                    self.entity(value, at, &mut problems);
                }
                Json::Array(items) if items.first().is_some_and(|i| i.get("@logicalname").is_some()) => {
                    for (i, item) in items.iter().enumerate() {
                        self.entity(item, &index(at, i), &mut problems);
                    }
                }
                _ => {}
            }
        }
        if let Some(api) = self.org.custom_apis.get(&request.message) {
            let at = &join(path, "parameters");
            let declared: Vec<&str> = api.request.iter().map(|p| p.name.as_str()).collect();
            for name in obj.get("parameters").and_then(Json::as_object).into_iter().flat_map(Map::keys) {
                if !declared.contains(&name.as_str()) {
                    let what = format!("parameter of `{}`", api.unique_name);
                    problems.push(err(&join(at, name), suggest::unknown(&what, name, declared.iter().copied())));
                }
            }
            if problems.is_empty()
                && let Err(fault) = crate::pipeline::check_custom_request(api, request)
            {
                problems.push(err(at, fault.message));
            }
        }
        problems
    }

    /// The output a request must give: the columns of a retrieved record are columns of its table.
    pub fn output(&self, output: &Map<String, Json>, request: &Request, path: &str) -> Vec<JsonError> {
        let mut problems = Vec::new();
        let table = match request.parameter(xrm_model::messages::QUERY) {
            Some(ParameterValue::Query(q)) if q.table().is_some() => q.table().map(str::to_owned),
            _ => request.target_reference().map(|t| t.logical_name),
        };
        let Some(table) = table.and_then(|t| self.org.table(&t)) else { return problems };
        let mut records: Vec<(String, &Json)> = Vec::new();
        if let Some(entity) = output.get("entity") {
            records.push((join(path, "entity"), entity));
        }
        if let Some(Json::Array(rows)) = output.get("entities") {
            records.extend(rows.iter().enumerate().map(|(i, r)| (index(&join(path, "entities"), i), r)));
        }
        for (at, record) in records {
            // `alias.column` is a link-entity's column, `@…` the record's own keys.
            let columns = record.as_object().into_iter().flat_map(Map::keys);
            for column in columns.filter(|k| !k.starts_with('@') && !k.contains('.')) {
                self.column(table, column, &join(&at, column), &mut problems);
            }
            // QRY-7: the columns of `@formatted` too.
            let at = join(&at, "@formatted");
            let formatted = record.get("@formatted").and_then(Json::as_object).into_iter().flat_map(Map::keys);
            for column in formatted.filter(|k| !k.contains('.')) {
                self.column(table, column, &join(&at, column), &mut problems);
            }
        }
        problems
    }

    /// An `assert` action's tables, columns, step names and aliases.
    pub fn assert(
        &self,
        records: &[RecordAssert],
        traces: &[TraceAssert],
        jobs: &[JobAssert],
        path: &str,
    ) -> Vec<JsonError> {
        let mut problems = Vec::new();
        let at = &join(path, "records");
        for (i, r) in records.iter().enumerate() {
            let at = &index(at, i);
            let table = self.table(&r.table, &join(at, "@logicalname"), &mut problems);
            for (key, values) in [("where", Some(&r.filter)), ("columns", r.columns.as_ref())] {
                let at = &join(at, key);
                for (column, value) in values.into_iter().flatten() {
                    if let Some(table) = table {
                        self.column(table, column, &join(at, column), &mut problems);
                    }
                    self.aliases_in(value, &join(at, column), &mut problems);
                }
            }
        }
        let steps = traces.iter().map(|t| &t.step).chain(jobs.iter().map(|j| &j.step));
        let paths = (0..traces.len()).map(|i| index(&join(path, "traces"), i));
        let paths = paths.chain((0..jobs.len()).map(|i| index(&join(path, "jobs"), i)));
        for (step, at) in steps.zip(paths) {
            if let Some(step) = step
                && !self.steps.contains(step)
            {
                let message = suggest::unknown("step", step, self.steps.iter().map(String::as_str));
                problems.push(JsonError { path: format!("{at}.step"), message });
            }
        }
        problems
    }

    /// An entity written in a request: its table, columns and values. Gives its table.
    fn entity(&self, json: &Json, path: &str, problems: &mut Vec<JsonError>) -> Option<&Table> {
        // Aliases are checked by the request's own read; here any alias stands for some id.
        let any = |_: &str| Some(Uuid::nil());
        let reader = Reader::new(&any);
        let alias_table = |alias: &str| self.alias_table(alias);
        match read_entity(self.org, &reader, json, &JsonPath::Root(path), &AliasLookups::Refuse(&alias_table)) {
            Ok(_) => {}
            Err(found) => problems.extend(found),
        }
        json.get("@logicalname").and_then(Json::as_str).and_then(|t| self.org.table(t))
    }

    fn table(&self, name: &str, at: &str, problems: &mut Vec<JsonError>) -> Option<&Table> {
        self.org.check_table(name).map_err(|e| problems.push(err(at, e))).ok()
    }

    fn column(&self, table: &Table, name: &str, at: &str, problems: &mut Vec<JsonError>) {
        if let Err(e) = table.check_column(name) {
            problems.push(err(at, e));
        }
    }

    /// The tables of references (`{"@ref": …}`, or a list of them).
    fn references(&self, json: Option<&Json>, at: &str, problems: &mut Vec<JsonError>) {
        match json {
            Some(Json::Array(items)) => {
                items.iter().enumerate().for_each(|(i, item)| self.references(Some(item), &index(at, i), problems))
            }
            Some(Json::Object(obj)) => {
                if let Some(Json::String(table)) = obj.get("@ref") {
                    self.table(table, &join(at, "@ref"), problems);
                }
            }
            _ => {}
        }
    }

    /// A query's tables and columns, link-entities and conditions included.
    fn query(&self, query: &Query, at: &str, problems: &mut Vec<JsonError>) {
        match query {
            Query::Expression(q) => self.expression(q, at, problems),
            Query::ByAttribute(q) => {
                let Some(table) = self.table(&q.entity_name, &join(at, "entityname"), problems) else { return };
                let named = [("attributes", &q.attributes)];
                let orders: Vec<String> = q.orders.iter().map(|o| o.attribute_name.clone()).collect();
                let columns = match &q.column_set {
                    ColumnSet::Columns(columns) => columns.clone(),
                    ColumnSet::AllColumns => Vec::new(),
                };
                for (key, list) in named.into_iter().chain([("orders", &orders), ("columns", &columns)]) {
                    let at = &join(at, key);
                    list.iter().enumerate().for_each(|(i, c)| self.column(table, c, &index(at, i), problems));
                }
            }
            Query::FetchXml(xml) => {
                let at = &join(at, "fetchxml");
                match crate::query::fetchxml::parse(xml) {
                    Ok(q) => {
                        let mut found = Vec::new();
                        self.expression(&q, at, &mut found);
                        // Inside FetchXML there is no JSON path: the problems point at the text.
                        problems.extend(found.into_iter().map(|e| JsonError { path: at.to_string(), ..e }));
                    }
                    Err(fault) => problems.push(err(at, fault.message)),
                }
            }
        }
    }

    fn expression(&self, q: &QueryExpression, at: &str, problems: &mut Vec<JsonError>) {
        let Some(table) = self.table(&q.entity_name, &join(at, "entityname"), problems) else { return };
        let mut tables = HashMap::new();
        let mut counter = 0;
        collect_links(&q.link_entities, &mut counter, &mut tables);
        if let ColumnSet::Columns(columns) = &q.column_set {
            let at = &join(at, "columns");
            columns.iter().enumerate().for_each(|(i, c)| self.column(table, c, &index(at, i), problems));
        }
        self.filter(table, &tables, &q.criteria, &join(at, "criteria"), problems);
        for (i, order) in q.orders.iter().enumerate() {
            let t = self.owner(table, &tables, order.entity_name.as_deref());
            self.column(t, &order.attribute_name, &index(&join(at, "orders"), i), problems);
        }
        self.links(table, &tables, &q.link_entities, &join(at, "linkentities"), problems);
    }

    fn links(
        &self,
        parent: &Table,
        tables: &HashMap<String, String>,
        links: &[LinkEntity],
        at: &str,
        problems: &mut Vec<JsonError>,
    ) {
        for (i, link) in links.iter().enumerate() {
            let at = &index(at, i);
            self.column(parent, &link.link_from_attribute_name, &join(at, "linkfromattributename"), problems);
            let Some(table) = self.table(&link.link_to_entity_name, &join(at, "linktoentityname"), problems) else {
                continue;
            };
            self.column(table, &link.link_to_attribute_name, &join(at, "linktoattributename"), problems);
            if let ColumnSet::Columns(columns) = &link.columns {
                let at = &join(at, "columns");
                columns.iter().enumerate().for_each(|(j, c)| self.column(table, c, &index(at, j), problems));
            }
            self.filter(table, tables, &link.link_criteria, &join(at, "linkcriteria"), problems);
            self.links(table, tables, &link.link_entities, &join(at, "linkentities"), problems);
        }
    }

    fn filter(
        &self,
        table: &Table,
        tables: &HashMap<String, String>,
        filter: &FilterExpression,
        at: &str,
        problems: &mut Vec<JsonError>,
    ) {
        for (i, c) in filter.conditions.iter().enumerate() {
            let at = &index(&join(at, "conditions"), i);
            match c.entity_name.as_deref() {
                Some(alias) if !tables.contains_key(alias) => {
                    let known = tables.keys().map(String::as_str);
                    problems.push(err(&join(at, "entityname"), suggest::unknown("link-entity alias", alias, known)));
                }
                name => {
                    self.column(self.owner(table, tables, name), &c.attribute_name, &join(at, "attribute"), problems)
                }
            }
        }
        for (i, f) in filter.filters.iter().enumerate() {
            self.filter(table, tables, f, &index(&join(at, "filters"), i), problems);
        }
    }

    /// The table a condition or order names through a link-entity's alias, else the query's own.
    fn owner<'t>(&'t self, table: &'t Table, tables: &HashMap<String, String>, alias: Option<&str>) -> &'t Table {
        alias.and_then(|a| tables.get(a)).and_then(|t| self.org.table(t)).unwrap_or(table)
    }

    /// Every `@alias` string in an expected value must be known (a typo is an input error, not a failure).
    fn aliases_in(&self, value: &Json, at: &str, problems: &mut Vec<JsonError>) {
        match value {
            Json::String(s) => {
                if let Some(alias) = s.strip_prefix('@').filter(|a| crate::pipeline::registration::is_alias_name(a))
                    && self.org.alias(alias).is_none()
                    && !self.saved.contains_key(alias)
                {
                    problems.push(self.unknown_alias(&UnknownAlias { path: at.to_string(), alias: s.clone() }));
                }
            }
            Json::Array(items) => items.iter().for_each(|v| self.aliases_in(v, at, problems)),
            Json::Object(obj) => obj.values().for_each(|v| self.aliases_in(v, at, problems)),
            _ => {}
        }
    }
}

fn index(at: &str, i: usize) -> String {
    format!("{at}[{i}]")
}

fn err(at: &str, message: impl Into<String>) -> JsonError {
    JsonError { path: at.to_owned(), message: message.into() }
}

/// Every link-entity's alias (its own, or the platform's default `<table><n>`) and table.
fn collect_links(links: &[LinkEntity], counter: &mut usize, tables: &mut HashMap<String, String>) {
    for link in links {
        *counter += 1;
        let alias = link
            .entity_alias
            .clone()
            .unwrap_or_else(|| crate::query::default_alias(&link.link_to_entity_name, *counter));
        tables.insert(alias, link.link_to_entity_name.clone());
        tables.entry(link.link_to_entity_name.clone()).or_insert_with(|| link.link_to_entity_name.clone());
        collect_links(&link.link_entities, counter, tables);
    }
}
