//! `GET {set}?fetchXml=…`: a FetchXML query run through the query engine as RetrieveMultiple, paged by the
//! `page` and `paging-cookie` attributes of its `fetch` element. The paging annotations
//! (`@Microsoft.Dynamics.CRM.fetchxmlpagingcookie`, `@Microsoft.Dynamics.CRM.morerecords`) are written only
//! when `Prefer: odata.include-annotations` asks for them.
//!
//! The engine's paging cookie is its own (opaque) text; the Web API hands it out in the platform's form,
//! `<cookie pagenumber="N+1" pagingcookie="{twice URL-encoded <cookie page="N">…</cookie>}" istracking="False" />`,
//! which clients take apart and send back as the fetch's `paging-cookie`: the inner cookie carries the
//! engine's text hex-encoded (so that no client's XML escaping can change it), and is read back here.

use hyper::StatusCode;
use serde_json::{Map, Value as Json, json};
use xrm_model::{Query, Request};

use super::errors::ApiError;
use super::json::entity_to_json;
use super::records::collection;
use super::{Answer, Caller, Context, respond};
use crate::org::Table;
use crate::pipeline::Session;

pub(super) fn fetch(
    session: &mut Session,
    caller: &Caller,
    context: &Context,
    table: &Table,
    fetch_xml: &str,
) -> Result<Answer, ApiError> {
    match entity_of(fetch_xml) {
        Some(name) if name == table.logical_name => {}
        Some(name) => {
            return Err(ApiError::bad_request(format!(
                "The FetchXML queries '{name}', not the table of the entity set '{}' ({})",
                table.entity_set_name, table.logical_name
            )));
        }
        None => {
            return Err(ApiError::bad_request(
                "The fetchXml query option has no <entity name=\"…\"> element: it is not a FetchXML query",
            ));
        }
    }
    let text = engine_cookie(fetch_xml)?;
    let rows = collection(caller.send(session, Request::retrieve_multiple(Query::FetchXml(text)))?)?;
    let annotations = context.prefer.annotations;
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}$metadata#{}", context.base, table.entity_set_name)));
    if annotations.paging_cookie
        && rows.more_records
        && let Some(cookie) = &rows.paging_cookie
    {
        body.insert("@Microsoft.Dynamics.CRM.fetchxmlpagingcookie".into(), json!(platform_cookie(cookie)));
    }
    if annotations.more_records {
        body.insert("@Microsoft.Dynamics.CRM.morerecords".into(), json!(rows.more_records));
    }
    let values =
        rows.entities.iter().map(|e| Json::Object(entity_to_json(e, &table.primary_id, annotations))).collect();
    body.insert("value".into(), Json::Array(values));
    Ok(respond(StatusCode::OK, Some(Json::Object(body).to_string())))
}

/// The `name` of the query's first `<entity>` element.
fn entity_of(fetch_xml: &str) -> Option<&str> {
    let at = fetch_xml.find("<entity")?;
    let element = &fetch_xml[at + "<entity".len()..];
    let element = &element[..element.find('>')?];
    attribute(element, "name").map(|(_, value, _)| value)
}

/// An attribute of an element's text: where its value starts, the value, and where it ends.
fn attribute<'t>(element: &'t str, name: &str) -> Option<(usize, &'t str, usize)> {
    let mut from = 0;
    while let Some(found) = element[from..].find(name) {
        let at = from + found;
        let before_ok = at == 0 || element[..at].ends_with(|c: char| c.is_whitespace());
        let rest = element[at + name.len()..].trim_start();
        if before_ok && let Some(after_eq) = rest.strip_prefix('=') {
            let after_eq = after_eq.trim_start();
            let quote = after_eq.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let start = element.len() - after_eq.len() + 1;
            let end = start + element[start..].find(quote)?;
            return Some((start, &element[start..end], end));
        }
        from = at + name.len();
    }
    None
}

/// The query with its `paging-cookie` as the engine made it, when the client sent back the cookie in the
/// platform's form.
fn engine_cookie(fetch_xml: &str) -> Result<String, ApiError> {
    let Some(at) = fetch_xml.find("<fetch") else { return Ok(fetch_xml.to_owned()) };
    let end = at + fetch_xml[at..].find('>').unwrap_or(fetch_xml.len() - at);
    let element = &fetch_xml[at..end];
    let Some((start, value, stop)) = attribute(element, "paging-cookie") else { return Ok(fetch_xml.to_owned()) };
    let cookie = xml_unescape(value);
    let Some(inner) = cookie.strip_prefix("<cookie").and_then(|c| c.strip_suffix("</cookie>")) else {
        return Ok(fetch_xml.to_owned());
    };
    let hex = inner.split_once('>').map_or("", |(_, hex)| hex).trim();
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    let text = bytes
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_request("The FetchXML's paging-cookie is not a cookie this server handed out"))?;
    Ok(format!("{}{}{}", &fetch_xml[..at + start], xml_escape(&text), &fetch_xml[at + stop..]))
}

/// The annotation's value for the engine's cookie.
fn platform_cookie(engine: &str) -> String {
    let page =
        serde_json::from_str::<Json>(engine).ok().and_then(|j| j.get("page").and_then(Json::as_u64)).unwrap_or(1);
    let hex: String = engine.bytes().map(|b| format!("{b:02x}")).collect();
    let inner = format!("<cookie page=\"{page}\">{hex}</cookie>");
    format!(
        "<cookie pagenumber=\"{}\" pagingcookie=\"{}\" istracking=\"False\" />",
        page + 1,
        url_encode(&url_encode(&inner))
    )
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02x}"),
        })
        .collect()
}

fn xml_escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platforms_cookie_carries_the_engines_and_is_read_back() {
        let engine = r#"{"page":2,"key":["a&b<c>'\""]}"#;
        let annotation = platform_cookie(engine);
        assert!(
            annotation.starts_with("<cookie pagenumber=\"3\" pagingcookie=\"%253ccookie%2520page%253d%25222%2522%253e")
        );
        // What a client does: decode twice, take the inner cookie, escape it into the fetch's attribute.
        let decoded = annotation.replace("%25", "%");
        let inner_encoded = decoded.split("pagingcookie=\"").nth(1).unwrap().split('"').next().unwrap();
        let inner = crate::webapi::path::percent_decode(inner_encoded, false).unwrap();
        assert!(inner.starts_with("<cookie page=\"2\">"), "{inner}");
        let fetch = format!(
            r#"<fetch page="3" paging-cookie="{}" count="2"><entity name="account"/></fetch>"#,
            xml_escape(&inner)
        );
        let back = engine_cookie(&fetch).unwrap();
        assert_eq!(
            back,
            format!(
                r#"<fetch page="3" paging-cookie="{}" count="2"><entity name="account"/></fetch>"#,
                xml_escape(engine)
            )
        );
        assert_eq!(entity_of(&fetch), Some("account"));
        assert!(
            engine_cookie(r#"<fetch paging-cookie="&lt;cookie page=&quot;1&quot;&gt;zz&lt;/cookie&gt;">"#).is_err()
        );
    }
}
