//! A solution's `customizations.xml`: `<ImportExportXml>` … `<SdkMessageProcessingSteps>` with one
//! `<SdkMessageProcessingStep Name="…" SdkMessageProcessingStepId="{…}">` per step (the element names are the
//! solution schema's, CustomizationsSolution.xsd). A single step file as `pac solution unpack` writes it (a
//! `<SdkMessageProcessingStep>` root) reads the same way.
//!
//! The file holds the whole solution (tables, forms, …): only the steps are kept as elements, the rest is
//! read past. Messages are named only by `SdkMessageId`, the run-as user only by its full name
//! (`ImpersonatingUserIdName`).

use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use xrm_model::Uuid;

use super::{ExportedImage, ExportedStep, MessageRef, UserRef, type_name};
use crate::input::FileError;

const ROOT: &str = "ImportExportXml";
/// How deep elements may nest. Real solution files nest a few dozen levels (forms and ribbons the deepest); a
/// deeper file is refused rather than read into a tree that deep.
pub const MAX_DEPTH: usize = 256;
const STEPS: &str = "SdkMessageProcessingSteps";
const STEP: &str = "SdkMessageProcessingStep";

/// Reads every step of the file, in document order.
pub fn read(file: &Path, text: &str) -> Result<Vec<ExportedStep>, FileError> {
    read_steps(file, text)?.iter().map(|node| step(file, node)).collect()
}

/// An element of a step: name, line, attributes, children and own text.
struct Node {
    name: String,
    line: usize,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

/// Dropping a tree frees its nodes one by one from a list, never by recursion (the default drop of nested
/// vectors would recurse once per level).
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.children);
        while let Some(mut node) = pending.pop() {
            pending.append(&mut node.children);
        }
    }
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Streams the document, keeping the `<SdkMessageProcessingStep>` elements as trees.
fn read_steps(file: &Path, text: &str) -> Result<Vec<Node>, FileError> {
    let mut reader = Reader::from_str(text);
    let mut lines = Lines::new(text);
    // Elements open outside any step, by name; then the elements open inside the step being read.
    let mut outside: Vec<String> = Vec::new();
    let mut inside: Vec<Node> = Vec::new();
    let mut steps = Vec::new();
    let mut seen_root = false;
    loop {
        let line = lines.at(reader.buffer_position());
        let event = reader.read_event().map_err(|e| {
            let line = lines.at(reader.error_position());
            FileError::new(file, format!("line {line}"), format!("not well-formed XML: {e}"))
        })?;
        match event {
            Event::Start(e) => {
                check_root(file, &e, line, &mut seen_root)?;
                open(file, &e, line, &mut outside, &mut inside)?;
            }
            Event::Empty(e) => {
                check_root(file, &e, line, &mut seen_root)?;
                open(file, &e, line, &mut outside, &mut inside)?;
                close(&mut outside, &mut inside, &mut steps);
            }
            Event::End(_) => close(&mut outside, &mut inside, &mut steps),
            Event::Text(t) => add_text(&mut inside, &t.xml10_content()),
            Event::CData(t) => add_text(&mut inside, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    _ => quick_xml::escape::resolve_predefined_entity(&r.xml10_content()).map(str::to_owned),
                };
                let text = resolved.ok_or_else(|| {
                    FileError::new(file, format!("line {line}"), "an unknown entity reference (`&name;`)")
                })?;
                add_text(&mut inside, &text);
            }
            Event::DocType(_) => {
                return Err(FileError::new(
                    file,
                    format!("line {line}"),
                    "a DOCTYPE is not allowed in customizations.xml",
                ));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !seen_root {
        return Err(FileError::new(file, "", "the file has no XML element"));
    }
    // A cut-off file ends inside an element: its steps would otherwise go missing without a word.
    if let Some(open) = inside.first().map(|n| (n.name.as_str(), n.line)) {
        return Err(FileError::new(file, format!("line {}", open.1), format!("<{}> is never closed", open.0)));
    }
    if let Some(open) = outside.last() {
        return Err(FileError::new(file, "", format!("the file ends before <{open}> is closed")));
    }
    Ok(steps)
}

/// The first element must be a solution's root (or a single step, as unpacked).
fn check_root(file: &Path, e: &BytesStart, line: usize, seen_root: &mut bool) -> Result<(), FileError> {
    if std::mem::replace(seen_root, true) {
        return Ok(());
    }
    let name = local_name(e);
    if name == ROOT || name == STEP {
        return Ok(());
    }
    Err(FileError::new(
        file,
        format!("line {line}"),
        format!("the root element is <{name}>: expected a solution's customizations.xml (<{ROOT}>)"),
    ))
}

fn local_name(e: &BytesStart) -> String {
    e.local_name().into_inner().to_owned()
}

/// Opens an element: inside a step (or a step itself, under `<SdkMessageProcessingSteps>` or as the root) it
/// becomes a node; anywhere else only its name is kept.
fn open(
    file: &Path,
    e: &BytesStart,
    line: usize,
    outside: &mut Vec<String>,
    inside: &mut Vec<Node>,
) -> Result<(), FileError> {
    let name = local_name(e);
    if outside.len() + inside.len() >= MAX_DEPTH {
        return Err(FileError::new(
            file,
            format!("line {line}"),
            format!("<{name}> nests deeper than {MAX_DEPTH} elements: a solution file nests a few dozen at most"),
        ));
    }
    let starts_step = name == STEP && (outside.is_empty() || outside.last().is_some_and(|p| p == STEPS));
    if inside.is_empty() && !starts_step {
        outside.push(name);
        return Ok(());
    }
    let mut attributes = Vec::new();
    for attribute in e.attributes() {
        let bad =
            |why: String| FileError::new(file, format!("line {line}"), format!("a bad attribute in <{name}>: {why}"));
        let attribute = attribute.map_err(|err| bad(err.to_string()))?;
        let value =
            attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|err| bad(err.to_string()))?;
        let key = attribute.key.local_name().into_inner().to_owned();
        attributes.push((key, value.into_owned()));
    }
    inside.push(Node { name, line, attributes, children: Vec::new(), text: String::new() });
    Ok(())
}

/// Closes the innermost open element; a finished step goes to `steps`.
fn close(outside: &mut Vec<String>, inside: &mut Vec<Node>, steps: &mut Vec<Node>) {
    match inside.pop() {
        Some(done) => match inside.last_mut() {
            Some(parent) => parent.children.push(done),
            None => steps.push(done),
        },
        None => {
            outside.pop();
        }
    }
}

fn add_text(inside: &mut [Node], text: &str) {
    if let Some(node) = inside.last_mut() {
        node.text.push_str(text);
    }
}

/// Line numbers of byte offsets, counted forward as the reader moves on.
struct Lines<'a> {
    text: &'a str,
    offset: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines { text, offset: 0, line: 1 }
    }

    fn at(&mut self, position: u64) -> usize {
        let position = usize::try_from(position).unwrap_or(usize::MAX).min(self.text.len());
        if position < self.offset {
            // An error position may lie behind the last event: count from the start.
            return 1 + self.text.as_bytes()[..position].iter().filter(|b| **b == b'\n').count();
        }
        self.line += self.text.as_bytes()[self.offset..position].iter().filter(|b| **b == b'\n').count();
        self.offset = position;
        self.line
    }
}

fn step(file: &Path, node: &Node) -> Result<ExportedStep, FileError> {
    let err = |n: &Node, message: String| FileError::new(file, format!("line {}: <{}>", n.line, n.name), message);
    let id = match node.attribute("SdkMessageProcessingStepId") {
        Some(text) => {
            Some(guid(text).ok_or_else(|| err(node, format!("SdkMessageProcessingStepId `{text}` is not a GUID")))?)
        }
        None => None,
    };
    let text = |name: &str| node.child(name).map(|c| c.text.clone());
    let trimmed = |name: &str| text(name).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let int = |name: &str| -> Result<Option<i32>, FileError> {
        match node.child(name) {
            None => Ok(None),
            Some(c) => c
                .text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| err(c, format!("expected a whole number, found {:?}", c.text))),
        }
    };
    let stage = int("Stage")?.ok_or_else(|| err(node, "the step has no <Stage>".to_owned()))?;
    let message = match node.child("SdkMessageId") {
        None => MessageRef::Missing,
        Some(c) => MessageRef::Id(guid(&c.text).ok_or_else(|| err(c, format!("`{}` is not a GUID", c.text.trim())))?),
    };
    let table = trimmed("PrimaryEntity").or_else(|| trimmed("PrimaryObjectTypeCode")).filter(|t| t != "none");
    Ok(ExportedStep {
        at: format!("line {}", node.line),
        id,
        name: node.attribute("Name").map(str::to_owned),
        plugin_type: trimmed("PluginTypeName").map(|t| type_name(&t).to_owned()).filter(|t| !t.is_empty()),
        message,
        primary_entity: table,
        stage,
        mode: int("Mode")?.unwrap_or(0),
        rank: int("Rank")?.unwrap_or(1),
        filtering_attributes: trimmed("FilteringAttributes"),
        configuration: text("Configuration"),
        // Not in the schema: a solution import decides a step's state. Read when an export carries it.
        statecode: int("StateCode")?.unwrap_or(0),
        async_auto_delete: int("AsyncAutoDelete")?.unwrap_or(0) != 0,
        supported_deployment: int("SupportedDeployment")?.unwrap_or(0),
        impersonating_user: trimmed("ImpersonatingUserIdName")
            .map(|name| UserRef { fullname: Some(name), ..UserRef::default() }),
        images: images(file, node)?,
    })
}

fn images(file: &Path, step: &Node) -> Result<Vec<ExportedImage>, FileError> {
    let Some(list) = step.child("SdkMessageProcessingStepImages") else { return Ok(Vec::new()) };
    let mut images = Vec::new();
    for node in list.children.iter().filter(|c| c.name == "SdkMessageProcessingStepImage") {
        let value = |name: &str| node.child(name).map(|c| c.text.trim().to_owned()).filter(|t| !t.is_empty());
        let image_type = match node.child("ImageType") {
            Some(c) => c.text.trim().parse().map_err(|_| {
                FileError::new(
                    file,
                    format!("line {}: <ImageType>", c.line),
                    format!("expected 0, 1 or 2, found {:?}", c.text),
                )
            })?,
            None => {
                return Err(FileError::new(
                    file,
                    format!("line {}: <{}>", node.line, node.name),
                    "the image has no <ImageType>",
                ));
            }
        };
        images.push(ExportedImage {
            name: node.attribute("Name").map(str::to_owned),
            entity_alias: value("EntityAlias"),
            image_type,
            attributes: value("Attributes"),
        });
    }
    Ok(images)
}

/// A GUID as the solution writes it, with or without braces.
fn guid(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text.trim()).ok()
}
