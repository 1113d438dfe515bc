//! The identity map of a solution: for each message and table, every step in the order the pipeline runs
//! them (stage, then synchronous before asynchronous, then rank, then registration order), with its mode,
//! filtering columns, images and the user it runs as. Printed as a table, and written as HTML with the
//! execution report's style.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use super::StepOut;
use super::project::runnable;
use crate::suite::report::{html, stage_name};

/// One step's row.
pub struct Row {
    pub stage: i32,
    pub mode: i32,
    pub rank: i32,
    pub order: usize,
    pub name: String,
    pub plugin: String,
    pub filtering: String,
    pub images: String,
    pub runs_as: String,
    pub note: String,
}

/// The steps by (message, table), each list in pipeline order.
pub struct IdentityMap {
    pub groups: BTreeMap<(String, String), Vec<Row>>,
}

impl IdentityMap {
    /// `users` names each alias (`@svc` → its full name).
    pub fn of(steps: &[StepOut], apis: &HashSet<String>, users: &HashMap<String, String>) -> IdentityMap {
        let mut groups: BTreeMap<(String, String), Vec<Row>> = BTreeMap::new();
        for (order, s) in steps.iter().enumerate() {
            let table = s.primaryentity.clone().unwrap_or_else(|| "(every table)".to_owned());
            let runs_as = match &s.impersonatinguserid {
                None => "the calling user".to_owned(),
                Some(alias) => match users.get(alias) {
                    Some(name) => format!("{name} ({alias})"),
                    None => alias.clone(),
                },
            };
            let images = s
                .images
                .iter()
                .map(|i| {
                    let kind = ["pre", "post", "pre+post"].get(i.imagetype as usize).copied().unwrap_or("?");
                    format!("{kind} {}: {}", i.entityalias, i.attributes.as_deref().unwrap_or("all columns"))
                })
                .collect::<Vec<_>>()
                .join("; ");
            let mut note = Vec::new();
            if s.statecode != 0 {
                note.push("disabled".to_owned());
            }
            if !runnable(&s.message, apis) {
                note.push(format!("cannot fire: the sandbox does not run {} yet", s.message));
            }
            groups.entry((s.message.clone(), table)).or_default().push(Row {
                stage: s.stage,
                mode: s.mode,
                rank: s.rank,
                order,
                name: s.name.clone().unwrap_or_default(),
                plugin: s.plugin.clone(),
                filtering: s.filteringattributes.clone().unwrap_or_default(),
                images,
                runs_as,
                note: note.join("; "),
            });
        }
        for rows in groups.values_mut() {
            rows.sort_by_key(|r| (r.stage, r.mode, r.rank, r.order));
        }
        IdentityMap { groups }
    }

    /// The map as plain text: one block per message and table.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for ((message, table), rows) in &self.groups {
            let _ = writeln!(out, "{message} of {table}");
            for r in rows {
                let mode = if r.mode == 1 { "async" } else { "sync" };
                let _ = write!(
                    out,
                    "  {:<14} {mode:<5} rank {:<3} {}  runs as {}",
                    stage_name(r.stage),
                    r.rank,
                    r.name,
                    r.runs_as
                );
                for (label, value) in [("filter", &r.filtering), ("images", &r.images), ("note", &r.note)] {
                    if !value.is_empty() {
                        let _ = write!(out, "  [{label}: {value}]");
                    }
                }
                out.push('\n');
            }
        }
        out
    }

    /// The map as one self-contained HTML page, in the execution report's style.
    pub fn html(&self, title: &str) -> String {
        let esc = html::esc;
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{}\
             table.map {{ border-collapse: collapse; margin: 4px 0 16px; width: 100%; }}\n\
             table.map th, table.map td {{ border: 1px solid var(--line); padding: 3px 8px; text-align: left; \
             vertical-align: top; font-size: 13px; }}\n\
             table.map th {{ background: var(--bg); }}\n\
             tr.cannot td {{ color: var(--fail); }}\n\
             </style>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n<p class=\"summary\">{} steps on {} messages and tables, \
             in the order the pipeline runs them</p>\n</header>\n<main>\n",
            esc(title),
            html::STYLE,
            esc(title),
            self.groups.values().map(Vec::len).sum::<usize>(),
            self.groups.len()
        );
        for ((message, table), rows) in &self.groups {
            let _ = write!(
                out,
                "<h2>{} <small>of {}</small></h2>\n<table class=\"map\">\n<tr><th>stage</th><th>mode</th><th>rank</th>\
                 <th>step</th><th>plug-in</th><th>runs as</th><th>filtering columns</th><th>images</th><th>note</th></tr>\n",
                esc(message),
                esc(table)
            );
            for r in rows {
                let class = if r.note.contains("cannot fire") { " class=\"cannot\"" } else { "" };
                let _ = writeln!(
                    out,
                    "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"plugin\">{}</td>\
                     <td><span class=\"user\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    stage_name(r.stage),
                    if r.mode == 1 { "asynchronous" } else { "synchronous" },
                    r.rank,
                    esc(&r.name),
                    esc(&r.plugin),
                    esc(&r.runs_as),
                    esc(&r.filtering),
                    esc(&r.images),
                    esc(&r.note)
                );
            }
            out.push_str("</table>\n");
        }
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }
}
