//! FetchXML, read into a QueryExpression so that both forms of query run through one engine (`query`).
//!
//! Two steps: quick-xml reads the text into a small element tree (a syntax error is a fault with its byte
//! position), then the tree is read into the model. Every element and attribute is checked against what
//! FetchXML has: an unknown one is a fault naming it and where it is; a known one the engine does not run
//! (aggregates, other join types, fiscal periods, …) is "… is not supported yet", never a wrong answer.
//! Values stay text here: the engine types them by their column, with [`super::values::parse_value`].

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use xrm_model::{
    ColumnSet, ConditionExpression, ConditionOperator, Fault, FilterExpression, JoinOperator, LinkEntity,
    LogicalOperator, OrderExpression, PagingInfo, QueryExpression, Value, codes,
};

use super::aggregate::{Aggregate, Column as AggregateColumn, DateGrouping, Function, Kind};
use super::default_alias;
use crate::deadline::Meter;

/// The table a FetchXML query is about (`<entity name="…">`), without checking the rest.
pub fn entity_name(fetch: &str) -> Option<String> {
    let mut reader = Reader::from_str(fetch);
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) if e.name().0 == "entity" => {
                let name = e.try_get_attribute("name").ok()??;
                return name.normalized_value(XmlVersion::Implicit1_0).ok().map(|v| v.into_owned());
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// Reads a FetchXML query into the model; what a QueryExpression cannot say (column aliases) is left out: see
/// [`parse_fetch`].
pub fn parse(fetch: &str) -> Result<QueryExpression, Fault> {
    parse_fetch(fetch).map(|f| f.query)
}

/// A FetchXML query: its QueryExpression and what FetchXML says beyond it.
#[derive(Debug, Default)]
pub struct Fetch {
    pub query: QueryExpression,
    /// The `<attribute>`s with an `alias` of their own, in document order (QRY-10): not in the query's column
    /// sets, returned as `AliasedValue`s under their alias.
    pub aliased: Vec<AliasedColumn>,
    /// An aggregate query's columns and orders (QRY-6): `aggregate="true"` on `<fetch>`.
    pub aggregate: Option<Aggregate>,
}

/// An `<attribute name=… alias=…>`: the table it belongs to (the alias of its link-entity; `None` for the
/// root), its column and its alias.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasedColumn {
    pub entity: Option<String>,
    pub column: String,
    pub alias: String,
}

/// Reads a FetchXML query with its column aliases.
pub fn parse_fetch(fetch: &str) -> Result<Fetch, Fault> {
    let root = read_tree(fetch)?;
    let mut builder = Builder { links: 0, meter: Meter::new(), aliased: Vec::new(), aggregate: None };
    let query = builder.fetch(&root)?;
    Ok(Fetch { query, aliased: builder.aliased, aggregate: builder.aggregate })
}

/// An element of the document: its name, where it starts, its attributes (unescaped), its children and its
/// own text.
struct Element {
    name: String,
    at: u64,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

/// How deep elements may nest: far more than any real query, and little enough that reading the tree cannot
/// exhaust the stack (a plug-in's FetchXML must never bring the host down).
const MAX_DEPTH: usize = 64;

fn fault(message: String) -> Fault {
    Fault::new(codes::INVALID_ARGUMENT, format!("FetchXML: {message}"))
}

fn read_tree(fetch: &str) -> Result<Element, Fault> {
    let mut reader = Reader::from_str(fetch);
    let mut open: Vec<Element> = Vec::new();
    let mut root = None;
    // A plug-in's FetchXML is read within its execution's time limit (BOX-5).
    let mut meter = Meter::new();
    loop {
        meter.tick()?;
        let at = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| fault(format!("the text is not well-formed XML at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(_) if open.len() >= MAX_DEPTH => {
                return Err(fault(format!("elements nest deeper than {MAX_DEPTH} levels at byte {at}")));
            }
            Event::Start(e) => open.push(element(&e, at)?),
            Event::Empty(e) => close(element(&e, at)?, &mut open, &mut root)?,
            Event::End(_) => match open.pop() {
                Some(done) => close(done, &mut open, &mut root)?,
                None => return Err(fault(format!("a closing tag with no opening tag at byte {at}"))),
            },
            Event::Text(t) => add_text(&mut open, &t.xml10_content(), at)?,
            Event::CData(t) => add_text(&mut open, &t.xml10_content(), at)?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    _ => quick_xml::escape::resolve_predefined_entity(&r.xml10_content()).map(str::to_owned),
                };
                let text = resolved.ok_or_else(|| fault(format!("unknown entity reference at byte {at}")))?;
                add_text(&mut open, &text, at)?;
            }
            Event::DocType(_) => return Err(fault(format!("a DOCTYPE is not allowed (at byte {at})"))),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(fault(format!("the element <{}> at byte {} is never closed", unclosed.name, unclosed.at)));
    }
    root.ok_or_else(|| fault("there is no <fetch> element".into()))
}

fn element(e: &BytesStart, at: u64) -> Result<Element, Fault> {
    let name = e.name().0.to_owned();
    let mut attributes = Vec::new();
    for attribute in e.attributes() {
        let bad = |why: String| fault(format!("a bad attribute in <{name}> at byte {at}: {why}"));
        let attribute = attribute.map_err(|err| bad(err.to_string()))?;
        let value = attribute.normalized_value(XmlVersion::Implicit1_0).map_err(|err| bad(err.to_string()))?;
        attributes.push((attribute.key.0.to_owned(), value.into_owned()));
    }
    Ok(Element { name, at, attributes, children: Vec::new(), text: String::new() })
}

/// A finished element goes into its parent, or becomes the root if it is the first top-level one.
fn close(done: Element, open: &mut [Element], root: &mut Option<Element>) -> Result<(), Fault> {
    match (open.last_mut(), root.is_some()) {
        (Some(parent), _) => parent.children.push(done),
        (None, false) => *root = Some(done),
        (None, true) => return Err(fault(format!("a second top-level element <{}> at byte {}", done.name, done.at))),
    }
    Ok(())
}

fn add_text(open: &mut [Element], text: &str, at: u64) -> Result<(), Fault> {
    match open.last_mut() {
        Some(parent) => parent.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err(fault(format!("text outside the <fetch> element at byte {at}"))),
    }
    Ok(())
}

/// What an element may carry: attributes read, attributes accepted and ignored (display hints, performance
/// hints), attributes FetchXML has that the engine does not run, and child elements.
struct Spec {
    read: &'static [&'static str],
    ignored: &'static [&'static str],
    unsupported: &'static [&'static str],
    children: &'static [&'static str],
}

const FETCH: Spec = Spec {
    read: &["distinct", "top", "count", "page", "paging-cookie", "aggregate", "returntotalrecordcount"],
    ignored: &[
        "version",
        "mapping",
        "output-format",
        "no-lock",
        "useraworderby",
        "latematerialize",
        "options",
        "aggregatelimit",
    ],
    unsupported: &["datasource", "min-active-row-version"],
    children: &["entity"],
};
const ENTITY: Spec = Spec {
    read: &["name"],
    ignored: &["enableprefiltering", "prefilterparametername"],
    unsupported: &[],
    children: &["attribute", "all-attributes", "order", "filter", "link-entity"],
};
const LINK_ENTITY: Spec = Spec {
    read: &["name", "from", "to", "alias", "link-type"],
    ignored: &["visible", "intersect", "enableprefiltering", "prefilterparametername"],
    unsupported: &[],
    children: ENTITY.children,
};
const ATTRIBUTE: Spec = Spec {
    read: &["name", "alias", "aggregate", "groupby", "dategrouping", "distinct", "usertimezone"],
    ignored: &["build", "added"],
    unsupported: &["rowaggregate"],
    children: &[],
};
const ALL_ATTRIBUTES: Spec = Spec { read: &[], ignored: &[], unsupported: &[], children: &[] };
const ORDER: Spec =
    Spec { read: &["attribute", "descending", "entityname", "alias"], ignored: &[], unsupported: &[], children: &[] };
const FILTER: Spec = Spec {
    read: &["type"],
    ignored: &[
        "hint",
        "isquickfindfields",
        "overridequickfindrecordlimitenabled",
        "overridequickfindrecordlimitdisabled",
        "bypassquickfind",
    ],
    unsupported: &[],
    children: &["condition", "filter", "link-entity"],
};
const CONDITION: Spec = Spec {
    read: &["attribute", "operator", "value", "entityname"],
    ignored: &["uiname", "uitype", "uihidden"],
    unsupported: &["valueof", "alias", "aggregate", "rowaggregate"],
    children: &["value"],
};
const VALUE: Spec = Spec { read: &[], ignored: &["uiname", "uitype"], unsupported: &[], children: &[] };

/// The condition operators FetchXML has beyond those of the model: fiscal periods, user languages and teams.
const OTHER_OPERATORS: &[&str] = &[
    "eq-userlanguage",
    "eq-useroruserhierarchy",
    "eq-useroruserhierarchyandteams",
    "eq-useroruserteams",
    "eq-userteams",
    "in-fiscal-period",
    "in-fiscal-period-and-year",
    "in-fiscal-year",
    "in-or-after-fiscal-period-and-year",
    "in-or-before-fiscal-period-and-year",
    "last-fiscal-period",
    "last-fiscal-year",
    "last-x-fiscal-periods",
    "last-x-fiscal-years",
    "next-fiscal-period",
    "next-fiscal-year",
    "next-x-fiscal-periods",
    "next-x-fiscal-years",
    "this-fiscal-period",
    "this-fiscal-year",
];

impl Element {
    fn place(&self) -> String {
        format!("<{}> at byte {}", self.name, self.at)
    }

    fn not_supported(&self, what: &str) -> Fault {
        fault(format!("{what} (in {}) is not supported yet", self.place()))
    }

    /// Refuses what the element may not carry (see [`Spec`]), and text where none belongs.
    fn check(&self, spec: &Spec) -> Result<(), Fault> {
        for (name, _) in &self.attributes {
            let name = name.as_str();
            if spec.unsupported.contains(&name) {
                return Err(self.not_supported(&format!("the attribute '{name}'")));
            }
            let namespace = name == "xmlns" || name.starts_with("xmlns:");
            if !(spec.read.contains(&name) || spec.ignored.contains(&name) || namespace) {
                return Err(fault(format!("unknown attribute '{name}' on {}", self.place())));
            }
        }
        if let Some(child) = self.children.iter().find(|c| !spec.children.contains(&c.name.as_str())) {
            return Err(fault(format!("unknown element {} inside <{}>", child.place(), self.name)));
        }
        if self.name != "value" && !self.text.trim().is_empty() {
            return Err(fault(format!("unexpected text inside {}", self.place())));
        }
        Ok(())
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, Fault> {
        self.attr(name).ok_or_else(|| fault(format!("{} needs the attribute '{name}'", self.place())))
    }

    fn flag(&self, name: &str) -> Result<bool, Fault> {
        match self.attr(name).map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(fault(format!("'{name}' on {} must be true or false, not '{other}'", self.place()))),
        }
    }

    fn number(&self, name: &str) -> Result<Option<u32>, Fault> {
        let Some(text) = self.attr(name) else { return Ok(None) };
        let bad = || fault(format!("'{name}' on {} must be a whole number, not '{text}'", self.place()));
        text.trim().parse().map(Some).map_err(|_| bad())
    }

    fn children_named<'e>(&'e self, name: &'e str) -> impl Iterator<Item = &'e Element> + 'e {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Reads the tree, counting link-entities in document order to name those without an alias as the engine
/// does (`query::default_alias`), so that an `<order>` inside one can name it.
struct Builder {
    links: usize,
    meter: Meter,
    aliased: Vec<AliasedColumn>,
    /// Set when `<fetch aggregate="true">`: the columns and orders are gathered here.
    aggregate: Option<Aggregate>,
}

impl Builder {
    fn fetch(&mut self, el: &Element) -> Result<QueryExpression, Fault> {
        if el.name != "fetch" {
            return Err(fault(format!("the query must be a <fetch> element, not {}", el.place())));
        }
        el.check(&FETCH)?;
        if el.flag("aggregate")? {
            self.aggregate = Some(Aggregate::default());
        }
        let mut entities = el.children_named("entity");
        let (Some(entity), None) = (entities.next(), entities.next()) else {
            return Err(fault(format!("{} needs exactly one <entity> element", el.place())));
        };
        let mut q = QueryExpression::new(entity.required("name")?);
        q.distinct = el.flag("distinct")?;
        q.top_count = el.number("top")?;
        let (count, page, cookie) = (el.number("count")?, el.number("page")?, el.attr("paging-cookie"));
        if q.top_count.is_some() && (count.is_some() || page.is_some()) {
            return Err(fault(format!("'top' can't be used with 'count' or 'page' on {}", el.place())));
        }
        let total = el.flag("returntotalrecordcount")?;
        if q.top_count.is_some() && total {
            return Err(fault(super::TOP_AND_TOTAL.into()));
        }
        if count.is_some() || page.is_some() || cookie.is_some() {
            q.page_info = Some(PagingInfo {
                page_number: page.unwrap_or(1),
                count: count.unwrap_or(0),
                paging_cookie: cookie.map(str::to_owned),
                return_total_record_count: total,
            });
        } else if total {
            // The total alone asks for no page (QRY-9).
            q.page_info = Some(PagingInfo { return_total_record_count: true, ..PagingInfo::default() });
        }
        self.entity(entity, &mut q)?;
        if let Some(aggregate) = &self.aggregate
            && aggregate.columns.is_empty()
        {
            return Err(fault(format!("the aggregate query {} has no <attribute> with an aggregate", el.place())));
        }
        Ok(q)
    }

    /// The root table: its columns (all when no `<attribute>` names any), filters, orders and links. The
    /// orders inside link-entities come after the entity's own, in document order.
    fn entity(&mut self, el: &Element, q: &mut QueryExpression) -> Result<(), Fault> {
        el.check(&ENTITY)?;
        q.column_set = self.columns(el, None, ColumnSet::AllColumns)?;
        let mut filters = Vec::new();
        let mut link_orders = Vec::new();
        for child in &el.children {
            match child.name.as_str() {
                "filter" => filters.push(self.filter(child, &mut q.link_entities, &mut link_orders, true)?),
                "order" => self.order(child, None, &mut q.orders)?,
                "link-entity" => q.link_entities.push(self.link(child, &mut link_orders, false)?),
                _ => {}
            }
        }
        q.criteria = all_of(filters);
        q.orders.extend(link_orders);
        Ok(())
    }

    /// A `<link-entity>`; `in_filter` when it sits in a `<filter>`, where only `any`, `not any`, `all` and
    /// `not all` belong (and only there).
    fn link(&mut self, el: &Element, orders: &mut Vec<OrderExpression>, in_filter: bool) -> Result<LinkEntity, Fault> {
        el.check(&LINK_ENTITY)?;
        self.meter.tick()?;
        self.links += 1;
        let name = el.required("name")?;
        let alias = el.attr("alias").map_or_else(|| default_alias(name, self.links), str::to_owned);
        let link_type = el.attr("link-type").unwrap_or("inner");
        let Some(&(join_operator, _, _)) = JoinOperator::ALL.iter().find(|(_, fetch, _)| *fetch == link_type) else {
            return Err(fault(format!(
                "unknown link-type '{link_type}' on {} (expected inner, outer, exists, in, matchfirstrowusingcrossapply, or inside a <filter> any, not any, all or not all)",
                el.place()
            )));
        };
        let filtering = matches!(
            join_operator,
            JoinOperator::Any | JoinOperator::NotAny | JoinOperator::All | JoinOperator::NotAll
        );
        if filtering != in_filter {
            let place = el.place();
            return Err(fault(match in_filter {
                true => {
                    format!("link-type '{link_type}' on {place} inside a <filter>: use any, not any, all or not all")
                }
                false => format!("link-type '{link_type}' on {place} belongs inside a <filter>"),
            }));
        }
        let mut link = LinkEntity {
            // FetchXML's `to` is the parent's column, `from` the linked table's.
            link_from_attribute_name: el.required("to")?.to_owned(),
            link_to_entity_name: name.to_owned(),
            link_to_attribute_name: el.required("from")?.to_owned(),
            join_operator,
            entity_alias: Some(alias.clone()),
            columns: self.columns(el, Some(&alias), ColumnSet::Columns(Vec::new()))?,
            link_criteria: FilterExpression::default(),
            link_entities: Vec::new(),
        };
        let mut filters = Vec::new();
        for child in &el.children {
            match child.name.as_str() {
                "filter" => filters.push(self.filter(child, &mut link.link_entities, orders, true)?),
                "order" => self.order(child, Some(&alias), orders)?,
                "link-entity" => link.link_entities.push(self.link(child, orders, false)?),
                _ => {}
            }
        }
        link.link_criteria = all_of(filters);
        Ok(link)
    }

    /// A `<filter>`: its conditions, filters and the link-entities in it (`any`, `not any`, `all`, `not all`),
    /// which join the table the filter belongs to, in `links`. They stand for conditions on the parent row, so
    /// they can be taken out of the filter only where every filter around them is `and`.
    fn filter(
        &mut self,
        el: &Element,
        links: &mut Vec<LinkEntity>,
        orders: &mut Vec<OrderExpression>,
        conjunctive: bool,
    ) -> Result<FilterExpression, Fault> {
        el.check(&FILTER)?;
        let filter_operator = match el.attr("type").unwrap_or("and") {
            "and" => LogicalOperator::And,
            "or" => LogicalOperator::Or,
            other => {
                return Err(fault(format!("unknown filter type '{other}' on {} (expected and or or)", el.place())));
            }
        };
        let conjunctive = conjunctive && filter_operator == LogicalOperator::And;
        let mut f = FilterExpression { filter_operator, ..FilterExpression::default() };
        for child in &el.children {
            match child.name.as_str() {
                "condition" => f.conditions.push(condition(child)?),
                "filter" => f.filters.push(self.filter(child, links, orders, conjunctive)?),
                _ if !conjunctive => return Err(child.not_supported("a <link-entity> inside an 'or' filter")),
                _ => links.push(self.link(child, orders, true)?),
            }
        }
        Ok(f)
    }

    /// An `<order>`: by a column, into `orders`; in an aggregate query by an alias, into the aggregate's orders.
    fn order(
        &mut self,
        el: &Element,
        link_alias: Option<&str>,
        orders: &mut Vec<OrderExpression>,
    ) -> Result<(), Fault> {
        el.check(&ORDER)?;
        let descending = el.flag("descending")?;
        match (&mut self.aggregate, el.attr("alias")) {
            (Some(aggregate), Some(alias)) if el.attr("attribute").is_none() => {
                aggregate.orders.push((alias.to_owned(), descending));
                return Ok(());
            }
            (Some(_), _) => {
                return Err(fault(format!(
                    "{} in an aggregate query orders by an 'alias' (and no 'attribute')",
                    el.place()
                )));
            }
            (None, Some(_)) => return Err(el.not_supported("the attribute 'alias' outside an aggregate query")),
            (None, None) => {}
        }
        let entity_name = match (el.attr("entityname"), link_alias) {
            (Some(_), Some(_)) => return Err(fault(format!("'entityname' on {} inside a <link-entity>", el.place()))),
            (name, alias) => name.or(alias).map(str::to_owned),
        };
        orders.push(OrderExpression { attribute_name: el.required("attribute")?.to_owned(), descending, entity_name });
        Ok(())
    }

    /// The `<attribute>` and `<all-attributes>` children as a column set; `none` when there are none. An
    /// `<attribute>` with an `alias` goes to [`Builder::aliased`] instead, under the table's alias (`entity`).
    fn columns(&mut self, el: &Element, entity: Option<&str>, none: ColumnSet) -> Result<ColumnSet, Fault> {
        let mut names = Vec::new();
        let (mut all, mut any) = (false, false);
        for child in &el.children {
            match child.name.as_str() {
                "all-attributes" if self.aggregate.is_some() => {
                    return Err(fault(format!("{} in an aggregate query", child.place())));
                }
                "all-attributes" => {
                    child.check(&ALL_ATTRIBUTES)?;
                    all = true;
                }
                "attribute" if self.aggregate.is_some() => {
                    child.check(&ATTRIBUTE)?;
                    let column = aggregate_column(child, entity)?;
                    self.aggregate.iter_mut().for_each(|a| a.columns.push(column.clone()));
                }
                "attribute" => {
                    child.check(&ATTRIBUTE)?;
                    any = true;
                    if let Some(name) =
                        ["aggregate", "groupby", "dategrouping", "distinct"].iter().find(|n| child.attr(n).is_some())
                    {
                        return Err(fault(format!(
                            "'{name}' on {} belongs in an aggregate query (<fetch aggregate=\"true\">)",
                            child.place()
                        )));
                    }
                    let column = child.required("name")?.to_owned();
                    match child.attr("alias") {
                        Some(alias) if alias.trim().is_empty() => {
                            return Err(fault(format!("'alias' on {} must not be empty", child.place())));
                        }
                        Some(alias) => {
                            let entity = entity.map(str::to_owned);
                            self.aliased.push(AliasedColumn { entity, column, alias: alias.to_owned() });
                        }
                        None => names.push(column),
                    }
                }
                _ => {}
            }
        }
        Ok(match (all, any) {
            (true, _) => ColumnSet::AllColumns,
            (false, false) => none,
            (false, true) => ColumnSet::Columns(names),
        })
    }
}

/// An `<attribute>` of an aggregate query: its `alias`, and an `aggregate` or a `groupby` (QRY-6).
fn aggregate_column(el: &Element, entity: Option<&str>) -> Result<AggregateColumn, Fault> {
    let column = el.required("name")?.to_owned();
    let alias = el.attr("alias").filter(|a| !a.trim().is_empty());
    let alias = alias.ok_or_else(|| fault(format!("{} in an aggregate query needs an 'alias'", el.place())))?;
    let distinct = el.flag("distinct")?;
    let kind = match (el.attr("aggregate"), el.flag("groupby")?) {
        (Some(_), true) => return Err(fault(format!("{} has both 'aggregate' and 'groupby'", el.place()))),
        (Some(name), false) => {
            let found = Function::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f);
            let function = found.ok_or_else(|| {
                fault(format!(
                    "unknown aggregate '{name}' on {} (expected count, countcolumn, sum, avg, min or max)",
                    el.place()
                ))
            })?;
            if distinct && function != Function::CountColumn {
                return Err(fault(format!("'distinct' on {} applies to the aggregate countcolumn", el.place())));
            }
            Kind::Aggregate { function, distinct }
        }
        (None, true) => {
            let grouping = match el.attr("dategrouping") {
                None => None,
                Some(name) if name.starts_with("fiscal-") => {
                    return Err(el.not_supported(&format!("the dategrouping '{name}'")));
                }
                Some(name) => {
                    Some(DateGrouping::ALL.iter().find(|(_, n)| *n == name).map(|(g, _)| *g).ok_or_else(|| {
                        fault(format!(
                            "unknown dategrouping '{name}' on {} (expected day, week, month, quarter or year)",
                            el.place()
                        ))
                    })?)
                }
            };
            Kind::GroupBy(grouping)
        }
        (None, false) => {
            return Err(fault(format!(
                "{} in an aggregate query needs an 'aggregate' or groupby=\"true\"",
                el.place()
            )));
        }
    };
    if distinct && !matches!(kind, Kind::Aggregate { .. }) {
        return Err(fault(format!("'distinct' on {} applies to the aggregate countcolumn", el.place())));
    }
    if el.attr("dategrouping").is_some() && !matches!(kind, Kind::GroupBy(_)) {
        return Err(fault(format!("'dategrouping' on {} needs groupby=\"true\"", el.place())));
    }
    // `usertimezone` defaults to true: dates group in the user's time zone unless it says false.
    let user_time_zone = el.attr("usertimezone").is_none() || el.flag("usertimezone")?;
    Ok(AggregateColumn { entity: entity.map(str::to_owned), column, alias: alias.to_owned(), kind, user_time_zone })
}

/// Several `<filter>` elements side by side all apply.
fn all_of(mut filters: Vec<FilterExpression>) -> FilterExpression {
    match filters.len() {
        1 => filters.remove(0),
        _ => FilterExpression { filter_operator: LogicalOperator::And, conditions: Vec::new(), filters },
    }
}

fn condition(el: &Element) -> Result<ConditionExpression, Fault> {
    el.check(&CONDITION)?;
    let name = el.required("operator")?;
    let operator = match ConditionOperator::ALL.iter().find(|(_, fetch, _)| *fetch == name) {
        Some((op, _, _)) => *op,
        None if name == "neq" => ConditionOperator::NotEqual,
        None if OTHER_OPERATORS.contains(&name) => {
            return Err(el.not_supported(&format!("the condition operator '{name}'")));
        }
        None => return Err(fault(format!("unknown condition operator '{name}' on {}", el.place()))),
    };
    let mut values: Vec<Value> = el.attr("value").map(Value::from).into_iter().collect();
    for child in el.children_named("value") {
        child.check(&VALUE)?;
        values.push(Value::Text(child.text.clone()));
    }
    if el.attr("value").is_some() && values.len() > 1 {
        return Err(fault(format!("{} has both a 'value' attribute and <value> elements", el.place())));
    }
    Ok(ConditionExpression {
        entity_name: el.attr("entityname").map(str::to_owned),
        attribute_name: el.required("attribute")?.to_owned(),
        operator,
        values,
    })
}

#[cfg(test)]
mod tests;
