//! Outbound HTTP, as a plug-in on the platform calls a web service with `HttpClient` (BOX-6).
//!
//! A small blocking client on the standard WASI HTTP interface (`wasi:http/outgoing-handler`, through the
//! `wasip2` crate's bindings). In xrm-sandbox no request leaves the machine: the suite's stubs answer each one
//! and the sandbox records it for assertions. The platform's restrictions hold: `http` or `https`, a named
//! host (no IP address, no `localhost`), port 80 or 443, within the step's time limit.
//!
//! Every failure is an ordinary [`HttpError`] the plug-in can handle; `?` turns it into a [`PluginError`]
//! (`InvalidPluginExecutionException`) with the error's text.
//!
//! ```no_run
//! use xrm_sandbox_guest::http;
//! use xrm_sandbox_guest::PluginError;
//!
//! fn charge(amount: i64) -> Result<String, PluginError> {
//!     let response = http::Request::post("https://pay.contoso.com/v1/charges")
//!         .header("idempotency-key", "order-42")
//!         .json(&serde_json::json!({ "amount": amount, "currency": "eur" }))
//!         .timeout(std::time::Duration::from_secs(5))
//!         .send()?;
//!     if !response.is_success() {
//!         return Err(PluginError::invalid(format!("the payment was declined: {}", response.text())));
//!     }
//!     let charge: serde_json::Value = response.json()?;
//!     Ok(charge["id"].as_str().unwrap_or_default().to_owned())
//! }
//! ```

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{self as wasi, ErrorCode, Fields, OutgoingBody, OutgoingRequest, RequestOptions};
use wasip2::io::streams::StreamError;

use crate::PluginError;

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HttpError> {
    Request::get(url).send()
}

/// `POST url` with `value` as a JSON body (`content-type: application/json`).
pub fn post_json(url: &str, value: &impl Serialize) -> Result<Response, HttpError> {
    Request::post(url).json(value).send()
}

/// A request to build, then [`send`](Request::send).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    /// An error found while building (a value that would not serialize), reported by `send`.
    invalid: Option<String>,
}

impl Request {
    /// A request with any method (`"GET"`, `"POST"`, `"PATCH"`…).
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_ascii_uppercase(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            invalid: None,
        }
    }

    /// `GET url`.
    pub fn get(url: &str) -> Self {
        Request::new("GET", url)
    }

    /// `POST url`.
    pub fn post(url: &str) -> Self {
        Request::new("POST", url)
    }

    /// `PUT url`.
    pub fn put(url: &str) -> Self {
        Request::new("PUT", url)
    }

    /// `PATCH url`.
    pub fn patch(url: &str) -> Self {
        Request::new("PATCH", url)
    }

    /// `DELETE url`.
    pub fn delete(url: &str) -> Self {
        Request::new("DELETE", url)
    }

    /// Adds a header (names are case-insensitive; a name given twice is sent twice).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// The body, as bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// `value` as a JSON body, with `content-type: application/json` unless a content type is set.
    pub fn json(mut self, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.body = body,
            Err(e) => self.invalid = Some(format!("the JSON body cannot be written: {e}")),
        }
        if !self.headers.iter().any(|(n, _)| n == "content-type") {
            self.headers.push(("content-type".into(), "application/json".into()));
        }
        self
    }

    /// How long to wait for the response (`HttpClient.Timeout`); without it, the step's time limit is the
    /// only bound.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request and waits for the whole response.
    pub fn send(&self) -> Result<Response, HttpError> {
        let fail =
            |kind, detail: String| HttpError { kind, method: self.method.clone(), url: self.url.clone(), detail };
        if let Some(why) = &self.invalid {
            return Err(fail(HttpErrorKind::InvalidRequest, why.clone()));
        }
        let url = Url::parse(&self.url).map_err(|why| fail(HttpErrorKind::InvalidRequest, why))?;
        let exchange = Exchange { request: self, url };
        exchange.run().map_err(|(kind, detail)| fail(kind, detail))
    }
}

/// A URL split the way `wasi:http` wants it.
struct Url<'u> {
    scheme: wasi::Scheme,
    authority: &'u str,
    path_with_query: &'u str,
}

impl<'u> Url<'u> {
    fn parse(url: &'u str) -> Result<Self, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("`{url}` is not an absolute URL"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => wasi::Scheme::Http,
            "https" => wasi::Scheme::Https,
            other => wasi::Scheme::Other(other.to_owned()),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_with_query) = rest.split_at(end);
        if authority.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        Ok(Url { scheme, authority, path_with_query: if path_with_query.is_empty() { "/" } else { path_with_query } })
    }
}

type Failure = (HttpErrorKind, String);

/// One request on the wire: its parts set, sent, its body written, its response read.
struct Exchange<'r> {
    request: &'r Request,
    url: Url<'r>,
}

impl Exchange<'_> {
    fn run(&self) -> Result<Response, Failure> {
        let invalid = |what: &str| (HttpErrorKind::InvalidRequest, what.to_owned());
        let entries: Vec<(String, Vec<u8>)> =
            self.request.headers.iter().map(|(n, v)| (n.clone(), v.clone().into_bytes())).collect();
        let headers = Fields::from_list(&entries).map_err(|e| invalid(&format!("a header is not allowed: {e:?}")))?;
        let outgoing = OutgoingRequest::new(headers);
        let method = match self.request.method.as_str() {
            "GET" => wasi::Method::Get,
            "POST" => wasi::Method::Post,
            "PUT" => wasi::Method::Put,
            "PATCH" => wasi::Method::Patch,
            "DELETE" => wasi::Method::Delete,
            "HEAD" => wasi::Method::Head,
            "OPTIONS" => wasi::Method::Options,
            other => wasi::Method::Other(other.to_owned()),
        };
        outgoing.set_method(&method).map_err(|()| invalid("the method is not valid"))?;
        outgoing.set_scheme(Some(&self.url.scheme)).map_err(|()| invalid("the scheme is not valid"))?;
        outgoing.set_authority(Some(self.url.authority)).map_err(|()| invalid("the host is not valid"))?;
        outgoing.set_path_with_query(Some(self.url.path_with_query)).map_err(|()| invalid("the path is not valid"))?;
        // A request without a body never opens one: the host has no stream to read for it.
        let body = match self.request.body.is_empty() {
            true => None,
            false => Some(outgoing.body().map_err(|()| invalid("the body cannot be written"))?),
        };
        let options = self.request.timeout.map(|t| {
            let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            let options = RequestOptions::new();
            let _ = options.set_connect_timeout(Some(nanos));
            let _ = options.set_first_byte_timeout(Some(nanos));
            options
        });
        // Sent first, then the body written: the standard order, which never waits on a full buffer.
        let future = outgoing_handler::handle(outgoing, options).map_err(failure)?;
        if let Some(body) = body {
            write_body(body, &self.request.body)?;
        }
        let response = loop {
            match future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(code))) => return Err(failure(code)),
                Some(Err(())) => return Err((HttpErrorKind::Protocol, "the response was already taken".into())),
                None => future.subscribe().block(),
            }
        };
        read_response(response)
    }
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), Failure> {
    let broken = |e: StreamError| (HttpErrorKind::Protocol, format!("the request body could not be sent: {e:?}"));
    {
        let stream = body.write().map_err(|()| (HttpErrorKind::Protocol, "no body stream".into()))?;
        // `blocking-write-and-flush` takes at most 4096 bytes a call.
        for chunk in bytes.chunks(4096) {
            stream.blocking_write_and_flush(chunk).map_err(broken)?;
        }
    }
    OutgoingBody::finish(body, None).map_err(failure)
}

fn read_response(response: wasi::IncomingResponse) -> Result<Response, Failure> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let incoming = response.consume().map_err(|()| (HttpErrorKind::Protocol, "no response body".into()))?;
    let mut body = Vec::new();
    {
        let stream = incoming.stream().map_err(|()| (HttpErrorKind::Protocol, "no response body stream".into()))?;
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err((HttpErrorKind::Protocol, format!("the response body broke off: {e:?}"))),
            }
        }
    }
    drop(wasi::IncomingBody::finish(incoming));
    Ok(Response { status, headers, body })
}

/// Reads a `wasi:http` error code as the plug-in's error.
fn failure(code: ErrorCode) -> Failure {
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            (HttpErrorKind::Denied, "the sandbox does not allow this request (BOX-6)".into())
        }
        ErrorCode::ConnectionRefused => {
            (HttpErrorKind::ConnectionRefused, "the connection was refused (no stub answers this request)".into())
        }
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            (HttpErrorKind::Timeout, "no response within the timeout".into())
        }
        ErrorCode::ConnectionLimitReached => (HttpErrorKind::Denied, "too many requests at once".into()),
        ErrorCode::HttpRequestBodySize(_) => (HttpErrorKind::InvalidRequest, "the request body is too large".into()),
        other => (HttpErrorKind::Protocol, format!("{other:?}")),
    }
}

/// A response, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, such as 200.
    pub status: u16,
    /// The headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body's bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx (`IsSuccessStatusCode`).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body read as JSON into `T` (a `serde_json::Value`, or a type of your own).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError {
            kind: HttpErrorKind::InvalidResponse,
            method: String::new(),
            url: String::new(),
            detail: format!("the response body is not the JSON expected: {e}"),
        })
    }
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// The request could not be built: a URL that is not absolute, a header that is not allowed…
    InvalidRequest,
    /// The sandbox does not allow the request (BOX-6: scheme, IP address, `localhost`, port).
    Denied,
    /// Nothing answered: no stub matches the request.
    ConnectionRefused,
    /// No response within the request's timeout.
    Timeout,
    /// The exchange broke off.
    Protocol,
    /// The response is not what the plug-in expected (a body that is not the JSON asked for).
    InvalidResponse,
}

/// A request that failed, with what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// Why.
    pub kind: HttpErrorKind,
    /// The request's method and URL (empty for a response that did not read as expected).
    pub method: String,
    /// The request's URL.
    pub url: String,
    /// What happened, in words.
    pub detail: String,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.url.is_empty() {
            true => f.write_str(&self.detail),
            false => write!(f, "{} {}: {}", self.method, self.url, self.detail),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for PluginError {
    fn from(error: HttpError) -> Self {
        PluginError::invalid(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_splits_into_scheme_host_and_path() {
        let url = Url::parse("https://pay.contoso.com/v1/charges?x=1#top").unwrap();
        assert!(matches!(url.scheme, wasi::Scheme::Https));
        assert_eq!((url.authority, url.path_with_query), ("pay.contoso.com", "/v1/charges?x=1"));
        let url = Url::parse("http://example.com?q").unwrap();
        assert_eq!((url.authority, url.path_with_query), ("example.com", "?q"));
        assert_eq!(Url::parse("http://example.com").unwrap().path_with_query, "/");
        assert!(Url::parse("example.com/x").is_err());
        assert!(Url::parse("https:///x").is_err());
    }

    #[test]
    fn a_json_body_sets_its_content_type_once() {
        let request = Request::post("https://a.example/x").json(&serde_json::json!({"a": 1}));
        assert_eq!(request.body, br#"{"a":1}"#);
        assert_eq!(request.headers, vec![("content-type".to_owned(), "application/json".to_owned())]);
        let request = Request::post("https://a.example/x").header("Content-Type", "text/plain").json(&1);
        assert_eq!(request.headers.len(), 1);
    }

    #[test]
    fn a_response_reads_as_text_json_and_headers() {
        let response = Response {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"id":"ch_1"}"#.to_vec(),
        };
        assert!(response.is_success());
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(response.json::<serde_json::Value>().unwrap()["id"], "ch_1");
        assert!(response.json::<Vec<u8>>().is_err());
    }
}
