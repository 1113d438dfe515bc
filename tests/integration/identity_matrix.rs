//! The identity conformance matrix (IMP-1..9, SEC-3, SEC-8), generated rather than hand-copied: every
//! combination of caller × step registration × stage and mode × factory argument × depth, each case asserting
//! the context the plug-in saw, the outcome (success or the exact code) and the columns stamped on what it
//! wrote. The expectations come from `expect`, a small model of the rules written next to them.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Instant;

use serde_json::{Value as Json, json};
use xrm_sandbox::suite::{self, Suite};

/// Who sends the request: a user, an external impersonator (Delegate held directly, or only through a
/// team) acting for `owner`, an application user, `owner` naming itself in `callerid`, or a delegate naming
/// SYSTEM.
const CALLERS: [&str; 6] = ["normal", "delegate", "team-delegate", "application", "self", "system-target"];
/// The step's `impersonatinguserid`: none, a user who may write the target table, one who may not, a
/// disabled one.
const REGISTRATIONS: [(&str, Option<&str>); 4] =
    [("none", None), ("privileged", Some("priv")), ("unprivileged", Some("unpriv")), ("disabled", Some("gone"))];
const STAGES: [(i32, i32); 4] = [(10, 0), (20, 0), (40, 0), (40, 1)];
/// The factory argument, as the probe's `as` names it.
const ARGS: [(&str, &str); 6] = [
    ("null", "null"),
    ("empty", "empty"),
    ("UserId", "user"),
    ("InitiatingUserId", "initiating"),
    ("fixed user", "@third"),
    ("unknown id", "00000000-0000-0000-0000-0000000000dd"),
];
const UNKNOWN: &str = "00000000-0000-0000-0000-0000000000dd";

fn table(kind: &str, reg: &str, (stage, mode): (i32, i32)) -> String {
    format!("new_{kind}_{}_{stage}_{mode}", reg.replace('-', ""))
}

fn organization() -> Json {
    let mut tables =
        vec![json!({ "logicalname": "new_target", "objecttypecode": 10100, "primarynameattribute": "new_name" })];
    let mut top_privileges = serde_json::Map::new();
    let mut code = 10101;
    for (reg, _) in REGISTRATIONS {
        for sm in STAGES {
            for kind in ["t", "c"] {
                let name = table(kind, reg, sm);
                tables.push(json!({ "logicalname": name, "objecttypecode": code, "primarynameattribute": "new_name" }));
                code += 1;
                if kind == "t" {
                    top_privileges.insert(format!("prvCreate{name}"), json!("Global"));
                    // SEC-9: creating a record to own it needs Read as well.
                    top_privileges.insert(format!("prvRead{name}"), json!("Global"));
                }
            }
        }
    }
    json!({
        "name": "matrix",
        "businessunits": [ { "@alias": "root", "name": "Root" } ],
        "roles": [
            { "@alias": "r-top", "name": "Starts requests", "privileges": top_privileges },
            { "@alias": "r-target", "name": "Writes the target", "privileges": { "prvCreatenew_target": "Basic", "prvReadnew_target": "Basic" } },
            { "@alias": "r-delegate", "name": "Delegate", "privileges": { "prvActOnBehalfOfAnotherUser": "Global" } }
        ],
        "users": [
            { "@alias": "owner", "businessunit": "@root", "roles": ["@r-top"] },
            { "@alias": "delegsales", "businessunit": "@root", "roles": ["@r-top", "@r-delegate"] },
            { "@alias": "teamdeleg", "businessunit": "@root", "roles": ["@r-top"] },
            { "@alias": "app", "businessunit": "@root", "roles": ["@r-top"], "applicationid": "4b3a2918-0716-4f5e-8d9c-1a2b3c4d5e6f" },
            { "@alias": "priv", "businessunit": "@root", "roles": ["@r-target"] },
            { "@alias": "unpriv", "businessunit": "@root", "roles": [] },
            { "@alias": "third", "businessunit": "@root", "roles": ["@r-target"] },
            { "@alias": "gone", "businessunit": "@root", "roles": ["@r-target"], "isdisabled": true }
        ],
        "teams": [ { "@alias": "delegates", "name": "Delegates", "businessunit": "@root", "roles": ["@r-delegate"], "members": ["@teamdeleg"] } ],
        "tables": tables
    })
}

fn key(sm: (i32, i32), arg: &str, depth: u8) -> String {
    format!("{}-{}-{arg}-d{depth}", sm.0, sm.1)
}

/// One step per table: the request's table relays to the child table (depth 2) or calls directly (depth 1).
fn steps() -> Vec<Json> {
    let mut steps = Vec::new();
    for (reg, user) in REGISTRATIONS {
        for sm in STAGES {
            let target_ops = |depth: u8| -> Vec<Json> {
                ARGS.iter()
                    .map(|(arg, who)| {
                        json!({ "when": { "Target.new_name": key(sm, arg, depth) }, "ops": [
                            { "trace": "ctx UserId={UserId} InitiatingUserId={InitiatingUserId} Depth={Depth}" },
                            { "create": { "@logicalname": "new_target", "new_name": key(sm, arg, depth) }, "as": who } ] })
                    })
                    .collect()
            };
            let mut top_ops = target_ops(1);
            top_ops.extend(ARGS.iter().map(|(arg, _)| {
                json!({ "when": { "Target.new_name": key(sm, arg, 2) }, "ops": [
                    { "create": { "@logicalname": table("c", reg, sm), "new_name": key(sm, arg, 2) }, "as": "null" } ] })
            }));
            for (kind, ops) in [("t", top_ops), ("c", target_ops(2))] {
                let mut step = json!({ "name": format!("{kind} {reg} {} {}", sm.0, sm.1), "plugin": "probe",
                    "message": "Create", "primaryentity": table(kind, reg, sm), "stage": sm.0, "mode": sm.1,
                    "configuration": { "ops": ops } });
                if let Some(u) = user {
                    step["impersonatinguserid"] = json!(format!("@{u}"));
                }
                steps.push(step);
            }
        }
    }
    steps
}

/// What a case must show: the model of IMP-1..8 for one combination.
struct Expected {
    /// The request's error code, if it fails.
    error: Option<(&'static str, String)>,
    /// Text of the asynchronous job's error, if it fails.
    job_error: Option<String>,
    /// The context the writing step saw, if it ran.
    context: Option<String>,
    /// Who created the target record, if it was written.
    written_by: Option<String>,
    /// Who is stamped on behalf on the request's own record.
    on_behalf: Option<&'static str>,
}

fn expect(caller: &str, reg: Option<&str>, sm: (i32, i32), arg: &str, depth: u8) -> Expected {
    let none = Expected { error: None, job_error: None, context: None, written_by: None, on_behalf: None };
    if caller == "team-delegate" {
        // IMP-6: Delegate held only through a team never impersonates; nothing runs.
        return Expected { error: Some(("0x80040220", "prvActOnBehalfOfAnotherUser".into())), ..none };
    }
    if caller == "system-target" {
        // IMP-9: SYSTEM cannot be impersonated; nothing runs.
        return Expected { error: Some(("0x80040225", "SYSTEM".into())), ..none };
    }
    // IMP-9: a caller naming itself (`self`) is a plain caller: no Delegate needed, nothing stamped on behalf.
    let u = if caller == "application" { "app" } else { "owner" };
    let on_behalf = (caller == "delegate").then_some("delegsales");
    let async_step = sm.1 == 1;
    if reg == Some("gone") {
        // IMP-1: a disabled impersonating user fails the step before it runs.
        return match async_step {
            true => Expected { job_error: Some("disabled".into()), on_behalf, ..none },
            false => Expected { error: Some(("0x80040225", "disabled".into())), ..none },
        };
    }
    // IMP-2/IMP-3: at depth 2 the relay ran as SYSTEM, so the child pipeline's caller is SYSTEM.
    let pipeline_caller = if depth == 1 { u } else { "system" };
    let step_user = reg.unwrap_or(pipeline_caller);
    let context = format!("ctx UserId=@{step_user} InitiatingUserId=@{u} Depth={depth}");
    // IMP-4: who the service runs as.
    let service = match arg {
        "null" => "system",
        "empty" | "UserId" => step_user,
        "InitiatingUserId" => u,
        "fixed user" => "third",
        _ => UNKNOWN,
    };
    let failure = match service {
        UNKNOWN => Some(("0x80040217", format!("systemuser With Id = {UNKNOWN} Does Not Exist"))),
        "system" | "priv" | "third" => None,
        // SEC-3: the service's user alone is checked, whoever the caller impersonated (IMP-7).
        other => Some(("0x80040220", format!("Principal user (Id=@{other}, type=8"))),
    };
    match (failure, async_step) {
        (None, _) => Expected { context: Some(context), written_by: Some(service.into()), on_behalf, ..none },
        (Some((_, text)), true) => Expected { context: Some(context), job_error: Some(text), on_behalf, ..none },
        (Some(e), false) => Expected { error: Some(e), context: Some(context), ..none },
    }
}

fn case(caller: &str, (reg, user): (&str, Option<&str>), sm: (i32, i32), (arg, _): (&str, &str), depth: u8) -> Json {
    let e = expect(caller, user, sm, arg, depth);
    let name = format!(
        "IMP matrix: caller={caller} registration={reg} stage={}{} factory={arg} depth={depth} [IMP-1 IMP-2 IMP-4 IMP-5 IMP-6 IMP-7 IMP-8 IMP-9 SEC-3]",
        sm.0,
        if sm.1 == 1 { " async" } else { "" }
    );
    let sender = match caller {
        "normal" | "self" => "owner",
        "delegate" | "system-target" => "delegsales",
        "team-delegate" => "teamdeleg",
        _ => "app",
    };
    let mut request = json!({ "as": format!("@{sender}"),
        "request": { "message": "Create", "target": { "@logicalname": table("t", reg, sm), "new_name": key(sm, arg, depth) } },
        "save": "top" });
    match caller {
        "delegate" | "team-delegate" | "self" => request["callerid"] = json!("@owner"),
        "system-target" => request["callerid"] = json!("@system"),
        _ => {}
    }
    if let Some((code, contains)) = &e.error {
        request["expect"] = json!({ "error": { "code": code, "contains": contains } });
    }
    let mut actions = vec![request, json!({ "runasync": true })];
    let target = key(sm, arg, depth);
    let mut records = vec![match &e.written_by {
        Some(who) => json!({ "@logicalname": "new_target", "where": { "new_name": target }, "count": 1,
                             "columns": { "createdby": format!("@{who}"), "createdonbehalfby": null } }),
        None => json!({ "@logicalname": "new_target", "count": 0 }),
    }];
    if e.error.is_none() {
        records.push(json!({ "@logicalname": table("t", reg, sm), "where": { "new_name": target }, "count": 1,
                             "columns": { "createdonbehalfby": e.on_behalf.map(|u| format!("@{u}")) } }));
    }
    let traces = match &e.context {
        Some(c) => vec![json!({ "contains": c, "count": 1 })],
        None => vec![json!({ "contains": "ctx ", "absent": true })],
    };
    let jobs = match &e.job_error {
        Some(text) => vec![json!({ "status": "Failed", "contains": text, "count": 1 })],
        None => vec![json!({ "status": "Failed", "count": 0 })],
    };
    actions.push(json!({ "assert": { "records": records, "traces": traces, "jobs": jobs } }));
    json!({ "name": name, "actions": actions })
}

#[test]
fn the_identity_matrix() {
    // 1,152 cases on every core: not beside the tests that measure time.
    let _heavy = crate::exclusive();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let mut cases = Vec::new();
    for caller in CALLERS {
        for reg in REGISTRATIONS {
            for sm in STAGES {
                for arg in ARGS {
                    for depth in [1, 2] {
                        cases.push(case(caller, reg, sm, arg, depth));
                    }
                }
            }
        }
    }
    let suite = json!({ "name": "identity-matrix", "org": organization(),
        "plugins": { "probe": { "crate": root.join("plugins/probe") } }, "steps": steps(), "cases": cases });
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("matrix.json"), serde_json::to_string_pretty(&suite).unwrap()).unwrap();
    let suite = Suite::load(&dir.join("matrix.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(suite.cases.len(), 6 * 4 * 4 * 6 * 2);
    let started = Instant::now();
    let mut failed = Vec::new();
    let stats = suite::run(vec![suite], &suite::RunOptions::default(), |event| {
        if let suite::Event::CaseFinished(r) = event
            && !r.passed
        {
            failed.push(format!("{}\n  {}\n{}", r.case, r.failures.join("\n  "), r.tree));
        }
    });
    println!("identity matrix: {} cases in {:.2} s", stats.passed + stats.failed, started.elapsed().as_secs_f64());
    assert!(
        failed.is_empty(),
        "{} of {} cases failed; the first:\n{}",
        failed.len(),
        stats.passed + stats.failed,
        failed.iter().take(3).cloned().collect::<Vec<_>>().join("\n")
    );
}
