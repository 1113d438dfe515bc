//! FetchXML, read into a QueryExpression.

/// The table a FetchXML query is about (`<entity name="…">`), without checking the rest.
pub fn entity_name(_fetch: &str) -> Option<String> {
    None
}
