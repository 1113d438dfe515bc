//! The Web API export: the response of `GET [org]/api/data/v9.2/sdkmessageprocessingsteps?$select=…&$expand=…`
//! saved as it is (`docs/import.md` gives the query). Choice columns (`stage`, `mode`, `statecode`,
//! `supporteddeployment`, `imagetype`) come as integers; lookups come expanded (an object, or null when empty)
//! or as their `_<name>_value` id.
//!
//! A column the query must select but did not is an error for the whole file, not a reason to leave a step
//! out: every step would lack it, and guessing (no impersonation, every table) would import wrong steps.

use std::path::Path;

use serde_json::{Map, Value as Json};
use xrm_model::Uuid;

use super::{ExportedImage, ExportedStep, MessageRef, UserRef, type_name};
use crate::input::{self, FileError};

/// Reads every step of the response, in its order.
pub fn read(file: &Path, text: &str) -> Result<Vec<ExportedStep>, FileError> {
    let json: Json = input::parse_json(file, text)?;
    let root = json
        .as_object()
        .ok_or_else(|| FileError::new(file, "", "expected the object the Web API returns, {\"value\": [ steps ]}"))?;
    if root.contains_key("@odata.nextLink") {
        return Err(FileError::new(
            file,
            "@odata.nextLink",
            "the export is one page of a longer result: narrow the query's $filter, or ask for up to 5000 steps in \
             one response with the header `Prefer: odata.maxpagesize=5000`",
        ));
    }
    let value = root.get("value").ok_or_else(|| {
        FileError::new(
            file,
            "value",
            "missing: expected the response of GET …/sdkmessageprocessingsteps, {\"value\": [ steps ]}",
        )
    })?;
    let steps = value
        .as_array()
        .ok_or_else(|| FileError::new(file, "value", format!("expected a list of steps, found {}", kind(value))))?;
    steps.iter().enumerate().map(|(i, s)| step(&Fields::of(file, format!("value[{i}]"), s)?)).collect()
}

fn step(f: &Fields) -> Result<ExportedStep, FileError> {
    Ok(ExportedStep {
        at: f.at.clone(),
        id: f.guid("sdkmessageprocessingstepid")?,
        name: f.text("name")?,
        plugin_type: plugin_type(f)?,
        plugin_type_id: None,
        message: message(f)?,
        primary_entity: table(f)?,
        stage: f.int("stage")?,
        mode: f.int("mode")?,
        rank: f.int("rank")?,
        filtering_attributes: f.text("filteringattributes")?,
        configuration: f.text("configuration")?,
        secure_configuration: None,
        statecode: f.int("statecode")?,
        async_auto_delete: f.optional_bool("asyncautodelete")?.unwrap_or(false),
        supported_deployment: f.optional_int("supporteddeployment")?.unwrap_or(0),
        impersonating_user: user(f)?,
        images: images(f)?,
    })
}

fn plugin_type(f: &Fields) -> Result<Option<String>, FileError> {
    const EXPAND: &str = "plugintypeid($select=typename)";
    match f.nav(&["plugintypeid", "eventhandler_plugintype"], "_plugintypeid_value", EXPAND)? {
        Nav::Expanded(t) => {
            let name = t.text("typename")?.ok_or_else(|| t.err("typename", "expected the plug-in type's name"))?;
            Ok(Some(type_name(&name).to_owned()))
        }
        // No plug-in type: the step runs a service endpoint or a webhook.
        Nav::Empty => Ok(None),
        Nav::Id(_) => Err(f.unexpanded("plugintypeid", EXPAND)),
    }
}

fn message(f: &Fields) -> Result<MessageRef, FileError> {
    match f.nav(&["sdkmessageid"], "_sdkmessageid_value", "sdkmessageid($select=name)")? {
        Nav::Expanded(m) => match (m.optional_text("name")?, m.optional_guid("sdkmessageid")?) {
            (Some(name), _) => Ok(MessageRef::Name(name)),
            (None, Some(id)) => Ok(MessageRef::Id(id)),
            (None, None) => Ok(MessageRef::Missing),
        },
        Nav::Empty => Ok(MessageRef::Missing),
        Nav::Id(id) => Ok(MessageRef::Id(id)),
    }
}

fn table(f: &Fields) -> Result<Option<String>, FileError> {
    const EXPAND: &str = "sdkmessagefilterid($select=primaryobjecttypecode)";
    match f.nav(&["sdkmessagefilterid"], "_sdkmessagefilterid_value", EXPAND)? {
        // "none" is how the platform writes "no table" on a filter.
        Nav::Expanded(t) => Ok(t.optional_text("primaryobjecttypecode")?.filter(|t| !t.is_empty() && t != "none")),
        Nav::Empty => Ok(None),
        Nav::Id(_) => Err(f.unexpanded("sdkmessagefilterid", EXPAND)),
    }
}

fn user(f: &Fields) -> Result<Option<UserRef>, FileError> {
    let expand = "impersonatinguserid($select=systemuserid,fullname,domainname)";
    Ok(match f.nav(&["impersonatinguserid"], "_impersonatinguserid_value", expand)? {
        Nav::Expanded(u) => Some(UserRef {
            id: u.optional_guid("systemuserid")?,
            domainname: u.optional_text("domainname")?,
            fullname: u.optional_text("fullname")?,
        }),
        Nav::Empty => None,
        Nav::Id(id) => Some(UserRef { id: Some(id), ..UserRef::default() }),
    })
}

/// The images, under the relationship's navigation property (or `sdkmessageprocessingstepimages`).
fn images(f: &Fields) -> Result<Vec<ExportedImage>, FileError> {
    const KEYS: [&str; 2] =
        ["sdkmessageprocessingstepid_sdkmessageprocessingstepimage", "sdkmessageprocessingstepimages"];
    let Some((key, list)) = KEYS.iter().find_map(|k| f.obj.get(*k).map(|v| (*k, v))) else {
        return Err(f.err(
            KEYS[0],
            format!("missing: the query must $expand={}($select=name,entityalias,imagetype,attributes)", KEYS[0]),
        ));
    };
    let items =
        list.as_array().ok_or_else(|| f.err(key, format!("expected a list of images, found {}", kind(list))))?;
    let mut images = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let img = Fields::of(f.file, format!("{}.{key}[{i}]", f.at), item)?;
        images.push(ExportedImage {
            name: img.optional_text("name")?,
            entity_alias: img.optional_text("entityalias")?,
            image_type: img.int("imagetype")?,
            attributes: img.optional_text("attributes")?,
        });
    }
    Ok(images)
}

/// A navigation property: expanded, empty, or only the lookup's id.
enum Nav<'a> {
    Expanded(Fields<'a>),
    Empty,
    Id(Uuid),
}

/// The columns of one object of the export, with its JSON path for errors.
struct Fields<'a> {
    file: &'a Path,
    at: String,
    obj: &'a Map<String, Json>,
}

impl<'a> Fields<'a> {
    fn of(file: &'a Path, at: String, json: &'a Json) -> Result<Self, FileError> {
        match json.as_object() {
            Some(obj) => Ok(Fields { file, at, obj }),
            None => Err(FileError::new(file, &at, format!("expected an object, found {}", kind(json)))),
        }
    }

    fn err(&self, key: &str, message: impl Into<String>) -> FileError {
        FileError::new(self.file, format!("{}.{key}", self.at), message)
    }

    fn unexpanded(&self, key: &str, expand: &str) -> FileError {
        self.err(key, format!("only the lookup's id is in the export: the query must $expand={expand}"))
    }

    /// A column the query must select: absent is an error that names the fix.
    fn column(&self, key: &str) -> Result<&'a Json, FileError> {
        self.obj.get(key).ok_or_else(|| self.err(key, "missing: the query must select this column (docs/import.md)"))
    }

    fn int(&self, key: &str) -> Result<i32, FileError> {
        let v = self.column(key)?;
        as_int(v).ok_or_else(|| self.err(key, format!("expected a whole number, found {}", kind(v))))
    }

    fn optional_int(&self, key: &str) -> Result<Option<i32>, FileError> {
        match self.obj.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(_) => self.int(key).map(Some),
        }
    }

    fn optional_bool(&self, key: &str) -> Result<Option<bool>, FileError> {
        match self.obj.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(key, format!("expected true or false, found {}", kind(v)))),
        }
    }

    /// A text column the query must select; null when empty.
    fn text(&self, key: &str) -> Result<Option<String>, FileError> {
        self.column(key)?;
        self.optional_text(key)
    }

    fn optional_text(&self, key: &str) -> Result<Option<String>, FileError> {
        match self.obj.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(key, format!("expected text, found {}", kind(v)))),
        }
    }

    fn guid(&self, key: &str) -> Result<Option<Uuid>, FileError> {
        self.column(key)?;
        self.optional_guid(key)
    }

    fn optional_guid(&self, key: &str) -> Result<Option<Uuid>, FileError> {
        match self.optional_text(key)? {
            None => Ok(None),
            Some(text) => {
                Uuid::parse_str(&text).map(Some).map_err(|_| self.err(key, format!("`{text}` is not a GUID")))
            }
        }
    }

    /// The first of `names` present (expanded or null), else the `lookup` column, else an error naming the
    /// `$expand` the query needs.
    fn nav(&self, names: &[&str], lookup: &str, expand: &str) -> Result<Nav<'a>, FileError> {
        if let Some((name, v)) = names.iter().find_map(|n| self.obj.get(*n).map(|v| (*n, v))) {
            return match v {
                Json::Null => Ok(Nav::Empty),
                Json::Object(_) => Ok(Nav::Expanded(Fields::of(self.file, format!("{}.{name}", self.at), v)?)),
                other => Err(self.err(name, format!("expected the expanded record, found {}", kind(other)))),
            };
        }
        match self.optional_guid(lookup)? {
            Some(id) => Ok(Nav::Id(id)),
            None if self.obj.contains_key(lookup) => Ok(Nav::Empty),
            None => Err(self.err(names[0], format!("missing: the query must $expand={expand}"))),
        }
    }
}

fn as_int(v: &Json) -> Option<i32> {
    v.as_i64().and_then(|n| i32::try_from(n).ok())
}

fn kind(v: &Json) -> String {
    match v {
        Json::String(s) => format!("the text {s:?}"),
        other => xrm_model::json::kind(other).to_owned(),
    }
}
