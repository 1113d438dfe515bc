//! The mapping file (`docs/import.md`): which of our plug-ins stands for each .NET plug-in type, which
//! organization alias for each user a step runs as, and the names of message ids that are not built in.
//!
//! ```json
//! { "plugins": { "Contoso.Plugins.FollowUp": { "plugin": "followup", "component": { "crate": "plugins/followup" } } },
//!   "users": { "8d3f…": "@svc", "CONTOSO\\svc-crm": "@svc", "Integration Service": "@svc" },
//!   "messages": { "6b4c…": "new_Recalculate" } }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;
use xrm_model::Uuid;

use crate::input::{self, FileError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    #[serde(default)]
    plugins: BTreeMap<String, PluginEntry>,
    #[serde(default)]
    users: BTreeMap<String, String>,
    #[serde(default)]
    messages: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginEntry {
    plugin: String,
    component: Json,
    #[serde(default)]
    configuration: Option<Json>,
}

/// The plug-in that stands in for a .NET type: its name, component, and the configuration it gets instead
/// of the step's real one (None: the real one).
#[derive(Debug, Clone, PartialEq)]
pub struct StandIn {
    pub plugin: String,
    pub component: Json,
    pub configuration: Option<Json>,
}

/// The mapping's key for every type not mapped by name.
pub const ANY_TYPE: &str = "*";

/// A user a step runs as, by whatever the export tells of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRef {
    pub id: Option<Uuid>,
    pub domainname: Option<String>,
    pub fullname: Option<String>,
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = [self.id.map(|id| id.to_string()), self.domainname.clone(), self.fullname.clone()]
            .into_iter()
            .flatten()
            .map(|k| format!("`{k}`"))
            .collect();
        if keys.is_empty() { write!(f, "(the export names no user)") } else { write!(f, "{}", keys.join(", ")) }
    }
}

/// A checked mapping file.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    /// Type name → our plug-in's name and its component (`"x.wasm"` or `{"crate": "dir"}`).
    plugins: BTreeMap<String, StandIn>,
    users_by_id: HashMap<Uuid, String>,
    /// Domain names and full names, lower-cased: both are matched ignoring case.
    users_by_name: HashMap<String, String>,
    messages: HashMap<Uuid, String>,
}

impl Mapping {
    /// Parses and checks a mapping file's text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Mapping, FileError> {
        let raw: MappingFile = input::parse_json(file, text.trim_start_matches('\u{feff}'))?;
        let mut mapping = Mapping::default();
        let mut components: BTreeMap<String, (String, Json)> = BTreeMap::new();
        for (type_name, entry) in raw.plugins {
            let at = format!("plugins.{type_name}");
            let err = |key: &str, message: String| FileError::new(file, format!("{at}.{key}"), message);
            if entry.plugin.trim().is_empty() {
                return Err(err("plugin", "expected the name of one of our plug-ins, found an empty name".into()));
            }
            check_component(&entry.component).map_err(|m| err("component", m))?;
            // One plug-in may stand for several types, but it has one component.
            if let Some((other, first)) = components.get(&entry.plugin)
                && *first != entry.component
            {
                return Err(err(
                    "component",
                    format!("plug-in `{}` already has another component (for `{other}`): {first}", entry.plugin),
                ));
            }
            components.insert(entry.plugin.clone(), (type_name.clone(), entry.component.clone()));
            let stand_in =
                StandIn { plugin: entry.plugin, component: entry.component, configuration: entry.configuration };
            let key = if type_name == ANY_TYPE { ANY_TYPE } else { super::type_name(&type_name) };
            mapping.plugins.insert(key.to_owned(), stand_in);
        }
        for (key, target) in raw.users {
            let at = format!("users.{key}");
            check_user_target(&target).map_err(|m| FileError::new(file, at, m))?;
            match Uuid::parse_str(key.trim()) {
                Ok(id) => mapping.users_by_id.insert(id, target),
                Err(_) => mapping.users_by_name.insert(key.trim().to_lowercase(), target),
            };
        }
        for (key, name) in raw.messages {
            let at = format!("messages.{key}");
            let id = Uuid::parse_str(key.trim())
                .map_err(|_| FileError::new(file, &at, format!("`{key}` is not a GUID (an sdkmessageid)")))?;
            if name.trim().is_empty() {
                return Err(FileError::new(file, at, "expected a message name, found an empty name"));
            }
            mapping.messages.insert(id, name.trim().to_owned());
        }
        Ok(mapping)
    }

    /// The stand-in for a .NET type, named with or without its assembly: its own, else the `"*"` one.
    pub fn plugin(&self, type_name: &str) -> Option<&StandIn> {
        self.plugins.get(super::type_name(type_name)).or_else(|| self.plugins.get(ANY_TYPE))
    }

    /// Maps one more user (by id, domain name or full name) to an alias.
    pub fn add_user(&mut self, key: &str, alias: &str) {
        match Uuid::parse_str(key.trim()) {
            Ok(id) => self.users_by_id.insert(id, alias.to_owned()),
            Err(_) => self.users_by_name.insert(key.trim().to_lowercase(), alias.to_owned()),
        };
    }

    /// The alias (or GUID) a user maps to: by id, then domain name, then full name.
    pub fn user(&self, user: &UserRef) -> Option<&str> {
        let by_name = |name: &Option<String>| {
            name.as_deref().and_then(|n| self.users_by_name.get(&n.trim().to_lowercase())).map(String::as_str)
        };
        user.id
            .and_then(|id| self.users_by_id.get(&id).map(String::as_str))
            .or_else(|| by_name(&user.domainname))
            .or_else(|| by_name(&user.fullname))
    }

    pub fn message(&self, id: Uuid) -> Option<&str> {
        self.messages.get(&id).map(String::as_str)
    }

    /// Rewrites relative component paths, which the mapping file gives relative to its own folder, relative
    /// to the folder of the registration file instead (both folders absolute). Absolute paths stay as they are.
    pub fn relative_to(mut self, mapping_dir: &Path, out_dir: &Path) -> Mapping {
        for StandIn { component, .. } in self.plugins.values_mut() {
            let path = match component {
                Json::String(p) => p,
                Json::Object(o) => match o.get_mut("crate") {
                    Some(Json::String(p)) => p,
                    _ => continue,
                },
                _ => continue,
            };
            if Path::new(path.as_str()).is_relative() {
                let target = mapping_dir.join(path.as_str());
                *path = relative_path(&target, out_dir).unwrap_or_else(|| target.display().to_string());
            }
        }
        self
    }
}

fn check_component(component: &Json) -> Result<(), String> {
    let ok = match component {
        Json::String(path) => !path.trim().is_empty(),
        Json::Object(o) => o.len() == 1 && o.get("crate").and_then(Json::as_str).is_some_and(|d| !d.trim().is_empty()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected the path of a built component (\"x.wasm\") or a crate to build ({{\"crate\": \"folder\"}}), found {component}"
        ))
    }
}

/// What the loader accepts for `impersonatinguserid`: an `@alias` or a GUID.
fn check_user_target(target: &str) -> Result<(), String> {
    let alias_ok = |a: &str| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match target.strip_prefix('@') {
        Some(alias) if alias_ok(alias) => Ok(()),
        None if Uuid::parse_str(target).is_ok() => Ok(()),
        _ => Err(format!("expected an organization alias such as \"@svc\" or a systemuserid, found `{target}`")),
    }
}

/// `target` seen from the folder `base`, with `/` separators, both taken lexically; None when they share no
/// root (two Windows drives).
pub(super) fn relative_path(target: &Path, base: &Path) -> Option<String> {
    let (target, base) = (normalize(target), normalize(base));
    let common = target.components().zip(base.components()).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let up = base.components().skip(common).map(|_| "..".to_owned());
    let down = target.components().skip(common).map(|c| c.as_os_str().to_string_lossy().into_owned());
    let parts: Vec<String> = up.chain(down).collect();
    Some(if parts.is_empty() { ".".to_owned() } else { parts.join("/") })
}

/// Drops `.` and folds `..` into its parent, without asking the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        let rel = |t: &str, b: &str| relative_path(Path::new(t), Path::new(b));
        assert_eq!(rel("/work/main/plugins/probe", "/tmp/out").as_deref(), Some("../../work/main/plugins/probe"));
        assert_eq!(rel("/work/a/../b/./c", "/work/b").as_deref(), Some("c"));
        assert_eq!(rel("/work/b", "/work/b").as_deref(), Some("."));
    }

    #[test]
    fn relative_components_follow_the_output_file() {
        let text = r#"{ "plugins": {
            "A": { "plugin": "probe", "component": { "crate": "../plugins/probe" } },
            "B": { "plugin": "other", "component": "/abs/other.wasm" } } }"#;
        let mapping = Mapping::parse(Path::new("m.json"), text).unwrap();
        let mapping = mapping.relative_to(Path::new("/repo/mappings"), Path::new("/repo/suites/x"));
        assert_eq!(
            mapping.plugin("A").map(|s| s.component.clone()),
            Some(serde_json::json!({"crate": "../../plugins/probe"}))
        );
        assert_eq!(mapping.plugin("B").map(|s| s.component.clone()), Some(serde_json::json!("/abs/other.wasm")));
    }

    #[test]
    fn users_match_by_id_then_domain_name_then_full_name_ignoring_case() {
        let text = r#"{ "users": { "{8D3F2C1A-0000-4000-8000-000000000001}": "@svc",
                                    "CONTOSO\\crm-admin": "@admin", "Integration Service": "@svc2" } }"#;
        let mapping = Mapping::parse(Path::new("m.json"), text).unwrap();
        let id = Uuid::parse_str("8d3f2c1a-0000-4000-8000-000000000001").ok();
        assert_eq!(mapping.user(&UserRef { id, ..UserRef::default() }), Some("@svc"));
        let by_domain = UserRef { domainname: Some("contoso\\CRM-admin".into()), ..UserRef::default() };
        assert_eq!(mapping.user(&by_domain), Some("@admin"));
        let by_name = UserRef { fullname: Some("integration service".into()), ..UserRef::default() };
        assert_eq!(mapping.user(&by_name), Some("@svc2"));
        assert_eq!(mapping.user(&UserRef { fullname: Some("Nobody".into()), ..UserRef::default() }), None);
    }

    #[test]
    fn bad_entries_are_refused_with_their_path() {
        let refused = |text: &str| Mapping::parse(Path::new("m.json"), text).unwrap_err();
        let e = refused(r#"{ "users": { "x": "svc" } }"#);
        assert_eq!(e.path, "users.x");
        let e = refused(r#"{ "messages": { "Create": "Create" } }"#);
        assert_eq!(e.path, "messages.Create");
        let e = refused(r#"{ "plugins": { "T": { "plugin": "p", "component": 3 } } }"#);
        assert_eq!(e.path, "plugins.T.component");
        let e = refused(
            r#"{ "plugins": { "T": { "plugin": "p", "component": "a.wasm" }, "U": { "plugin": "p", "component": "b.wasm" } } }"#,
        );
        assert_eq!(e.path, "plugins.U.component");
        let e = refused(r#"{ "plugin": {} }"#);
        assert!(e.message.contains("unknown field"), "{e}");
    }
}
