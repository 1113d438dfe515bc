use crate::fault::{Fault, codes};
use crate::value::Value;

/// The columns a query or retrieve returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ColumnSet {
    #[default]
    AllColumns,
    Columns(Vec<String>),
}

impl ColumnSet {
    pub fn includes(&self, column: &str) -> bool {
        match self {
            ColumnSet::AllColumns => true,
            ColumnSet::Columns(cols) => cols.iter().any(|c| c == column),
        }
    }
}

/// `ConditionOperator`, with the FetchXML names used in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionOperator {
    Equal,
    NotEqual,
    GreaterThan,
    GreaterEqual,
    LessThan,
    LessEqual,
    Like,
    NotLike,
    In,
    NotIn,
    Null,
    NotNull,
    BeginsWith,
    NotBeginWith,
    EndsWith,
    NotEndWith,
    Between,
    NotBetween,
    EqualUserId,
    NotEqualUserId,
    EqualBusinessId,
    NotEqualBusinessId,
    // Dates, relative to the case's clock (QRY-2).
    Yesterday,
    Today,
    Tomorrow,
    Last7Days,
    Next7Days,
    LastWeek,
    ThisWeek,
    NextWeek,
    LastMonth,
    ThisMonth,
    NextMonth,
    On,
    OnOrBefore,
    OnOrAfter,
    LastYear,
    ThisYear,
    NextYear,
    LastXHours,
    NextXHours,
    LastXDays,
    NextXDays,
    LastXWeeks,
    NextXWeeks,
    LastXMonths,
    NextXMonths,
    LastXYears,
    NextXYears,
    OlderThanXMinutes,
    OlderThanXHours,
    OlderThanXDays,
    OlderThanXWeeks,
    OlderThanXMonths,
    OlderThanXYears,
    // Multi-select choices (QRY-4).
    ContainValues,
    NotContainValues,
    // Hierarchies (QRY-5).
    Under,
    UnderOrEqual,
    NotUnder,
    Above,
    AboveOrEqual,
}

impl ConditionOperator {
    /// Every operator with its FetchXML name and its `ConditionOperator` name.
    pub const ALL: [(ConditionOperator, &'static str, &'static str); 62] = [
        (ConditionOperator::Equal, "eq", "Equal"),
        (ConditionOperator::NotEqual, "ne", "NotEqual"),
        (ConditionOperator::GreaterThan, "gt", "GreaterThan"),
        (ConditionOperator::GreaterEqual, "ge", "GreaterEqual"),
        (ConditionOperator::LessThan, "lt", "LessThan"),
        (ConditionOperator::LessEqual, "le", "LessEqual"),
        (ConditionOperator::Like, "like", "Like"),
        (ConditionOperator::NotLike, "not-like", "NotLike"),
        (ConditionOperator::In, "in", "In"),
        (ConditionOperator::NotIn, "not-in", "NotIn"),
        (ConditionOperator::Null, "null", "Null"),
        (ConditionOperator::NotNull, "not-null", "NotNull"),
        (ConditionOperator::BeginsWith, "begins-with", "BeginsWith"),
        (ConditionOperator::NotBeginWith, "not-begin-with", "DoesNotBeginWith"),
        (ConditionOperator::EndsWith, "ends-with", "EndsWith"),
        (ConditionOperator::NotEndWith, "not-end-with", "DoesNotEndWith"),
        (ConditionOperator::Between, "between", "Between"),
        (ConditionOperator::NotBetween, "not-between", "NotBetween"),
        (ConditionOperator::EqualUserId, "eq-userid", "EqualUserId"),
        (ConditionOperator::NotEqualUserId, "ne-userid", "NotEqualUserId"),
        (ConditionOperator::EqualBusinessId, "eq-businessid", "EqualBusinessId"),
        (ConditionOperator::NotEqualBusinessId, "ne-businessid", "NotEqualBusinessId"),
        (ConditionOperator::Yesterday, "yesterday", "Yesterday"),
        (ConditionOperator::Today, "today", "Today"),
        (ConditionOperator::Tomorrow, "tomorrow", "Tomorrow"),
        (ConditionOperator::Last7Days, "last-seven-days", "Last7Days"),
        (ConditionOperator::Next7Days, "next-seven-days", "Next7Days"),
        (ConditionOperator::LastWeek, "last-week", "LastWeek"),
        (ConditionOperator::ThisWeek, "this-week", "ThisWeek"),
        (ConditionOperator::NextWeek, "next-week", "NextWeek"),
        (ConditionOperator::LastMonth, "last-month", "LastMonth"),
        (ConditionOperator::ThisMonth, "this-month", "ThisMonth"),
        (ConditionOperator::NextMonth, "next-month", "NextMonth"),
        (ConditionOperator::On, "on", "On"),
        (ConditionOperator::OnOrBefore, "on-or-before", "OnOrBefore"),
        (ConditionOperator::OnOrAfter, "on-or-after", "OnOrAfter"),
        (ConditionOperator::LastYear, "last-year", "LastYear"),
        (ConditionOperator::ThisYear, "this-year", "ThisYear"),
        (ConditionOperator::NextYear, "next-year", "NextYear"),
        (ConditionOperator::LastXHours, "last-x-hours", "LastXHours"),
        (ConditionOperator::NextXHours, "next-x-hours", "NextXHours"),
        (ConditionOperator::LastXDays, "last-x-days", "LastXDays"),
        (ConditionOperator::NextXDays, "next-x-days", "NextXDays"),
        (ConditionOperator::LastXWeeks, "last-x-weeks", "LastXWeeks"),
        (ConditionOperator::NextXWeeks, "next-x-weeks", "NextXWeeks"),
        (ConditionOperator::LastXMonths, "last-x-months", "LastXMonths"),
        (ConditionOperator::NextXMonths, "next-x-months", "NextXMonths"),
        (ConditionOperator::LastXYears, "last-x-years", "LastXYears"),
        (ConditionOperator::NextXYears, "next-x-years", "NextXYears"),
        (ConditionOperator::OlderThanXMinutes, "olderthan-x-minutes", "OlderThanXMinutes"),
        (ConditionOperator::OlderThanXHours, "olderthan-x-hours", "OlderThanXHours"),
        (ConditionOperator::OlderThanXDays, "olderthan-x-days", "OlderThanXDays"),
        (ConditionOperator::OlderThanXWeeks, "olderthan-x-weeks", "OlderThanXWeeks"),
        (ConditionOperator::OlderThanXMonths, "olderthan-x-months", "OlderThanXMonths"),
        (ConditionOperator::OlderThanXYears, "olderthan-x-years", "OlderThanXYears"),
        (ConditionOperator::ContainValues, "contain-values", "ContainValues"),
        (ConditionOperator::NotContainValues, "not-contain-values", "DoesNotContainValues"),
        (ConditionOperator::Under, "under", "Under"),
        (ConditionOperator::UnderOrEqual, "eq-or-under", "UnderOrEqual"),
        (ConditionOperator::NotUnder, "not-under", "NotUnder"),
        (ConditionOperator::Above, "above", "Above"),
        (ConditionOperator::AboveOrEqual, "eq-or-above", "AboveOrEqual"),
    ];

    /// Parses either the FetchXML name (`eq`, `not-like`) or the SDK name (`Equal`, `NotLike`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, fetch, sdk)| *fetch == name || *sdk == name).map(|(op, _, _)| *op)
    }

    pub fn fetch_name(self) -> &'static str {
        Self::ALL.iter().find(|(op, _, _)| *op == self).map_or("eq", |(_, fetch, _)| fetch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogicalOperator {
    #[default]
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConditionExpression {
    /// The alias of the link-entity the column belongs to; `None` for the query's own table.
    pub entity_name: Option<String>,
    pub attribute_name: String,
    pub operator: ConditionOperator,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilterExpression {
    pub filter_operator: LogicalOperator,
    pub conditions: Vec<ConditionExpression>,
    pub filters: Vec<FilterExpression>,
}

impl FilterExpression {
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty() && self.filters.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JoinOperator {
    #[default]
    Inner,
    LeftOuter,
    /// Inner, joining only the first matching row (FetchXML's `matchfirstrowusingcrossapply`).
    MatchFirstRowUsingCrossApply,
    /// Parent rows with a matching row, each once, without the linked table's columns.
    In,
    Exists,
    /// Parent rows with any matching row (`any`), or with none (`not any`); FetchXML has them inside a filter.
    Any,
    NotAny,
    /// As the platform documents them: `all` keeps parent rows that have matching rows none of which passes the
    /// link's filter; `not all` is the same as `any`.
    All,
    NotAll,
}

impl JoinOperator {
    /// Every operator with its FetchXML `link-type` and its SDK name.
    pub const ALL: [(JoinOperator, &'static str, &'static str); 9] = [
        (JoinOperator::Inner, "inner", "Inner"),
        (JoinOperator::LeftOuter, "outer", "LeftOuter"),
        (JoinOperator::MatchFirstRowUsingCrossApply, "matchfirstrowusingcrossapply", "MatchFirstRowUsingCrossApply"),
        (JoinOperator::In, "in", "In"),
        (JoinOperator::Exists, "exists", "Exists"),
        (JoinOperator::Any, "any", "Any"),
        (JoinOperator::NotAny, "not any", "NotAny"),
        (JoinOperator::All, "all", "All"),
        (JoinOperator::NotAll, "not all", "NotAll"),
    ];

    pub fn fetch_name(self) -> &'static str {
        Self::ALL.iter().find(|(op, _, _)| *op == self).map_or("inner", |(_, fetch, _)| fetch)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkEntity {
    pub link_from_attribute_name: String,
    pub link_to_entity_name: String,
    pub link_to_attribute_name: String,
    pub join_operator: JoinOperator,
    pub entity_alias: Option<String>,
    pub columns: ColumnSet,
    pub link_criteria: FilterExpression,
    pub link_entities: Vec<LinkEntity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderExpression {
    pub attribute_name: String,
    pub descending: bool,
    /// The alias of the link-entity the column belongs to; `None` for the query's own table.
    pub entity_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PagingInfo {
    pub page_number: u32,
    pub count: u32,
    pub paging_cookie: Option<String>,
    /// `ReturnTotalRecordCount`: the response's `TotalRecordCount` counts the query's matches (QRY-9).
    pub return_total_record_count: bool,
}

impl PagingInfo {
    /// Whether it asks for a page: a page number, a count or a cookie. A paging info that only asks for the
    /// total record count leaves the query unpaged.
    pub fn asks_for_a_page(&self) -> bool {
        self.page_number > 0 || self.count > 0 || self.paging_cookie.is_some() || !self.return_total_record_count
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryExpression {
    pub entity_name: String,
    pub column_set: ColumnSet,
    pub criteria: FilterExpression,
    pub link_entities: Vec<LinkEntity>,
    pub orders: Vec<OrderExpression>,
    pub top_count: Option<u32>,
    pub page_info: Option<PagingInfo>,
    pub distinct: bool,
}

impl QueryExpression {
    pub fn new(entity_name: impl Into<String>) -> Self {
        QueryExpression { entity_name: entity_name.into(), ..QueryExpression::default() }
    }
}

/// `QueryByAttribute`: the records of a table whose columns equal the given values (QRY-8), with the columns,
/// orders and paging of a QueryExpression. A null value matches the records where the column is null.
///
/// ```
/// # use xrm_model::{QueryByAttribute, ColumnSet};
/// let query = QueryByAttribute::new("account")
///     .with_attribute_value("address1_city", "Lyon")
///     .with_attribute_value("statecode", xrm_model::Value::Choice(0))
///     .with_columns(["name"])
///     .with_order("name", false);
/// assert_eq!(query.attributes, ["address1_city", "statecode"]);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryByAttribute {
    pub entity_name: String,
    pub column_set: ColumnSet,
    /// `Attributes`: the columns compared, in the order of `values`.
    pub attributes: Vec<String>,
    /// `Values`: one per column of `attributes`.
    pub values: Vec<Value>,
    pub orders: Vec<OrderExpression>,
    pub top_count: Option<u32>,
    pub page_info: Option<PagingInfo>,
}

impl QueryByAttribute {
    pub fn new(entity_name: impl Into<String>) -> Self {
        QueryByAttribute { entity_name: entity_name.into(), ..QueryByAttribute::default() }
    }

    /// `AddAttributeValue`: one more column and the value it must equal.
    pub fn add_attribute_value(&mut self, attribute: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.attributes.push(attribute.into());
        self.values.push(value.into());
        self
    }

    /// [`add_attribute_value`](Self::add_attribute_value), as a builder.
    pub fn with_attribute_value(mut self, attribute: impl Into<String>, value: impl Into<Value>) -> Self {
        self.add_attribute_value(attribute, value);
        self
    }

    /// The columns returned (`ColumnSet`); all columns when never set.
    pub fn with_columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.column_set = ColumnSet::Columns(columns.into_iter().map(Into::into).collect());
        self
    }

    /// `AddOrder`: one more order on a column of the table.
    pub fn with_order(mut self, attribute: impl Into<String>, descending: bool) -> Self {
        self.orders.push(OrderExpression { attribute_name: attribute.into(), descending, entity_name: None });
        self
    }

    /// `TopCount`.
    pub fn with_top(mut self, top: u32) -> Self {
        self.top_count = Some(top);
        self
    }

    /// `PageInfo`.
    pub fn with_page_info(mut self, page_info: PagingInfo) -> Self {
        self.page_info = Some(page_info);
        self
    }

    /// The QueryExpression it stands for: an `and` of one `eq` condition per column (`null` for a null value).
    /// No column, or not as many values as columns, is `0x80040203`.
    pub fn to_expression(&self) -> Result<QueryExpression, Fault> {
        if self.attributes.is_empty() {
            return Err(Fault::new(
                codes::INVALID_ARGUMENT,
                "A QueryByAttribute must have at least one attribute (AddAttributeValue)",
            ));
        }
        if self.attributes.len() != self.values.len() {
            return Err(Fault::new(
                codes::INVALID_ARGUMENT,
                format!(
                    "A QueryByAttribute must have as many values as attributes: {} attributes, {} values",
                    self.attributes.len(),
                    self.values.len()
                ),
            ));
        }
        let conditions = self
            .attributes
            .iter()
            .zip(&self.values)
            .map(|(attribute, value)| ConditionExpression {
                entity_name: None,
                attribute_name: attribute.clone(),
                operator: if value.is_null() { ConditionOperator::Null } else { ConditionOperator::Equal },
                values: if value.is_null() { Vec::new() } else { vec![value.clone()] },
            })
            .collect();
        Ok(QueryExpression {
            entity_name: self.entity_name.clone(),
            column_set: self.column_set.clone(),
            criteria: FilterExpression { filter_operator: LogicalOperator::And, conditions, filters: Vec::new() },
            link_entities: Vec::new(),
            orders: self.orders.clone(),
            top_count: self.top_count,
            page_info: self.page_info.clone(),
            distinct: false,
        })
    }
}

/// A RetrieveMultiple query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Expression(QueryExpression),
    FetchXml(String),
    /// `QueryByAttribute` (QRY-8).
    ByAttribute(QueryByAttribute),
}

impl Query {
    /// The table the query reads (FetchXML's is inside its text: `None`).
    pub fn table(&self) -> Option<&str> {
        match self {
            Query::Expression(q) => Some(&q.entity_name),
            Query::ByAttribute(q) => Some(&q.entity_name),
            Query::FetchXml(_) => None,
        }
    }
}

impl From<QueryByAttribute> for Query {
    fn from(q: QueryByAttribute) -> Self {
        Query::ByAttribute(q)
    }
}
