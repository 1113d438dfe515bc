//! `POST $batch`: a `multipart/mixed` body of requests, each run as if sent alone (with the batch's token
//! and impersonation headers unless the part has its own, IMP-6), and changesets, each run as one
//! transaction (PIPE-10, PIPE-17: all of its parts or none). A part of a changeset with a `Content-ID` is named
//! `$ID` by the later parts of that changeset, in their URL and in `@odata.bind` values.
//!
//! Bodies may use CRLF or LF line endings; the answer is `multipart/mixed` with CRLF line endings, one
//! `application/http` part per request (`changesetresponse_` parts for a changeset). Without
//! `Prefer: odata.continue-on-error` the first failing request ends the batch, answered `400`; with it, the
//! batch goes on and is answered `200`.

use std::collections::HashMap;

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use serde_json::Value as Json;
use xrm_model::Uuid;

use super::errors::ApiError;
use super::{Answer, Shared, api, error_response, header_text, impersonation};
use crate::pipeline::Session;

/// One request of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Part {
    content_id: Option<String>,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// What the batch holds, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    Request(Part),
    ChangeSet(Vec<Part>),
}

/// A part's answer.
struct Answered {
    content_id: Option<String>,
    answer: Answer,
}

impl Answered {
    fn failed(&self) -> bool {
        self.answer.status().as_u16() >= 400
    }
}

/// The batch's headers that every part takes unless it has its own.
const INHERITED: [&str; 4] = ["authorization", "host", "user-agent", "x-ms-client-request-id"];
const IMPERSONATION: [&str; 2] = ["callerobjectid", "mscrmcallerid"];

pub(super) fn batch(
    shared: &Shared,
    session: &mut Session,
    parts: &hyper::http::request::Parts,
    version: &str,
    body: &[u8],
) -> Result<Answer, ApiError> {
    if parts.method != Method::POST {
        return Err(super::method_not_allowed(&parts.method, "$batch"));
    }
    // The batch's caller and headers are checked once, before any part runs.
    shared.tokens.caller(shared.pipeline.org(), header_text(&parts.headers, header::AUTHORIZATION.as_str())?)?;
    impersonation(&parts.headers)?;
    let content_type = header_text(&parts.headers, header::CONTENT_TYPE.as_str())?.unwrap_or_default();
    let boundary = boundary_of(content_type).ok_or_else(|| {
        ApiError::bad_request(format!(
            "A $batch request needs 'Content-Type: multipart/mixed; boundary=…', not '{content_type}'"
        ))
    })?;
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("The $batch body is not UTF-8 text"))?;
    let items = parse(text, &boundary)?;
    let continue_on_error = parts.headers.get_all("Prefer").iter().any(|v| {
        v.to_str().is_ok_and(|t| t.split(',').any(|p| p.trim().eq_ignore_ascii_case("odata.continue-on-error")))
    });
    let run = |session: &mut Session, part: &Part, ids: &HashMap<String, String>| {
        let answer = run_part(shared, session, &parts.headers, version, part, ids);
        Answered { content_id: part.content_id.clone(), answer }
    };
    let mut sections: Vec<Vec<Answered>> = Vec::new();
    let mut changesets = Vec::new();
    let mut stopped = false;
    for item in &items {
        match item {
            Item::Request(part) => {
                let answered = run(session, part, &HashMap::new());
                let failed = answered.failed();
                sections.push(vec![answered]);
                changesets.push(false);
                if failed && !continue_on_error {
                    stopped = true;
                    break;
                }
            }
            Item::ChangeSet(changeset) => {
                // One transaction: the first failing part rolls back the parts before it and ends the changeset.
                let result = session.transaction(|session| {
                    let mut ids = HashMap::new();
                    let mut answers = Vec::new();
                    for part in changeset {
                        let answered = run(session, part, &ids);
                        if answered.failed() {
                            return Err(Box::new(answered));
                        }
                        if let Some(id) = &part.content_id {
                            let location = header_text(answered.answer.headers(), "OData-EntityId")
                                .ok()
                                .flatten()
                                .map_or_else(|| part.url.clone(), str::to_owned);
                            ids.insert(id.clone(), location);
                        }
                        answers.push(answered);
                    }
                    Ok(answers)
                });
                match result {
                    Ok(answers) => {
                        sections.push(answers);
                        changesets.push(true);
                    }
                    // The changeset answers with its failing part alone: nothing else of it happened.
                    Err(failed) => {
                        sections.push(vec![*failed]);
                        changesets.push(false);
                        if !continue_on_error {
                            stopped = true;
                            break;
                        }
                    }
                }
            }
        }
    }
    let boundary = format!("batchresponse_{}", Uuid::new_v4());
    let mut out = String::new();
    for (answers, changeset) in sections.iter().zip(changesets) {
        out.push_str(&format!("--{boundary}\r\n"));
        if changeset {
            let inner = format!("changesetresponse_{}", Uuid::new_v4());
            out.push_str(&format!("Content-Type: multipart/mixed; boundary={inner}\r\n\r\n"));
            for answered in answers {
                out.push_str(&format!("--{inner}\r\n"));
                write_part(&mut out, answered);
            }
            out.push_str(&format!("--{inner}--\r\n"));
        } else {
            for answered in answers {
                write_part(&mut out, answered);
            }
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    let status = if stopped { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut response = hyper::Response::new(Bytes::from(out));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("OData-Version", HeaderValue::from_static("4.0"));
    if let Ok(value) = HeaderValue::from_str(&format!("multipart/mixed; boundary={boundary}")) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if continue_on_error {
        headers.insert("Preference-Applied", HeaderValue::from_static("odata.continue-on-error"));
    }
    Ok(response)
}

/// One `application/http` part of the answer.
fn write_part(out: &mut String, answered: &Answered) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = &answered.content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    let status = answered.answer.status();
    out.push_str(&format!("\r\nHTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("")));
    for (name, value) in answered.answer.headers() {
        if let Ok(value) = value.to_str() {
            out.push_str(&format!("{}: {value}\r\n", header_case(name.as_str())));
        }
    }
    out.push_str("\r\n");
    out.push_str(&String::from_utf8_lossy(answered.answer.body()));
    out.push_str("\r\n");
}

/// A header name as the platform writes it (`OData-EntityId`, `Content-Type`): HTTP/1.1 names are
/// case-insensitive, but some clients read parts' headers by their exact name.
fn header_case(name: &str) -> String {
    name.split('-')
        .map(|word| match word {
            "odata" => "OData".to_owned(),
            "entityid" => "EntityId".to_owned(),
            _ => {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |c| c.to_ascii_uppercase().to_string() + chars.as_str())
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Runs one part as a request of its own: its URL resolved (`$ID` references, a full URL or a path relative
/// to the service root), the batch's headers under its own, its `@odata.bind` references resolved.
fn run_part(
    shared: &Shared,
    session: &mut Session,
    batch_headers: &HeaderMap,
    version: &str,
    part: &Part,
    ids: &HashMap<String, String>,
) -> Answer {
    let mut run = || -> Result<Answer, ApiError> {
        let url = resolve(&part.url, ids)?;
        let path = match url.find("://") {
            Some(at) => url[at + 3..].find('/').map_or("/", |slash| &url[at + 3 + slash..]).to_owned(),
            None if url.starts_with('/') => url.clone(),
            None => format!("/api/data/{version}/{url}"),
        };
        let mut request = hyper::Request::builder().method(part.method.clone()).uri(&path).body(()).map_err(|e| {
            ApiError::bad_request(format!(
                "The $batch part '{} {}' has a URL that cannot be read: {e}",
                part.method, part.url
            ))
        })?;
        let headers = request.headers_mut();
        let own = |name: &str| part.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let own_impersonation = IMPERSONATION.iter().any(|n| own(n));
        for (name, value) in batch_headers {
            let inherited = INHERITED.contains(&name.as_str())
                || (IMPERSONATION.contains(&name.as_str()) && !own_impersonation)
                || name.as_str().starts_with("mscrm.");
            if inherited {
                headers.append(name.clone(), value.clone());
            }
        }
        for (name, value) in &part.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ApiError::bad_request(format!("The $batch part header '{name}' is not a header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| ApiError::bad_request(format!("The $batch part header '{name}' is not text")))?;
            headers.insert(name, value);
        }
        let (parts, ()) = request.into_parts();
        if super::path::split_api_path(parts.uri.path())
            .is_some_and(|(_, rest)| super::path::percent_decode(rest, false).is_ok_and(|r| r == "$batch"))
        {
            return Err(ApiError::bad_request("A $batch part cannot be a $batch: batches do not nest"));
        }
        let body = bind_references(&part.body, ids)?;
        api(shared, session, &parts, Bytes::from(body))
    };
    run().unwrap_or_else(|e| error_response(&e))
}

/// `$1/…` with the location of the part whose Content-ID is 1.
fn resolve(url: &str, ids: &HashMap<String, String>) -> Result<String, ApiError> {
    let Some(reference) = url.strip_prefix('$') else { return Ok(url.to_owned()) };
    let end = reference.find(['/', '?']).unwrap_or(reference.len());
    let (id, rest) = reference.split_at(end);
    let location = ids.get(id).ok_or_else(|| {
        ApiError::bad_request(format!(
            "'${id}' in '{url}' names no earlier request of this changeset (no part before it has Content-ID: {id})"
        ))
    })?;
    Ok(format!("{location}{rest}"))
}

/// A JSON body's `…@odata.bind` values (and `@odata.id`) that are `$ID` references, resolved; any other body
/// unchanged.
fn bind_references(body: &str, ids: &HashMap<String, String>) -> Result<String, ApiError> {
    if !body.contains('$') {
        return Ok(body.to_owned());
    }
    let Ok(mut json) = serde_json::from_str::<Json>(body) else { return Ok(body.to_owned()) };
    fn walk(json: &mut Json, ids: &HashMap<String, String>) -> Result<(), ApiError> {
        match json {
            Json::Object(map) => {
                for (name, value) in map.iter_mut() {
                    match value {
                        Json::String(text)
                            if (name.ends_with("@odata.bind") || name == "@odata.id") && text.starts_with('$') =>
                        {
                            *text = resolve(text, ids)?;
                        }
                        other => walk(other, ids)?,
                    }
                }
            }
            Json::Array(items) => items.iter_mut().try_for_each(|item| walk(item, ids))?,
            _ => {}
        }
        Ok(())
    }
    walk(&mut json, ids)?;
    Ok(json.to_string())
}

/// The `boundary` of a `multipart/mixed` content type.
fn boundary_of(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        let value = value.trim().trim_matches('"');
        (name.trim().eq_ignore_ascii_case("boundary") && !value.is_empty()).then(|| value.to_owned())
    })
}

/// The lines between `--boundary` delimiters (CR before LF dropped), one list per part; the preamble and the
/// epilogue are left out.
fn split<'t>(lines: &[&'t str], boundary: &str, what: &str) -> Result<Vec<Vec<&'t str>>, ApiError> {
    let (open, close) = (format!("--{boundary}"), format!("--{boundary}--"));
    let mut parts: Vec<Vec<&str>> = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in lines {
        let trimmed = line.trim_end();
        if trimmed == close {
            if let Some(part) = current.take() {
                parts.push(part);
            }
            if parts.is_empty() {
                return Err(ApiError::bad_request(format!("The {what} has no part before '{close}'")));
            }
            return Ok(parts);
        }
        if trimmed == open {
            if let Some(part) = current.take() {
                parts.push(part);
            }
            current = Some(Vec::new());
        } else if let Some(part) = current.as_mut() {
            part.push(line);
        }
    }
    Err(ApiError::bad_request(match parts.is_empty() && current.is_none() {
        true => format!("The {what} has no part: no line '{open}' (the boundary of its Content-Type)"),
        false => format!("The {what} does not end with the line '{close}'"),
    }))
}

/// A part's MIME headers and what follows the blank line after them.
fn headers_and_rest<'l, 't>(lines: &'l [&'t str]) -> (Vec<(String, String)>, &'l [&'t str]) {
    // Blank lines before the headers (a delimiter followed by an empty line) are skipped.
    let start = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(lines.len());
    let lines = &lines[start..];
    let end = lines.iter().position(|l| l.trim().is_empty()).unwrap_or(lines.len());
    let headers = lines[..end]
        .iter()
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())))
        .collect();
    (headers, &lines[(end + 1).min(lines.len())..])
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Reads a batch body.
pub(super) fn parse(text: &str, boundary: &str) -> Result<Vec<Item>, ApiError> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut items = Vec::new();
    for (index, part) in split(&lines, boundary, "$batch body")?.iter().enumerate() {
        let (headers, rest) = headers_and_rest(part);
        let content_type = header(&headers, "Content-Type").unwrap_or_default();
        match boundary_of(content_type) {
            Some(inner) => {
                let what = format!("changeset of the $batch's part {}", index + 1);
                let mut requests = Vec::new();
                for (i, request) in split(rest, &inner, &what)?.iter().enumerate() {
                    let (headers, rest) = headers_and_rest(request);
                    let at = format!("request {} of the {what}", i + 1);
                    if boundary_of(header(&headers, "Content-Type").unwrap_or_default()).is_some() {
                        return Err(ApiError::bad_request(format!("The {at} is a changeset: changesets do not nest")));
                    }
                    requests.push(http_part(&headers, rest, &at)?);
                }
                items.push(Item::ChangeSet(requests));
            }
            None => items.push(Item::Request(http_part(&headers, rest, &format!("$batch's part {}", index + 1))?)),
        }
    }
    Ok(items)
}

/// An `application/http` part: its request line, headers and body.
fn http_part(mime: &[(String, String)], lines: &[&str], at: &str) -> Result<Part, ApiError> {
    let bad = |why: String| ApiError::bad_request(format!("The {at} {why}"));
    match header(mime, "Content-Type") {
        Some(t) if t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/http")) => {}
        other => {
            return Err(bad(format!(
                "has Content-Type '{}': a request in a $batch is 'application/http' (or a changeset, \
                 'multipart/mixed; boundary=…')",
                other.unwrap_or("")
            )));
        }
    }
    let (request_line, rest) = match lines.iter().position(|l| !l.trim().is_empty()) {
        Some(i) => (lines[i].trim(), &lines[i + 1..]),
        None => return Err(bad("has no request line ('METHOD URL HTTP/1.1')".to_owned())),
    };
    let mut words = request_line.split_whitespace();
    let (method, url) = match (words.next(), words.next(), words.next(), words.next()) {
        (Some(method), Some(url), None | Some(_), None) => (method, url),
        _ => return Err(bad(format!("has the request line '{request_line}', not 'METHOD URL HTTP/1.1'"))),
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| bad(format!("has the request line '{request_line}': '{method}' is not a method")))?;
    let end = rest.iter().position(|l| l.trim().is_empty()).unwrap_or(rest.len());
    let mut headers = Vec::new();
    for line in &rest[..end] {
        let (name, value) =
            line.split_once(':').ok_or_else(|| bad(format!("has the header line '{line}', not 'Name: value'")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let body = rest.get(end + 1..).unwrap_or_default().join("\n").trim().to_owned();
    Ok(Part { content_id: header(mime, "Content-ID").map(str::to_owned), method, url: url.to_owned(), headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_with_a_changeset_reads_with_lf_or_crlf() {
        let body = "--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\nContent-Type: application/http\n\
                    Content-Transfer-Encoding: binary\nContent-ID: 1\n\nPOST accounts HTTP/1.1\n\
                    Content-Type: application/json\n\n{\"name\":\"x\"}\n--c\nContent-Type: application/http\n\
                    Content-ID: 2\n\nPOST $1/contact_customer_accounts HTTP/1.1\n\n{}\n--c--\n--b\n\
                    Content-Type: application/http\n\nGET accounts?$select=name HTTP/1.1\nAccept: application/json\n\n\n--b--\n";
        for text in [body.to_owned(), body.replace('\n', "\r\n")] {
            let items = parse(&text, "b").unwrap();
            assert_eq!(items.len(), 2);
            let Item::ChangeSet(parts) = &items[0] else { panic!("{items:?}") };
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0].content_id.as_deref(), Some("1"));
            assert_eq!(parts[0].method, Method::POST);
            assert_eq!(parts[0].body, "{\"name\":\"x\"}");
            assert_eq!(parts[0].headers, vec![("Content-Type".to_owned(), "application/json".to_owned())]);
            assert_eq!(parts[1].url, "$1/contact_customer_accounts");
            let Item::Request(get) = &items[1] else { panic!("{items:?}") };
            assert_eq!(
                (get.method.as_str(), get.url.as_str(), get.body.as_str()),
                ("GET", "accounts?$select=name", "")
            );
        }
    }

    #[test]
    fn a_malformed_batch_is_named() {
        let e = parse("--b\nContent-Type: application/http\n\nGET accounts HTTP/1.1\n", "b").unwrap_err();
        assert!(e.message.contains("does not end with the line '--b--'"), "{e:?}");
        let e = parse("hello", "b").unwrap_err();
        assert!(e.message.contains("no line '--b'"), "{e:?}");
        let e = parse("--b\nContent-Type: text/plain\n\nGET accounts HTTP/1.1\n--b--", "b").unwrap_err();
        assert!(e.message.contains("application/http"), "{e:?}");
        let e = parse("--b\nContent-Type: application/http\n\nGETaccounts\n--b--", "b").unwrap_err();
        assert!(e.message.contains("not 'METHOD URL HTTP/1.1'"), "{e:?}");
        assert_eq!(boundary_of("multipart/mixed;boundary=\"batch_1\"").as_deref(), Some("batch_1"));
        assert_eq!(boundary_of("application/json"), None);
    }

    #[test]
    fn references_resolve_in_urls_and_binds() {
        let ids = HashMap::from([("1".to_owned(), "http://h/api/data/v9.2/accounts(1)".to_owned())]);
        assert_eq!(resolve("$1/x", &ids).unwrap(), "http://h/api/data/v9.2/accounts(1)/x");
        assert!(resolve("$2", &ids).unwrap_err().message.contains("Content-ID: 2"));
        let body = bind_references(r#"{"parentcustomerid_account@odata.bind":"$1","name":"$1"}"#, &ids).unwrap();
        let json: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(json["parentcustomerid_account@odata.bind"], "http://h/api/data/v9.2/accounts(1)");
        assert_eq!(json["name"], "$1");
    }
}
