//! The HTML execution report: one self-contained file (no script, no network) with a summary at the top and
//! each case as a tree, request › stage › step (its plug-in, users and trace) › the service calls it made ›
//! their own pipelines, every node with the users it ran as, its depth, duration and outcome. Failing cases
//! are open, passing ones closed; `<details>` does the folding.

use std::fmt::Write as _;
use std::ops::Range;

use super::{Collected, HumanReporter, Node, NodeKind, Outcome, SuiteReport, stage_name};
use crate::suite::{CaseResult, RunStats};

/// The reports' style sheet, shared by the import's identity map.
pub(crate) const STYLE: &str = include_str!("report.css");

/// The whole run as an HTML document.
pub fn render(run: &Collected, stats: &RunStats) -> String {
    let summary = HumanReporter::summary(stats);
    let verdict = if stats.failed > 0 { "failed" } else { "passed" };
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>xrm-sandbox: {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        esc(&summary)
    );
    let _ = write!(
        out,
        "<header>\n<h1>xrm-sandbox execution report</h1>\n<p id=\"summary\" class=\"summary {verdict}\">\
         <strong>{}</strong> <span>· started {} · took {}</span></p>\n",
        esc(&summary),
        esc(&run.timestamp()),
        millis(run.duration.as_secs_f64())
    );
    let suites = run.suites();
    failing_links(&mut out, &suites);
    out.push_str(
        "<input type=\"checkbox\" id=\"only-failures\"><label for=\"only-failures\">show failing cases only</label>\n\
         </header>\n<main>\n",
    );
    for (s, suite) in suites.iter().enumerate() {
        suite_section(&mut out, s, suite);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn failing_links(out: &mut String, suites: &[SuiteReport]) {
    let mut links = String::new();
    for (s, suite) in suites.iter().enumerate() {
        for (c, r) in suite.finished.iter().enumerate().filter(|(_, r)| !r.passed) {
            let _ = write!(links, "<li><a href=\"#{}\">{}</a></li>", case_id(s, c), esc(&r.id()));
        }
    }
    if !links.is_empty() {
        let _ = writeln!(out, "<nav id=\"failing\"><h2>Failing cases</h2><ul>{links}</ul></nav>");
    }
}

fn case_id(suite: usize, case: usize) -> String {
    format!("case-{suite}-{case}")
}

fn suite_section(out: &mut String, s: usize, suite: &SuiteReport) {
    let _ =
        writeln!(out, "<section class=\"suite\">\n<h2>{} <small>{}</small></h2>", esc(&suite.name), esc(&suite.file));
    for (c, r) in suite.finished.iter().enumerate() {
        case_section(out, &case_id(s, c), r);
    }
    for name in &suite.skipped {
        let _ = writeln!(
            out,
            "<div class=\"case skip\"><span class=\"badge skip\">SKIP</span> <span class=\"name\">{}</span> \
             <span class=\"note\">not run: an earlier case failed (--fail-fast)</span></div>",
            esc(name)
        );
    }
    out.push_str("</section>\n");
}

fn case_section(out: &mut String, id: &str, r: &CaseResult) {
    let (class, badge, open) = if r.passed { ("pass", "PASS", "") } else { ("fail", "FAIL", " open") };
    let _ = writeln!(
        out,
        "<details class=\"case {class}\" id=\"{id}\"{open}><summary><span class=\"badge {class}\">{badge}</span> \
         <span class=\"name\">{}</span> <span class=\"time\">{}</span></summary>",
        esc(&r.case),
        millis(r.duration.as_secs_f64())
    );
    if !r.failures.is_empty() {
        out.push_str("<ul class=\"failures\">");
        for f in &r.failures {
            let _ = write!(out, "<li>{}</li>", esc(f));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<ul class=\"tree\">\n");
    for root in roots(&r.nodes) {
        node(out, &r.nodes, root);
    }
    out.push_str("</ul>\n</details>\n");
}

/// The nodes that start a tree: top-level requests, and asynchronous steps (a job runs apart from the
/// request that queued it).
fn roots(nodes: &[Node]) -> Vec<usize> {
    let mut roots = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        roots.push(i);
        i = subtree(nodes, i).end;
    }
    roots
}

/// The nodes below `i`: those after it with a deeper level, up to the next async step or shallower node; below
/// a `runasync`, the jobs it ran, up to the next top-level node.
fn subtree(nodes: &[Node], i: usize) -> Range<usize> {
    if matches!(nodes[i].kind, NodeKind::RunAsync { .. }) {
        let end = (i + 1..nodes.len()).find(|&j| nodes[j].level == 0).unwrap_or(nodes.len());
        return i + 1..end;
    }
    let level = nodes[i].level;
    let end = (i + 1..nodes.len()).find(|&j| nodes[j].level <= level || is_job(&nodes[j])).unwrap_or(nodes.len());
    i + 1..end
}

fn is_job(n: &Node) -> bool {
    matches!(n.kind, NodeKind::Step { asynchronous: true, .. })
}

/// The direct children of `i`.
fn children(nodes: &[Node], i: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let range = subtree(nodes, i);
    let mut j = range.start;
    while j < range.end {
        out.push(j);
        j = subtree(nodes, j).end.min(range.end);
    }
    out
}

fn node(out: &mut String, nodes: &[Node], i: usize) {
    let n = &nodes[i];
    let kids = children(nodes, i);
    let (kind, trace) = match &n.kind {
        NodeKind::Request { .. } => ("request", ""),
        NodeKind::Step { trace, .. } => ("step", trace.as_str()),
        NodeKind::Http { .. } => ("http", ""),
        NodeKind::RunAsync { .. } => ("runasync", ""),
    };
    let written: &[super::Written] = match &n.kind {
        NodeKind::Request { written, .. } => written.as_slice(),
        _ => &[],
    };
    let state = match n.outcome {
        Outcome::Ok => "ok",
        Outcome::Failed { .. } => "failed",
        Outcome::Unfinished => "unfinished",
    };
    if trace.is_empty() && kids.is_empty() && written.is_empty() {
        let _ = write!(out, "<li class=\"node {kind} {state}\"><div class=\"leaf\">");
        summary(out, n);
        out.push_str("</div></li>\n");
        return;
    }
    let _ = write!(out, "<li class=\"node {kind} {state}\"><details open><summary>");
    summary(out, n);
    out.push_str("</summary>\n");
    if !trace.is_empty() {
        let _ = writeln!(out, "<pre class=\"trace\" title=\"trace\">{}</pre>", esc(trace));
    }
    if !written.is_empty() {
        written_list(out, written);
    }
    if !kids.is_empty() {
        out.push_str("<ul>\n");
        match n.kind {
            NodeKind::Request { .. } => stages(out, nodes, &kids),
            NodeKind::Step { .. } | NodeKind::Http { .. } | NodeKind::RunAsync { .. } => {
                kids.iter().for_each(|&k| node(out, nodes, k))
            }
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</details></li>\n");
}

/// The records a request's operation wrote, each with its columns and values; rolled-back writes marked.
fn written_list(out: &mut String, written: &[super::Written]) {
    out.push_str("<ul class=\"written\">\n");
    for w in written {
        let class = if w.rolled_back { "write rolled-back" } else { "write" };
        let _ = write!(
            out,
            "<li class=\"{class}\"><span class=\"action\">wrote: {} {}</span> <b>{}</b>",
            esc(w.action),
            esc(&w.table),
            esc(&w.record)
        );
        if w.rolled_back {
            out.push_str(" <span class=\"rolledback\">rolled back</span>");
        }
        if !w.columns.is_empty() {
            out.push_str("<dl class=\"columns\">");
            for (column, value) in &w.columns {
                let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(column), esc(value));
            }
            out.push_str("</dl>");
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n");
}

/// A request's steps, grouped by the stage they ran in.
fn stages(out: &mut String, nodes: &[Node], steps: &[usize]) {
    let stage_of = |i: usize| match nodes[i].kind {
        NodeKind::Step { stage, .. } => Some(stage),
        NodeKind::Request { .. } | NodeKind::Http { .. } | NodeKind::RunAsync { .. } => None,
    };
    let mut k = 0;
    while k < steps.len() {
        let stage = stage_of(steps[k]);
        let run = steps[k..].iter().take_while(|&&i| stage_of(i) == stage).count();
        let label = stage.map(|s| format!("{} ({s})", stage_name(s))).unwrap_or_else(|| "calls".into());
        let _ = writeln!(out, "<li class=\"stage\"><details open><summary>{}</summary><ul>", esc(&label));
        for &i in &steps[k..k + run] {
            node(out, nodes, i);
        }
        out.push_str("</ul></details></li>\n");
        k += run;
    }
}

fn summary(out: &mut String, n: &Node) {
    match &n.kind {
        NodeKind::RunAsync { jobs } => {
            let _ = write!(out, "<span class=\"what\">runasync</span> <span class=\"jobs\">{jobs} queued jobs</span> ");
        }
        NodeKind::Request { message, table, caller, initiating, via, impersonator, sent, .. } => {
            let _ = write!(out, "<span class=\"what\">{} {}</span> ", esc(message), esc(table));
            if !sent.is_empty() {
                let _ = write!(out, "<span class=\"sent\">sent {}</span> ", esc(&sent.join(", ")));
            }
            user(out, "as", "caller", caller);
            if let Some(v) = via {
                let _ = write!(out, "<span class=\"via\">via CreateOrganizationService({})</span> ", esc(v));
            }
            if let Some(i) = impersonator {
                user(out, "impersonated by", "impersonator", i);
            }
            user(out, "initiating", "initiating", initiating);
        }
        NodeKind::Step { stage, asynchronous, name, plugin, user_id, initiating_user_id, in_transaction, .. } => {
            let mode = if *asynchronous { "async" } else { "sync" };
            let _ = write!(
                out,
                "<span class=\"what\">step “{}”</span> <span class=\"plugin\">plug-in {}</span> \
                 <span class=\"mode\">stage {stage}, {mode}{}</span> ",
                esc(name),
                esc(plugin),
                if *in_transaction { ", in transaction" } else { "" }
            );
            user(out, "UserId", "userid", user_id);
            user(out, "InitiatingUserId", "initiatinguserid", initiating_user_id);
        }
        NodeKind::Http { method, url, user_id, answered_by, status, body_bytes } => {
            let _ = write!(out, "<span class=\"what\">HTTP {} {}</span> ", esc(method), esc(url));
            user(out, "as", "caller", user_id);
            if let Some(n) = body_bytes {
                let _ = write!(out, "<span class=\"body\">{n}-byte body</span> ");
            }
            if let (Some(status), Some(stub)) = (status, answered_by) {
                let _ = write!(out, "<span class=\"stub\">{status} from stub <b>{}</b></span> ", esc(stub));
            }
        }
    }
    let _ = write!(out, "<span class=\"depth\">depth {}</span> ", n.depth);
    let _ = write!(
        out,
        "<span class=\"outcome\">{}</span> <span class=\"time\">{}</span>",
        esc(&n.outcome.to_string()),
        millis(n.duration.as_secs_f64())
    );
}

fn user(out: &mut String, label: &str, role: &str, who: &str) {
    let _ = write!(out, "<span class=\"user\" data-role=\"{role}\">{label} <b>{}</b></span> ", esc(who));
}

fn millis(seconds: f64) -> String {
    format!("{:.2} ms", seconds * 1000.0)
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn step(level: usize, stage: i32, asynchronous: bool) -> Node {
        Node {
            level,
            depth: 1,
            kind: NodeKind::Step {
                stage,
                asynchronous,
                name: "s".into(),
                plugin: "p".into(),
                user_id: "@a".into(),
                initiating_user_id: "@a".into(),
                in_transaction: false,
                trace: String::new(),
            },
            outcome: Outcome::Ok,
            duration: Duration::ZERO,
        }
    }

    fn request(level: usize) -> Node {
        Node {
            level,
            depth: 1,
            kind: NodeKind::Request {
                message: "Create".into(),
                table: "account".into(),
                caller: "@a".into(),
                initiating: "@a".into(),
                via: None,
                impersonator: None,
                sent: Vec::new(),
                written: Vec::new(),
            },
            outcome: Outcome::Ok,
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn steps_nest_under_their_request_and_calls_under_their_step() {
        // Create › step(20) › call › step ; step(40) ; then an async job with a call, then another request.
        let nodes =
            vec![request(0), step(1, 20, false), request(2), step(3, 40, false), step(1, 40, false), step(1, 40, true)];
        let mut nodes = nodes;
        nodes.push(request(2));
        nodes.push(request(0));
        assert_eq!(roots(&nodes), vec![0, 5, 7]);
        assert_eq!(children(&nodes, 0), vec![1, 4]);
        assert_eq!(children(&nodes, 1), vec![2]);
        assert_eq!(children(&nodes, 2), vec![3]);
        assert_eq!(children(&nodes, 5), vec![6]);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
