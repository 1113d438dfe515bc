//! What a request asks for besides its path: the `Prefer` header's preferences and the query string's options
//! (`$select`, `$filter`, `$orderby`, `$top`, `$count`, the next-link `$skiptoken`, `tag`).

use hyper::header::HeaderMap;
use xrm_model::{ColumnSet, OrderExpression};

use super::errors::ApiError;
use super::filter;
use super::json::Annotations;
use super::path::query_pairs;

/// The `Prefer` header's preferences the server honours.
#[derive(Default)]
pub(super) struct Prefer {
    pub(super) representation: bool,
    pub(super) max_page_size: Option<u32>,
    pub(super) annotations: Annotations,
}

impl Prefer {
    pub(super) fn read(headers: &HeaderMap) -> Result<Prefer, ApiError> {
        let mut prefer = Prefer::default();
        for value in headers.get_all("Prefer") {
            let text = value.to_str().map_err(|_| ApiError::bad_request("The Prefer header is not text"))?;
            for item in split_outside_quotes(text).into_iter().map(str::trim) {
                let (name, value) =
                    item.split_once('=').map_or((item, ""), |(n, v)| (n.trim(), v.trim().trim_matches('"')));
                match name {
                    "return" => prefer.representation = value == "representation",
                    "odata.maxpagesize" => {
                        let size = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            ApiError::bad_request(format!("odata.maxpagesize={value} is not a positive whole number"))
                        })?;
                        prefer.max_page_size = Some(size);
                    }
                    "odata.include-annotations" => prefer.annotations = Annotations::from_preference(value),
                    // Other preferences (odata.continue-on-error, …) are not honoured; the platform ignores
                    // those it does not know too.
                    _ => {}
                }
            }
        }
        Ok(prefer)
    }
}

/// `a=1, b="x,y"` split at the commas outside double quotes.
fn split_outside_quotes(text: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The query options of a request.
#[derive(Default)]
pub(super) struct QueryOptions {
    pub(super) select: Option<Vec<String>>,
    pub(super) filter: Option<String>,
    pub(super) orderby: Vec<OrderExpression>,
    pub(super) top: Option<u32>,
    pub(super) count: bool,
    /// The page a `@odata.nextLink` points to (its opaque `$skiptoken` is the page number).
    pub(super) page: Option<u32>,
    /// `tag=…`: the request's `SharedVariables["tag"]` (PIPE-7).
    pub(super) tag: Option<String>,
    /// `fetchXml=…`: a FetchXML query instead of the options above.
    pub(super) fetch_xml: Option<String>,
    /// `$id=…`: the related record of a `DELETE …/{navigation}/$ref`.
    pub(super) id: Option<String>,
}

impl QueryOptions {
    pub(super) fn read(query: &str) -> Result<QueryOptions, ApiError> {
        let mut options = QueryOptions::default();
        for (name, value) in query_pairs(query)? {
            match name.as_str() {
                "$select" => {
                    let columns = value.split(',').map(|c| filter::column_name(c.trim())).collect::<Result<_, _>>();
                    options.select =
                        Some(columns.map_err(|e| {
                            ApiError::bad_request(e.message.replace("Invalid $filter", "Invalid $select"))
                        })?);
                }
                "$filter" => options.filter = Some(value),
                "$orderby" => options.orderby = orderby(&value)?,
                "$top" => {
                    let top = value
                        .parse()
                        .map_err(|_| ApiError::bad_request(format!("Invalid $top: '{value}' is not a whole number")))?;
                    options.top = Some(top);
                }
                "$count" => {
                    options.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(ApiError::bad_request(format!("Invalid $count: '{value}' (true or false)"))),
                    }
                }
                "$skiptoken" => {
                    let page = value.parse().ok().filter(|p| *p > 1).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Invalid $skiptoken '{value}': follow @odata.nextLink as it is given"
                        ))
                    })?;
                    options.page = Some(page);
                }
                "tag" => options.tag = Some(value),
                "fetchXml" => options.fetch_xml = Some(value),
                "$id" => options.id = Some(value),
                "$expand" | "$apply" | "$skip" | "$search" | "$compute" | "$format" | "$levels" | "savedQuery"
                | "userQuery" => {
                    return Err(ApiError::not_supported(format!("The query option '{name}'")));
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "The query option '{other}' is unknown ($select, $filter, $orderby, $top, $count and tag \
                         are served)"
                    )));
                }
            }
        }
        Ok(options)
    }

    pub(super) fn columns(&self) -> ColumnSet {
        match &self.select {
            Some(columns) => ColumnSet::Columns(columns.clone()),
            None => ColumnSet::AllColumns,
        }
    }
}

/// `$orderby=name desc,createdon`.
fn orderby(text: &str) -> Result<Vec<OrderExpression>, ApiError> {
    text.split(',')
        .map(|item| {
            let mut words = item.split_whitespace();
            let column = words.next().ok_or_else(|| ApiError::bad_request(format!("Invalid $orderby '{text}'")))?;
            let descending = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid $orderby: '{other}' after '{column}' (asc or desc)"
                    )));
                }
            };
            if let Some(extra) = words.next() {
                return Err(ApiError::bad_request(format!("Invalid $orderby: unexpected '{extra}' in '{item}'")));
            }
            let column = filter::column_name(column)
                .map_err(|e| ApiError::bad_request(e.message.replace("Invalid $filter", "Invalid $orderby")))?;
            Ok(OrderExpression { attribute_name: column, descending, entity_name: None })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;
    use hyper::header::HeaderValue;

    #[test]
    fn preferences_are_read_with_quoted_lists() {
        let mut headers = HeaderMap::new();
        let both = "return=representation, odata.include-annotations=\"OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname\"";
        headers.insert("Prefer", HeaderValue::from_str(both).unwrap());
        headers.append("Prefer", HeaderValue::from_static("odata.maxpagesize=10"));
        let prefer = Prefer::read(&headers).unwrap();
        assert!(prefer.representation);
        assert_eq!(prefer.max_page_size, Some(10));
        assert_eq!(prefer.annotations, Annotations { formatted: true, lookup_table: true, ..Annotations::default() });
        headers.insert("Prefer", HeaderValue::from_static("odata.maxpagesize=0"));
        assert!(Prefer::read(&headers).is_err());
    }

    #[test]
    fn orderby_reads_columns_and_directions() {
        let orders = orderby("name desc, _ownerid_value,createdon asc").unwrap();
        let read: Vec<(&str, bool)> = orders.iter().map(|o| (o.attribute_name.as_str(), o.descending)).collect();
        assert_eq!(read, [("name", true), ("ownerid", false), ("createdon", false)]);
        assert!(orderby("name sideways").unwrap_err().message.contains("'sideways'"));
    }

    #[test]
    fn query_options_are_read_and_unknown_ones_refused() {
        let o = QueryOptions::read("%24select=name,_ownerid_value&$top=3&$count=true").unwrap();
        assert_eq!(o.select, Some(vec!["name".to_owned(), "ownerid".to_owned()]));
        assert_eq!((o.top, o.count), (Some(3), true));
        assert_eq!(QueryOptions::read("$expand=x").err().unwrap().status, StatusCode::NOT_IMPLEMENTED);
        assert_eq!(QueryOptions::read("$apply=groupby((name))").err().unwrap().status, StatusCode::NOT_IMPLEMENTED);
        assert_eq!(QueryOptions::read("fetchXml=%3Cfetch/%3E").unwrap().fetch_xml.as_deref(), Some("<fetch/>"));
        assert_eq!(QueryOptions::read("$top=many").err().unwrap().status, StatusCode::BAD_REQUEST);
        assert_eq!(QueryOptions::read("$frobnicate=1").err().unwrap().status, StatusCode::BAD_REQUEST);
    }
}
