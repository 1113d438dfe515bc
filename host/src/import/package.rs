//! An unpacked solution: the folder SolutionPackager or `pac solution unpack` writes (`Other/Solution.xml`,
//! `Entities/<table>/Entity.xml`, `Roles/<role>.xml`, `customapis/<name>/customapi.xml`,
//! `PluginAssemblies/**/*.data.xml`, `SdkMessageProcessingSteps/{id}.xml`), the same under `src/` (a `pac`
//! solution project), or an unzipped export (`customizations.xml` holding it all). Every component is read
//! from either place.
//!
//! Folders are walked without following symbolic links, to a bounded depth and number of files; only
//! regular files are read, each up to a size cap.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use xrm_model::Uuid;

use super::ExportedStep;
use super::solution::{self, guid};
use super::xml::{self, Keep, Node};
use crate::input::FileError;

/// The largest file the import reads.
pub(super) const MAX_FILE_BYTES: u64 = 256 << 20;
/// How deep and how wide a solution folder is walked.
const MAX_FOLDER_DEPTH: usize = 12;
const MAX_FILES: usize = 200_000;

/// Containers of a customizations.xml that the import never reads, dropped while parsing.
const UNREAD: &[&str] = &["FormXml", "SavedQueries", "RibbonDiffXml", "Visualizations", "Workflows", "WebResources"];

/// Everything the import reads from one solution.
#[derive(Default)]
pub struct Package {
    pub steps: Vec<ExportedStep>,
    /// Plug-in type ids to their type names (from `*.data.xml` and `<SolutionPluginAssemblies>`).
    pub plugin_types: HashMap<Uuid, String>,
    /// `<Entity>` elements, with the file each came from.
    pub entities: Vec<(PathBuf, Node)>,
    /// `<EntityRelationship>` elements.
    pub relationships: Vec<Node>,
    /// Global choices (`<optionset>` elements by name).
    pub option_sets: HashMap<String, Node>,
    pub roles: Vec<(PathBuf, Node)>,
    pub custom_apis: Vec<CustomApiDef>,
    /// The solution's unique name (`<UniqueName>` of its manifest).
    pub name: Option<String>,
}

/// A custom API and its parameters, as `customapis/<name>/` holds them.
pub struct CustomApiDef {
    pub file: PathBuf,
    pub api: Node,
    pub request: Vec<Node>,
    pub response: Vec<Node>,
}

/// Where the solution's files are: the folder holding `Other/` (or `customizations.xml`).
pub fn root_of(dir: &Path) -> Result<PathBuf, FileError> {
    for candidate in [dir.join("src"), dir.to_owned()] {
        let other = candidate.join("Other");
        if other.join("Solution.xml").is_file() || other.join("Customizations.xml").is_file() {
            return Ok(candidate);
        }
        if candidate.join("customizations.xml").is_file() {
            return Ok(candidate);
        }
    }
    Err(FileError::new(
        dir,
        "",
        "not a solution folder: expected Other/Solution.xml (SolutionPackager or `pac solution unpack`), \
         src/Other/Solution.xml (a `pac` solution project) or customizations.xml (an unzipped export)",
    ))
}

/// Reads a solution folder.
pub fn read_folder(dir: &Path) -> Result<Package, FileError> {
    let root = root_of(dir)?;
    let mut package = Package::default();
    for name in ["Other/Solution.xml", "solution.xml"] {
        let file = root.join(name);
        if file.is_file() {
            let doc = xml::parse(&file, &read_text(&file)?, &Keep::ALL)?;
            package.name = doc
                .kept
                .first()
                .and_then(|r| r.at(&["SolutionManifest", "UniqueName"]))
                .map(|n| n.text.trim().to_owned());
        }
    }
    for name in ["Other/Customizations.xml", "customizations.xml"] {
        let file = root.join(name);
        if file.is_file() {
            package.customizations(&file, &read_text(&file)?)?;
        }
    }
    for file in files_under(&root.join("SdkMessageProcessingSteps"), 1, |n| n.ends_with(".xml"))? {
        package.steps.extend(solution::read(&file, &read_text(&file)?)?);
    }
    for file in files_under(&root.join("PluginAssemblies"), 3, |n| n.ends_with(".data.xml"))? {
        let doc = xml::parse(&file, &read_text(&file)?, &Keep::ALL)?;
        for assembly in &doc.kept {
            package.assembly(assembly);
        }
    }
    for file in files_under(&root.join("Entities"), 2, |n| n.eq_ignore_ascii_case("Entity.xml"))? {
        let doc = xml::parse(&file, &read_text(&file)?, &Keep { start: &|_, _| true, skip: UNREAD })?;
        package.entities.extend(doc.kept.into_iter().map(|n| (file.clone(), n)));
    }
    let relationships = root.join("Other").join("Relationships");
    for file in files_under(&relationships, 1, |n| n.ends_with(".xml"))? {
        let doc = xml::parse(&file, &read_text(&file)?, &Keep::ALL)?;
        for list in doc.kept {
            package.relationships.extend(take_all(list, "EntityRelationship"));
        }
    }
    for file in files_under(&root.join("OptionSets"), 1, |n| n.ends_with(".xml"))? {
        let doc = xml::parse(&file, &read_text(&file)?, &Keep::ALL)?;
        for set in doc.kept {
            package.option_set(set);
        }
    }
    for file in files_under(&root.join("Roles"), 2, |n| n.ends_with(".xml"))? {
        let doc = xml::parse(&file, &read_text(&file)?, &Keep::ALL)?;
        package.roles.extend(doc.kept.into_iter().map(|n| (file.clone(), n)));
    }
    for file in files_under(&root.join("customapis"), 2, |n| n.eq_ignore_ascii_case("customapi.xml"))? {
        package.custom_apis.push(custom_api_folder(&file)?);
    }
    Ok(package)
}

impl Package {
    /// Adds another export's content to this one; a step both hold (by id) is kept once, with the secure
    /// configuration of whichever carries it (only a register file does).
    pub fn merge(&mut self, other: Package) {
        let known: HashMap<Uuid, usize> = self.steps.iter().enumerate().filter_map(|(i, s)| Some((s.id?, i))).collect();
        for step in other.steps {
            match step.id.and_then(|id| known.get(&id)) {
                Some(&i) => {
                    let kept = &mut self.steps[i];
                    kept.secure_configuration = kept.secure_configuration.take().or(step.secure_configuration);
                }
                None => self.steps.push(step),
            }
        }
        self.plugin_types.extend(other.plugin_types);
        self.entities.extend(other.entities);
        self.relationships.extend(other.relationships);
        self.option_sets.extend(other.option_sets);
        self.roles.extend(other.roles);
        self.custom_apis.extend(other.custom_apis);
        self.name = self.name.take().or(other.name);
    }

    /// The parts of a customizations.xml the import reads.
    pub fn customizations(&mut self, file: &Path, text: &str) -> Result<(), FileError> {
        const SECTIONS: &[&str] = &[
            "Entities",
            "Roles",
            "SdkMessageProcessingSteps",
            "SolutionPluginAssemblies",
            "optionsets",
            "EntityRelationships",
            "customapis",
        ];
        let top =
            |open: &[String], name: &str| open.len() == 1 && SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(name));
        let doc = xml::parse(file, text, &Keep { start: &top, skip: UNREAD })?;
        solution::check_root(file, &doc.root, doc.root_line)?;
        for section in doc.kept {
            match section.name.to_ascii_lowercase().as_str() {
                "entities" => self.entities.extend(take_all(section, "Entity").map(|n| (file.to_owned(), n))),
                "roles" => self.roles.extend(take_all(section, "Role").map(|n| (file.to_owned(), n))),
                "sdkmessageprocessingsteps" => {
                    for step in section.all(solution::STEP) {
                        self.steps.push(solution::step(file, step)?);
                    }
                }
                "solutionpluginassemblies" => section.all("PluginAssembly").for_each(|a| self.assembly(a)),
                "optionsets" => take_all(section, "optionset").for_each(|s| self.option_set(s)),
                "entityrelationships" => self.relationships.extend(take_all(section, "EntityRelationship")),
                _ => {
                    for api in take_all(section, "customapi") {
                        self.custom_apis.push(custom_api_inline(file, api));
                    }
                }
            }
        }
        Ok(())
    }

    fn assembly(&mut self, assembly: &Node) {
        let types = assembly.child("PluginTypes").into_iter().flat_map(|t| t.all("PluginType"));
        for t in types {
            let name = t
                .attribute("Name")
                .map(str::to_owned)
                .or_else(|| t.attribute("AssemblyQualifiedName").map(|q| super::type_name(q).to_owned()));
            if let (Some(id), Some(name)) = (t.attribute("PluginTypeId").and_then(guid), name) {
                self.plugin_types.insert(id, name);
            }
        }
    }

    fn option_set(&mut self, set: Node) {
        if let Some(name) = set.attribute("Name") {
            self.option_sets.insert(name.to_ascii_lowercase(), set);
        }
    }
}

/// The children of `node` named `name`, moved out of it.
fn take_all(mut node: Node, name: &str) -> impl Iterator<Item = Node> {
    let children = std::mem::take(&mut node.children);
    let name = name.to_owned();
    children.into_iter().filter(move |c| c.name.eq_ignore_ascii_case(&name))
}

/// `customapis/<name>/customapi.xml` and its parameters' folders beside it.
fn custom_api_folder(file: &Path) -> Result<CustomApiDef, FileError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let read = |folder: &str, leaf: &str| -> Result<Vec<(PathBuf, String)>, FileError> {
        let files = files_under(&dir.join(folder), 2, |n| n.eq_ignore_ascii_case(leaf))?;
        files.into_iter().map(|f| Ok((f.clone(), read_text(&f)?))).collect()
    };
    let request = read("customapirequestparameters", "customapirequestparameter.xml")?;
    let response = read("customapiresponseproperties", "customapiresponseproperty.xml")?;
    custom_api_texts((file.to_owned(), &read_text(file)?), &borrowed(&request), &borrowed(&response))
}

fn borrowed(list: &[(PathBuf, String)]) -> Vec<(PathBuf, &str)> {
    list.iter().map(|(f, t)| (f.clone(), t.as_str())).collect()
}

/// A custom API from the text of its `customapi.xml` and of its parameters' files.
pub(super) fn custom_api_texts(
    api: (PathBuf, &str),
    request: &[(PathBuf, &str)],
    response: &[(PathBuf, &str)],
) -> Result<CustomApiDef, FileError> {
    let parse =
        |file: &Path, text: &str| -> Result<Vec<Node>, FileError> { Ok(xml::parse(file, text, &Keep::ALL)?.kept) };
    let params = |list: &[(PathBuf, &str)]| -> Result<Vec<Node>, FileError> {
        let mut nodes = Vec::new();
        for (file, text) in list {
            nodes.extend(parse(file, text)?);
        }
        Ok(nodes)
    };
    let node = parse(&api.0, api.1)?.into_iter().next().unwrap_or_default();
    Ok(CustomApiDef { file: api.0, api: node, request: params(request)?, response: params(response)? })
}

/// A `<customapi>` of a customizations.xml, its parameters inside it.
fn custom_api_inline(file: &Path, mut api: Node) -> CustomApiDef {
    let mut take = |list: &str, item: &str| -> Vec<Node> {
        match api.children.iter().position(|c| c.name.eq_ignore_ascii_case(list)) {
            Some(i) => take_all(api.children.remove(i), item).collect(),
            None => Vec::new(),
        }
    };
    let request = take("customapirequestparameters", "customapirequestparameter");
    let response = take("customapiresponseproperties", "customapiresponseproperty");
    CustomApiDef { file: file.to_owned(), api, request, response }
}

/// Reads a regular file as text, refusing anything else and files past the size cap.
pub fn read_text(file: &Path) -> Result<String, FileError> {
    let meta = std::fs::metadata(file).map_err(|e| FileError::new(file, "", format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(FileError::new(file, "", "not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(FileError::new(
            file,
            "",
            format!("larger than {} MiB: not a file the import reads", MAX_FILE_BYTES >> 20),
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| FileError::new(file, "", format!("cannot read the file: {e}")))?;
    String::from_utf8(bytes).map_err(|_| FileError::new(file, "", "not UTF-8 text"))
}

/// The regular files below `dir` (to `depth` folders down) whose names pass `wanted`, sorted; symbolic links
/// are not followed. A missing folder has none.
fn files_under(dir: &Path, depth: usize, wanted: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, FileError> {
    let mut found = Vec::new();
    let mut pending = vec![(dir.to_owned(), 0usize)];
    let mut seen = 0usize;
    while let Some((folder, level)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_FILES {
                return Err(FileError::new(dir, "", format!("more than {MAX_FILES} files: not a solution folder")));
            }
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            if kind.is_dir() && level + 1 < depth.min(MAX_FOLDER_DEPTH) {
                pending.push((path, level + 1));
            } else if kind.is_file() && wanted(&entry.file_name().to_string_lossy()) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
