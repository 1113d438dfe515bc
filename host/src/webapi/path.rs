//! The OData URL: the resource a path names under `/api/data/v{version}/`, and the query string's options
//! (form-encoded: `%24select`, `+` for a space).

use xrm_model::Uuid;

use super::errors::ApiError;

/// What a path under `/api/data/v{version}/` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `WhoAmI` or `WhoAmI()`.
    WhoAmI,
    /// `accounts`: the records of an entity set.
    Collection(String),
    /// `accounts/$count`.
    Count(String),
    /// `accounts(00000000-…)` or `accounts(accountnumber='A1')`: one record.
    Record(String, RecordKey),
    /// `accounts(…)/Microsoft.Dynamics.CRM.{Name}` (bound to a record) or `accounts/Microsoft.Dynamics.CRM.{Name}`
    /// (bound to the entity set): an action (the namespace may be left out). Any other method than POST on
    /// such a path is a property path, not served.
    BoundAction(String, Option<RecordKey>, String),
    /// `accounts(…)/{navigation}/$ref` or `accounts(…)/{navigation}({related key})/$ref`: a reference between
    /// two records (associate, disassociate, set or clear a lookup).
    Ref(String, RecordKey, String, Option<RecordKey>),
}

/// How a URL names a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    Id(Uuid),
    /// The values of an alternate key's columns (KEY-1), as text (strings unquoted), in URL order; typed by the
    /// columns once the table is known.
    Keys(Vec<(String, String)>),
}

/// A path split into its Web API version (`v9.2`) and the resource it names, or `None` when it is not under
/// `/api/data/v…/`.
pub fn split_api_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/api/data/")?;
    let (version, rest) = rest.split_once('/').unwrap_or((rest, ""));
    version.starts_with('v').then_some((version, rest))
}

/// Reads the resource part of a path (after `/api/data/v9.2/`, still percent-encoded). Entity sets are not
/// checked here: the caller knows the organization's.
pub fn parse_resource(rest: &str) -> Result<Resource, ApiError> {
    let decoded = percent_decode(rest, false)?;
    let segments: Vec<&str> = decoded.split('/').collect();
    let first = segments[0];
    if first.is_empty() {
        return Err(ApiError::not_supported("The service document (a GET of the service root)"));
    }
    if first.starts_with('$') {
        return Err(ApiError::not_supported(format!("The path segment '{first}'")));
    }
    let (name, key) = match first.split_once('(') {
        None => (first, None),
        Some((name, rest)) => {
            let key = rest.strip_suffix(')').ok_or_else(|| {
                ApiError::bad_request(format!("Bad Request - Error in path: the segment '{first}' has no closing ')'"))
            })?;
            (name, Some(key))
        }
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
        return Err(ApiError::bad_request(format!("Bad Request - Error in path: '{first}' is not a segment name")));
    }
    if name == "WhoAmI" {
        return match (key, &segments[1..]) {
            (None | Some(""), []) => Ok(Resource::WhoAmI),
            _ => Err(ApiError::bad_request("WhoAmI takes no parameters and has no segments after it")),
        };
    }
    let resource = match key {
        None => Resource::Collection(name.to_owned()),
        Some(key) => Resource::Record(name.to_owned(), record_key(name, key)?),
    };
    match (&resource, &segments[1..]) {
        (_, []) => Ok(resource),
        (Resource::Collection(set), ["$count"]) => Ok(Resource::Count(set.clone())),
        (Resource::Record(set, key), [navigation, "$ref"]) => {
            let (name, related) = match navigation.split_once('(') {
                None => (*navigation, None),
                Some((name, rest)) => {
                    let related = rest.strip_suffix(')').ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Bad Request - Error in path: the segment '{navigation}' has no closing ')'"
                        ))
                    })?;
                    (name, Some(record_key(name, related)?))
                }
            };
            Ok(Resource::Ref(set.clone(), key.clone(), name.to_owned(), related))
        }
        // Clients write a bound action with its namespace or without it (dynamics-web-api does not add it).
        (Resource::Collection(set), [next]) | (Resource::Record(set, _), [next])
            if !next.is_empty() && next.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') =>
        {
            let name = next.strip_prefix("Microsoft.Dynamics.CRM.").unwrap_or(next);
            let key = match &resource {
                Resource::Record(_, key) => Some(key.clone()),
                _ => None,
            };
            Ok(Resource::BoundAction(set.clone(), key, name.to_owned()))
        }
        (_, [next, ..]) => Err(ApiError::not_supported(format!("The path segment '{next}' (after '{first}')"))),
    }
}

/// The key in `accounts(…)`: a GUID, with or without braces, or alternate key values (`name='x',code=3`).
fn record_key(set: &str, key: &str) -> Result<RecordKey, ApiError> {
    if key.contains('=') {
        return alternate_key(set, key).map(RecordKey::Keys);
    }
    let bare = key.trim_start_matches('{').trim_end_matches('}');
    Uuid::try_parse(bare).map(RecordKey::Id).map_err(|_| {
        ApiError::bad_request(format!(
            "Bad Request - Error in path: '{key}' in '{set}({key})' is neither a GUID nor alternate key values \
             (column='text' or column=number, comma-separated)"
        ))
    })
}

/// `accountnumber='A''1',code=3`: each column and its value, strings unquoted (`''` is a quote).
fn alternate_key(set: &str, key: &str) -> Result<Vec<(String, String)>, ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("Bad Request - Error in path: '{set}({key})': {why}"));
    let mut pairs = Vec::new();
    let mut rest = key;
    loop {
        let (column, after) = rest.split_once('=').ok_or_else(|| bad("expected column=value"))?;
        let column = column.trim();
        if column.is_empty() || !column.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad(&format!("'{column}' is not a column name")));
        }
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('\'') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '\'')) if quoted[i + 1..].starts_with('\'') => {
                            value.push('\'');
                            chars.next();
                        }
                        Some((i, '\'')) => break i + 1,
                        Some((_, c)) => value.push(c),
                        None => return Err(bad(&format!("the value of '{column}' is not closed"))),
                    }
                };
                (value, quoted[end..].trim_start())
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            }
        };
        if value.is_empty() && !after.starts_with('\'') {
            return Err(bad(&format!("'{column}' has no value")));
        }
        pairs.push((column.to_ascii_lowercase(), value));
        match next.strip_prefix(',') {
            Some(more) => rest = more,
            None if next.is_empty() => return Ok(pairs),
            None => return Err(bad(&format!("unexpected '{next}' after the value of '{column}'"))),
        }
    }
}

/// `%XX` decoded (and `+` as a space when `plus_is_space`, as in a query string); malformed escapes or bytes
/// that are not UTF-8 are refused.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| {
                    ApiError::bad_request(format!("Bad Request - a malformed percent escape in '{text}'"))
                })?;
                out.push(byte);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request(format!("Bad Request - '{text}' is not UTF-8")))
}

/// The query string's options as decoded name and value pairs, in order.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name, true)?, percent_decode(value, true)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6f1a2b3c-0000-4000-8000-000000000001";

    fn id() -> Uuid {
        Uuid::parse_str(ID).unwrap()
    }

    #[test]
    fn api_paths_split_into_version_and_resource() {
        assert_eq!(split_api_path("/api/data/v9.2/accounts"), Some(("v9.2", "accounts")));
        assert_eq!(split_api_path("/api/data/v9.0/"), Some(("v9.0", "")));
        assert_eq!(split_api_path("/api/data/v9.1"), Some(("v9.1", "")));
        assert_eq!(split_api_path("/api/data/accounts"), None);
        assert_eq!(split_api_path("/accounts"), None);
    }

    #[test]
    fn resources_are_read_from_the_path() {
        assert_eq!(parse_resource("WhoAmI"), Ok(Resource::WhoAmI));
        assert_eq!(parse_resource("WhoAmI()"), Ok(Resource::WhoAmI));
        assert_eq!(parse_resource("accounts"), Ok(Resource::Collection("accounts".into())));
        assert_eq!(parse_resource("accounts/$count"), Ok(Resource::Count("accounts".into())));
        let by_id = Ok(Resource::Record("accounts".into(), RecordKey::Id(id())));
        assert_eq!(parse_resource(&format!("accounts({ID})")), by_id);
        assert_eq!(parse_resource(&format!("accounts(%7B{ID}%7D)")), by_id);
        let keys = |pairs: &[(&str, &str)]| {
            let pairs = pairs.iter().map(|(c, v)| ((*c).to_owned(), (*v).to_owned())).collect();
            Ok(Resource::Record("accounts".into(), RecordKey::Keys(pairs)))
        };
        assert_eq!(parse_resource("accounts(accountnumber='A1')"), keys(&[("accountnumber", "A1")]));
        assert_eq!(
            parse_resource("accounts(name='O''Neil,%20Ltd',%20numberofemployees=3)"),
            keys(&[("name", "O'Neil, Ltd"), ("numberofemployees", "3")])
        );
        assert_eq!(parse_resource("accounts(name='')"), keys(&[("name", "")]));
        assert_eq!(parse_resource("new_things"), Ok(Resource::Collection("new_things".into())));
        let id = Uuid::try_parse(ID).unwrap();
        assert_eq!(
            parse_resource(&format!("accounts({ID})/Microsoft.Dynamics.CRM.new_Escalate")),
            Ok(Resource::BoundAction("accounts".into(), Some(RecordKey::Id(id)), "new_Escalate".into()))
        );
        assert_eq!(
            parse_resource("accounts/Microsoft.Dynamics.CRM.CreateMultiple"),
            Ok(Resource::BoundAction("accounts".into(), None, "CreateMultiple".into()))
        );
    }

    #[test]
    fn malformed_paths_are_400_and_unsupported_ones_501_naming_them() {
        let status = |p: &str| parse_resource(p).unwrap_err();
        let e = status("accounts(nope)");
        assert_eq!(e.status, hyper::StatusCode::BAD_REQUEST);
        assert!(e.message.contains("'nope'"), "{}", e.message);
        assert_eq!(status(&format!("accounts({ID}")).status, hyper::StatusCode::BAD_REQUEST);
        assert_eq!(status("acc ounts").status, hyper::StatusCode::BAD_REQUEST);
        for (path, says) in [
            ("accounts(name='x)", "not closed"),
            ("accounts(name=)", "no value"),
            ("accounts(name='x' code=1)", "unexpected"),
            ("accounts(=1)", "not a column name"),
        ] {
            let e = status(path);
            assert_eq!(e.status, hyper::StatusCode::BAD_REQUEST, "{path}");
            assert!(e.message.contains(says), "{path}: {}", e.message);
        }
        for (path, named) in [
            ("$batch", "'$batch'"),
            ("$metadata", "'$metadata'"),
            ("", "service document"),
            (&format!("accounts({ID})/primarycontactid/$value"), "'primarycontactid'"),
        ] {
            let e = status(path);
            assert_eq!(e.status, hyper::StatusCode::NOT_IMPLEMENTED, "{path}");
            assert!(e.message.contains(named), "{path}: {}", e.message);
        }
    }

    #[test]
    fn query_strings_are_form_decoded() {
        let pairs = query_pairs("%24select=name,revenue&$filter=name+eq+'a%26b'&&$top=2").unwrap();
        assert_eq!(
            pairs,
            [
                ("$select".to_owned(), "name,revenue".to_owned()),
                ("$filter".to_owned(), "name eq 'a&b'".to_owned()),
                ("$top".to_owned(), "2".to_owned()),
            ]
        );
        assert!(query_pairs("$top=%zz").is_err());
    }
}
