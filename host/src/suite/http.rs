//! Outbound HTTP in suites (BOX-6): the stubs that answer plug-ins' requests, the record of what they sent,
//! and `assert.http`, the checks on that record.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;

use super::check::Aliases;
use crate::input::FileError;
use crate::sandbox::{HttpExchange, HttpOutcome, HttpReply, HttpRequest, HttpTransport};

/// Requests one case may send; past this many, each further request is refused with a clear reason.
pub const MAX_REQUESTS: usize = 10_000;
/// Bytes of requests (URL, headers, body) one case keeps for assertions; past this, further requests are
/// refused with a clear reason.
pub const MAX_KEPT_BYTES: usize = 64 << 20;
/// The longest delay a stub may declare: more than any time limit needs.
const MAX_DELAY_MS: u64 = 10 * 60 * 1000;

/// An HTTP stub: answers the requests that match its method and URL pattern, `times` times at most.
#[derive(Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HttpStub")]
pub struct StubFile {
    /// The method it answers, such as `POST` (default: any).
    #[serde(default)]
    method: Option<String>,
    /// The URL it answers. `*` matches any run of characters; a pattern without `?` ignores the request's
    /// query string. Scheme and host compare without case.
    url: String,
    /// The response's status (default 200).
    #[serde(default)]
    status: Option<u16>,
    /// The response's headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// The response's body: text as written, any other JSON value as JSON (with `content-type:
    /// application/json` unless `headers` sets one).
    #[serde(default)]
    body: Option<Json>,
    /// How long the answer takes, in milliseconds; counted against the step's time limit.
    #[serde(default, rename = "delayMs")]
    delay_ms: u64,
    /// How many requests it answers (default: any number); once used up, later requests go to the next stub.
    #[serde(default)]
    times: Option<u32>,
}

/// A stub, checked and ready to answer.
#[derive(Debug, Clone)]
pub struct Stub {
    /// Where it was declared, such as `cases[2].http[0]`, which names it in reports.
    source: String,
    method: Option<String>,
    pattern: Pattern,
    reply: HttpReply,
    times: Option<u32>,
}

impl Stub {
    /// One line naming the stub: its place and what it answers.
    fn label(&self) -> String {
        format!("{} `{} {}`", self.source, self.method.as_deref().unwrap_or("*"), self.pattern.text)
    }
}

/// Checks the stubs of `at` (such as `http` or `cases[1].http`) in `path`.
pub fn load_stubs(path: &Path, at: &str, stubs: Vec<StubFile>) -> Result<Vec<Stub>, FileError> {
    stubs.into_iter().enumerate().map(|(i, s)| load_stub(path, &format!("{at}[{i}]"), s)).collect()
}

/// Reads a file of stubs (`run --http-stubs`): a list of stubs, or an object with them under `http`.
pub fn load_stub_file(path: &Path) -> Result<Vec<Stub>, FileError> {
    let json: Json = crate::input::read_json(path)?;
    let (at, list) = match json {
        Json::Object(mut obj) if obj.len() == 1 && obj.contains_key("http") => {
            ("http", obj.remove("http").unwrap_or_default())
        }
        Json::Array(_) => ("", json),
        _ => return Err(FileError::new(path, "", "expected a list of HTTP stubs, or {\"http\": [stubs]}")),
    };
    let stubs: Vec<StubFile> = crate::input::from_value(path, at, list)?;
    load_stubs(path, at, stubs)
}

fn load_stub(path: &Path, at: &str, file: StubFile) -> Result<Stub, FileError> {
    let fail = |key: &str, why: String| FileError::new(path, format!("{at}.{key}"), why);
    let method = match file.method {
        Some(m) if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) => {
            return Err(fail("method", format!("`{m}` is not an HTTP method such as \"GET\" or \"POST\"")));
        }
        m => m.map(|m| m.to_ascii_uppercase()),
    };
    let lower = file.url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with('*')) {
        return Err(fail("url", format!("`{}` must start with http:// or https:// (or `*`)", file.url)));
    }
    let status = file.status.unwrap_or(200);
    if !(100..=599).contains(&status) {
        return Err(fail("status", format!("{status} is not an HTTP status (100 to 599)")));
    }
    if file.delay_ms > MAX_DELAY_MS {
        return Err(fail(
            "delayMs",
            format!("{} ms is longer than the most a stub may wait ({MAX_DELAY_MS} ms)", file.delay_ms),
        ));
    }
    if file.times == Some(0) {
        return Err(fail("times", "a stub must answer at least once; remove it instead".into()));
    }
    let mut headers = Vec::new();
    for (name, value) in &file.headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() || http::HeaderValue::from_str(value).is_err() {
            return Err(fail(&format!("headers.{name}"), "not a valid header name and value".into()));
        }
        headers.push((name.to_ascii_lowercase(), value.clone()));
    }
    let body = match file.body {
        None => Bytes::new(),
        Some(Json::String(text)) => Bytes::from(text),
        Some(json) => {
            if !headers.iter().any(|(n, _)| n == "content-type") {
                headers.push(("content-type".into(), "application/json".into()));
            }
            Bytes::from(json.to_string())
        }
    };
    let reply = HttpReply { status, headers, body, delay: Duration::from_millis(file.delay_ms), source: at.to_owned() };
    Ok(Stub { source: at.to_owned(), method, pattern: Pattern::new(&file.url), reply, times: file.times })
}

/// A URL pattern: `*` matches any run of characters; without `?`, the query string is not compared.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    /// Scheme and host in lower case, the rest as written.
    normal: String,
    with_query: bool,
}

impl Pattern {
    pub fn new(text: &str) -> Self {
        Pattern { text: text.to_owned(), normal: lower_host(text), with_query: text.contains('?') }
    }

    pub fn matches(&self, url: &str) -> bool {
        let url = if self.with_query { url } else { url.split('?').next().unwrap_or(url) };
        wildcard(self.normal.as_bytes(), url.as_bytes())
    }
}

/// `scheme://host` in lower case, the path and query as written.
fn lower_host(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    format!("{}{}", url[..end].to_ascii_lowercase(), &url[end..])
}

/// Whether `text` matches `pattern`, where `*` matches any run of bytes. Greedy with one backtrack point:
/// time at most pattern × text, memory constant.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// One case's HTTP: its stubs (the case's first, then the suite's), what they answered, and the requests
/// recorded.
pub struct CaseHttp {
    stubs: Vec<Stub>,
    used: Vec<u32>,
    answered: usize,
    kept_bytes: usize,
    /// Every request the case's plug-ins sent, in order (up to the bounds).
    pub exchanges: Vec<HttpExchange>,
    /// Requests not kept: past [`MAX_REQUESTS`] or [`MAX_KEPT_BYTES`].
    pub dropped: usize,
}

impl CaseHttp {
    pub fn new(stubs: Vec<Stub>) -> Self {
        let used = vec![0; stubs.len()];
        CaseHttp { stubs, used, answered: 0, kept_bytes: 0, exchanges: Vec::new(), dropped: 0 }
    }

    /// Shared between the session, which answers and records through it, and the runner, which asserts.
    pub fn shared(stubs: Vec<Stub>) -> (Arc<Mutex<CaseHttp>>, Box<dyn HttpTransport>) {
        let http = Arc::new(Mutex::new(CaseHttp::new(stubs)));
        (http.clone(), Box::new(Shared(http)))
    }

    fn why_not(&self, request: &HttpRequest) -> String {
        if self.stubs.is_empty() {
            return format!("no stub answers {} {}: the suite declares no `http` stubs", request.method, request.url);
        }
        let mut out = format!("no stub answers {} {}; tried:", request.method, request.url);
        for (stub, used) in self.stubs.iter().zip(&self.used) {
            let why = match () {
                _ if stub.method.as_ref().is_some_and(|m| *m != request.method) => "another method",
                _ if !stub.pattern.matches(&request.url) => "another URL",
                _ => "used up",
            };
            let _ = write!(
                out,
                " {} ({why}{});",
                stub.label(),
                if why == "used up" { format!(" after {used}") } else { String::new() }
            );
        }
        out.pop();
        out
    }
}

impl HttpTransport for CaseHttp {
    fn answer(&mut self, request: &HttpRequest) -> Result<HttpReply, String> {
        if self.answered >= MAX_REQUESTS {
            return Err(format!("this case already sent {MAX_REQUESTS} HTTP requests, the most a case may (BOX-5)"));
        }
        if self.kept_bytes >= MAX_KEPT_BYTES {
            return Err(format!(
                "this case's requests already fill the {} MiB a case keeps for assertions (BOX-5)",
                MAX_KEPT_BYTES >> 20
            ));
        }
        self.answered += 1;
        let hit = self.stubs.iter().zip(&self.used).position(|(stub, &used)| {
            stub.method.as_ref().is_none_or(|m| *m == request.method)
                && stub.times.is_none_or(|t| used < t)
                && stub.pattern.matches(&request.url)
        });
        match hit {
            Some(i) => {
                self.used[i] += 1;
                Ok(self.stubs[i].reply.clone())
            }
            None => Err(self.why_not(request)),
        }
    }

    fn record(&mut self, exchange: HttpExchange) {
        let size = exchange.request.url.len()
            + exchange.request.headers.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>()
            + exchange.body.as_ref().map_or(0, Bytes::len);
        if self.exchanges.len() >= MAX_REQUESTS || self.kept_bytes + size > MAX_KEPT_BYTES {
            self.dropped += 1;
            self.kept_bytes = self.kept_bytes.saturating_add(size);
            return;
        }
        self.kept_bytes += size;
        self.exchanges.push(exchange);
    }
}

/// The session's handle on a [`CaseHttp`] the runner reads too.
struct Shared(Arc<Mutex<CaseHttp>>);

impl HttpTransport for Shared {
    fn answer(&mut self, request: &HttpRequest) -> Result<HttpReply, String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).answer(request)
    }

    fn record(&mut self, exchange: HttpExchange) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).record(exchange)
    }
}

/// The requests a case's plug-ins must have sent (or not).
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HttpAssert")]
pub struct HttpAssert {
    /// Requests that must have been sent (each check: at least one, or exactly `count`).
    #[serde(default)]
    requests: Vec<HttpCheck>,
    /// `false`: every request sent must match one of `requests` ("no other request").
    #[serde(default)]
    others: Option<bool>,
}

/// Selects the requests sent, and how many there must be.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HttpCheck")]
pub struct HttpCheck {
    /// The method, such as `POST`.
    #[serde(default)]
    method: Option<String>,
    /// The URL, as a stub's pattern (`*`; without `?`, the query is not compared).
    #[serde(default)]
    url: Option<String>,
    /// Text the body must contain; `@alias` stands for its GUID.
    #[serde(default)]
    contains: Option<String>,
    /// A header the request must carry (any case).
    #[serde(default)]
    header: Option<String>,
    /// The status it was answered with (a refused or timed-out request has none).
    #[serde(default)]
    status: Option<u16>,
    /// The step whose plug-in sent it.
    #[serde(default)]
    step: Option<String>,
    /// The user the step ran as (`@alias` or GUID).
    #[serde(default, rename = "as")]
    as_user: Option<String>,
    /// How many requests must match (default: at least one).
    #[serde(default)]
    count: Option<usize>,
    /// No request may match.
    #[serde(default)]
    absent: bool,
}

impl HttpCheck {
    fn selects(&self, e: &HttpExchange, aliases: &Aliases) -> bool {
        let answered = match &e.outcome {
            HttpOutcome::Answered { status, .. } => Some(*status),
            _ => None,
        };
        let body = e.body.as_ref().map(|b| String::from_utf8_lossy(b)).unwrap_or_default();
        self.method.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(&e.request.method))
            && self.url.as_ref().is_none_or(|u| Pattern::new(u).matches(&e.request.url))
            && self.contains.as_ref().is_none_or(|c| body.contains(&aliases.substitute(c)))
            && self.header.as_ref().is_none_or(|h| e.request.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(h)))
            && self.status.is_none_or(|s| answered == Some(s))
            && self.step.as_ref().is_none_or(|s| *s == e.step)
            && self.as_user.as_ref().is_none_or(|u| {
                aliases.resolve(u.trim_start_matches('@')).or_else(|| u.parse().ok()) == Some(e.user_id)
            })
    }

    fn describe(&self) -> String {
        let mut out = format!("{} {}", self.method.as_deref().unwrap_or("*"), self.url.as_deref().unwrap_or("*"));
        let parts = [
            ("containing", &self.contains),
            ("with header", &self.header),
            ("from step", &self.step),
            ("as", &self.as_user),
        ];
        for (label, value) in parts {
            if let Some(v) = value {
                let _ = write!(out, " {label} {v:?}");
            }
        }
        if let Some(s) = self.status {
            let _ = write!(out, " answered {s}");
        }
        out
    }
}

/// The failures of `assert.http` against what the case recorded.
pub fn check(assert: &HttpAssert, http: &CaseHttp, aliases: &Aliases) -> Vec<String> {
    let mut failures = Vec::new();
    let sent = &http.exchanges;
    for check in &assert.requests {
        let found = sent.iter().filter(|e| check.selects(e, aliases)).count();
        let wanted = if check.absent { Some(0) } else { check.count };
        let ok = match wanted {
            Some(n) => found == n,
            None => found > 0,
        };
        if !ok {
            let wanted = wanted.map_or("at least 1".to_owned(), |n| n.to_string());
            failures.push(format!(
                "http: expected {wanted} request(s) {}, found {found}{}",
                check.describe(),
                listing(sent)
            ));
        }
    }
    if assert.others == Some(false) {
        let expected: Vec<&HttpCheck> = assert.requests.iter().filter(|c| !c.absent).collect();
        let others: Vec<&HttpExchange> =
            sent.iter().filter(|e| !expected.iter().any(|c| c.selects(e, aliases))).collect();
        if !others.is_empty() || http.dropped > 0 {
            let list: Vec<String> = others.iter().map(|e| format!("{} {}", e.request.method, e.request.url)).collect();
            failures.push(format!(
                "http: expected no other request, found {} other(s): {}",
                others.len() + http.dropped,
                list.join(", ")
            ));
        }
    }
    failures
}

/// The requests sent, for a failure message (the first few).
fn listing(sent: &[HttpExchange]) -> String {
    if sent.is_empty() {
        return " (no request was sent)".into();
    }
    let shown: Vec<String> = sent
        .iter()
        .take(10)
        .map(|e| format!("{} {} ({})", e.request.method, e.request.url, e.outcome.describe()))
        .collect();
    let more = if sent.len() > 10 { format!(" and {} more", sent.len() - 10) } else { String::new() };
    format!("; sent: {}{more}", shown.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_6_a_pattern_matches_with_wildcards_and_without_the_query() {
        let p = Pattern::new("https://pay.contoso.com/v1/charges");
        assert!(p.matches("https://pay.contoso.com/v1/charges"));
        assert!(p.matches("https://pay.contoso.com/v1/charges?expand=card"));
        assert!(!p.matches("https://pay.contoso.com/v1/charges/ch_1"));
        assert!(Pattern::new("HTTPS://Pay.Contoso.com/v1/*").matches("https://pay.contoso.com/v1/charges/ch_1"));
        assert!(!Pattern::new("https://pay.contoso.com/V1/*").matches("https://pay.contoso.com/v1/x"));
        let q = Pattern::new("https://a.example/x?page=*");
        assert!(q.matches("https://a.example/x?page=2") && !q.matches("https://a.example/x"));
        assert!(Pattern::new("*").matches("http://anything.example/at/all?q"));
        assert!(wildcard(b"a*b*c", b"aXXbYYc") && !wildcard(b"a*b*c", b"aXXbYY"));
    }

    #[test]
    fn box_5_a_pattern_against_a_long_url_stays_bounded() {
        let url = format!("https://a.example/{}", "a".repeat(8000));
        let pattern = format!("https://a.example/{}b", "*a".repeat(20));
        let started = std::time::Instant::now();
        assert!(!Pattern::new(&pattern).matches(&url));
        assert!(started.elapsed() < Duration::from_millis(200));
    }
}
