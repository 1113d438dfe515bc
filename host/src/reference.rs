//! The parts of `docs/reference/` generated from the code, so they cannot drift from it: the built-in tables
//! with their columns and types (`tables.md`). A test (`tests/integration/docs.rs`) regenerates them and
//! fails on any difference; `XRM_SANDBOX_UPDATE_DOCS=1 cargo test --test integration docs::` rewrites them.

use std::fmt::Write as _;
use std::path::Path;

use crate::org::{ColumnType, Organization, Ownership, Table};

/// The organization every file starts from: one business unit and nothing of its own, so only what is built
/// in shows.
fn empty_organization() -> Result<Organization, String> {
    let json = serde_json::json!({ "name": "reference", "businessunits": [ { "@alias": "root", "name": "Root" } ], "users": [] });
    Organization::from_json(Path::new("reference"), json).map_err(|e| e.to_string())
}

/// `docs/reference/tables.md`: every built-in table, its privileges and keys, and its columns with their types
/// and the form a value takes in the files.
pub fn tables_markdown() -> Result<String, String> {
    let org = empty_organization()?;
    let mut tables: Vec<&Table> = org.tables.values().collect();
    tables.sort_by(|a, b| a.logical_name.cmp(&b.logical_name));
    let mut out = String::from(
        "# Built-in tables\n\n\
         <!-- Generated from the code by `xrm_sandbox::reference::tables_markdown`; do not edit. A test fails when \
         it drifts; `XRM_SANDBOX_UPDATE_DOCS=1 cargo test --test integration docs::` rewrites it. -->\n\n\
         Every organization has these tables; its file adds columns to them and declares its own tables \
         ([formats.md](formats.md), \"Organization\"). Logical names are lower case. A column's type says the form \
         its value takes in the files: text for `String` and `Memo`, a whole number for `Integer` and `BigInt`, \
         a number for `Double`, `true`/`false` for `Boolean`, `{\"@decimal\": \"12.34\"}`, `{\"@money\": \"12.50\"}`, \
         `{\"@datetime\": \"…\"}`, `{\"@guid\": \"…\"}`, `{\"@option\": 1}` for `Picklist`, `{\"@options\": [1, 3]}` for \
         `MultiSelectPicklist`, and `{\"@ref\": \"table\", \"id\": \"@alias\"}` (or `\"@alias\"`) for a `Lookup` to the \
         tables named.\n\n\
         Privileges are `prv{Create|Read|Write|Delete|Append|AppendTo|Assign|Share}` followed by the name given \
         (rule SEC-1 in [rules.md](rules.md)).\n\n",
    );
    out.push_str(
        "| table | schema name | type code | ownership | privileges | entity set |\n|---|---|---|---|---|---|\n",
    );
    for t in &tables {
        let _ = writeln!(
            out,
            "| [`{0}`](#{0}) | {1} | {2} | {3} | `prvCreate{4}`, … | `{5}` |",
            t.logical_name,
            t.schema_name,
            t.object_type_code,
            ownership(t.ownership),
            t.privilege_name,
            t.entity_set_name
        );
    }
    for t in &tables {
        table(&mut out, t);
    }
    Ok(out)
}

fn ownership(o: Ownership) -> &'static str {
    match o {
        Ownership::UserOwned => "user or team",
        Ownership::OrganizationOwned => "organization",
        Ownership::BusinessOwned => "business unit",
    }
}

fn table(out: &mut String, t: &Table) {
    let _ = writeln!(out, "\n## {}\n", t.logical_name);
    let primary_name = t.primary_name.as_deref().map(|n| format!(", primary name `{n}`")).unwrap_or_default();
    let _ = writeln!(out, "Primary key `{}`{primary_name}.", t.primary_id);
    for key in &t.keys {
        let _ = writeln!(out, "Alternate key `{}`: {}.", key.name, key.columns.join(", "));
    }
    out.push_str("\n| column | type |\n|---|---|\n");
    let mut columns: Vec<(&String, &ColumnType)> = t.columns.iter().collect();
    columns.sort_by(|a, b| a.0.cmp(b.0));
    for (name, ty) in columns {
        let _ = writeln!(out, "| `{name}` | {ty} |");
    }
}
