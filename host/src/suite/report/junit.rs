//! JUnit XML, as GitHub Actions' test reporters, Azure DevOps (`PublishTestResults`, format JUnit) and GitLab
//! (`artifacts:reports:junit`) read it: `testsuites` › `testsuite` per suite › `testcase` per case, with
//! `failure` (message, and the details with the execution tree and traces) or `skipped`, and `system-out`.

use std::io::Cursor;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::Collected;
use crate::suite::CaseResult;

/// The whole run as a JUnit XML document.
pub fn render(run: &Collected) -> String {
    let mut w = Writer::new_with_indent(Cursor::new(Vec::new()), b' ', 2);
    // Writing into memory cannot fail; the results are ignored for that reason.
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let stats = run.stats();
    let mut root = BytesStart::new("testsuites");
    root.push_attribute(("name", "xrm-sandbox"));
    push_counts(&mut root, stats.0, stats.1, stats.2);
    root.push_attribute(("time", seconds(run.duration.as_secs_f64()).as_str()));
    root.push_attribute(("timestamp", run.timestamp().as_str()));
    let _ = w.write_event(Event::Start(root));
    for suite in run.suites() {
        let mut el = BytesStart::new("testsuite");
        el.push_attribute(("name", clean(&suite.name).as_str()));
        let failed = suite.finished.iter().filter(|r| !r.passed).count();
        push_counts(&mut el, suite.finished.len() + suite.skipped.len(), failed, suite.skipped.len());
        let time: f64 = suite.finished.iter().map(|r| r.duration.as_secs_f64()).sum();
        el.push_attribute(("time", seconds(time).as_str()));
        el.push_attribute(("timestamp", run.timestamp().as_str()));
        el.push_attribute(("file", clean(&suite.file).as_str()));
        let _ = w.write_event(Event::Start(el));
        for r in &suite.finished {
            case(&mut w, r);
        }
        for name in &suite.skipped {
            skipped(&mut w, &suite.name, &suite.file, name);
        }
        let _ = w.write_event(Event::End(BytesEnd::new("testsuite")));
    }
    input_errors(&mut w, run);
    let _ = w.write_event(Event::End(BytesEnd::new("testsuites")));
    let mut xml = String::from_utf8_lossy(&w.into_inner().into_inner()).into_owned();
    xml.push('\n');
    xml
}

fn push_counts(el: &mut BytesStart, tests: usize, failures: usize, skipped: usize) {
    el.push_attribute(("tests", tests.to_string().as_str()));
    el.push_attribute(("failures", failures.to_string().as_str()));
    // Errors are failures of the harness itself; a host failure is reported as the case's failure instead.
    el.push_attribute(("errors", "0"));
    el.push_attribute(("skipped", skipped.to_string().as_str()));
}

fn testcase<'a>(suite: &str, file: &str, name: &str) -> BytesStart<'a> {
    let mut el = BytesStart::new("testcase");
    el.push_attribute(("name", clean(name).as_str()));
    el.push_attribute(("classname", clean(suite).as_str()));
    el.push_attribute(("file", clean(file).as_str()));
    el
}

fn case(w: &mut Writer<Cursor<Vec<u8>>>, r: &CaseResult) {
    let mut el = testcase(&r.suite, &r.file.display().to_string(), &r.case);
    el.push_attribute(("time", seconds(r.duration.as_secs_f64()).as_str()));
    let _ = w.write_event(Event::Start(el));
    if !r.passed {
        let mut failure = BytesStart::new("failure");
        let message = r.failures.first().map(String::as_str).unwrap_or("failed");
        failure.push_attribute(("message", clean(message).as_str()));
        failure.push_attribute(("type", "CaseFailed"));
        let details = format!(
            "{}\n\nExecution tree:\n{}{}",
            r.failures.join("\n"),
            r.tree,
            if r.traces.is_empty() { String::new() } else { format!("\nTraces:\n{}", r.traces) }
        );
        text_element(w, failure, &details);
    }
    text_element(w, BytesStart::new("system-out"), &format!("{}{}", r.tree, r.traces));
    let _ = w.write_event(Event::End(BytesEnd::new("testcase")));
}

/// Input refused before anything ran (exit 2): a suite `input`, with a failed test per file in error, so a CI
/// system's test view shows what stopped the run.
fn input_errors(w: &mut Writer<Cursor<Vec<u8>>>, run: &Collected) {
    let files = run.input_errors_by_file();
    if files.is_empty() {
        return;
    }
    let mut el = BytesStart::new("testsuite");
    el.push_attribute(("name", "input"));
    push_counts(&mut el, files.len(), files.len(), 0);
    el.push_attribute(("time", "0"));
    el.push_attribute(("timestamp", run.timestamp().as_str()));
    let _ = w.write_event(Event::Start(el));
    for (file, errors) in &files {
        let mut el = testcase("input", file, file);
        el.push_attribute(("time", "0"));
        let _ = w.write_event(Event::Start(el));
        let mut failure = BytesStart::new("failure");
        let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
        let message = match errors.len() {
            1 => first,
            n => format!("{first} (and {} more errors in this file)", n - 1),
        };
        failure.push_attribute(("message", clean(&message).as_str()));
        failure.push_attribute(("type", "InputRefused"));
        let details: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let details = format!("{}\n\nNothing ran: the input is checked before any case runs.", details.join("\n"));
        text_element(w, failure, &details);
        let _ = w.write_event(Event::End(BytesEnd::new("testcase")));
    }
    let _ = w.write_event(Event::End(BytesEnd::new("testsuite")));
}

fn skipped(w: &mut Writer<Cursor<Vec<u8>>>, suite: &str, file: &str, name: &str) {
    let mut el = testcase(suite, file, name);
    el.push_attribute(("time", "0"));
    let _ = w.write_event(Event::Start(el));
    let mut skip = BytesStart::new("skipped");
    skip.push_attribute(("message", "not run: an earlier case failed (--fail-fast)"));
    let _ = w.write_event(Event::Empty(skip));
    let _ = w.write_event(Event::End(BytesEnd::new("testcase")));
}

fn text_element(w: &mut Writer<Cursor<Vec<u8>>>, start: BytesStart, text: &str) {
    let end = start.to_end().into_owned();
    let _ = w.write_event(Event::Start(start));
    let _ = w.write_event(Event::Text(BytesText::new(&clean(text))));
    let _ = w.write_event(Event::End(end));
}

fn seconds(s: f64) -> String {
    format!("{s:.3}")
}

/// XML 1.0 cannot carry most control characters, even escaped; a plug-in's trace may contain them.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c < ' ' && !matches!(c, '\t' | '\n' | '\r') { '\u{FFFD}' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_replaced_and_the_rest_is_kept() {
        assert_eq!(clean("a\u{0}b\tc\nd\u{1b}"), "a\u{FFFD}b\tc\nd\u{FFFD}");
    }
}
