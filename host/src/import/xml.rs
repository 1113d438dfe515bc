//! The XML of solution exports, read into small trees: a streaming parser keeps only the elements asked for
//! (a customizations.xml holds forms, views and ribbons the import never reads), nesting is bounded, and trees
//! are dropped without recursion. Errors name the file and the line.

use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::input::FileError;

/// How deep elements may nest. Real solution files nest a few dozen levels (forms and ribbons the deepest); a
/// deeper file is refused rather than read into a tree that deep.
pub const MAX_DEPTH: usize = 256;

/// An element: name (without namespace prefix), line, attributes, children and own text.
#[derive(Debug, Default)]
pub struct Node {
    pub name: String,
    pub line: usize,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Node>,
    pub text: String,
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
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The children named `name`, in document order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name.eq_ignore_ascii_case(name))
    }

    /// The element at the end of a path of child names.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, name| node.child(name))
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A child's text, trimmed; None when the child is absent or empty.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim()).filter(|t| !t.is_empty())
    }

    /// The first `description` of a `<labels>`-style list (`<label description="…" languagecode="1033"/>`),
    /// preferring English (1033).
    pub fn label(&self) -> Option<&str> {
        let described = || self.children.iter().filter(|c| c.attribute("description").is_some());
        let english = described().find(|c| c.attribute("languagecode") == Some("1033"));
        english.or_else(|| described().next()).and_then(|c| c.attribute("description"))
    }
}

/// A parsed document: its root element's name and line, and the subtrees that were kept.
pub struct Document {
    pub root: String,
    pub root_line: usize,
    pub kept: Vec<Node>,
}

/// Which elements to keep: given the names of the elements open around it (outermost first) and its own name,
/// whether an element becomes a kept subtree. Elements inside a kept subtree are kept unless `skip` says so.
pub struct Keep<'a> {
    pub start: &'a dyn Fn(&[String], &str) -> bool,
    /// Names of elements dropped (with everything inside them) wherever they are.
    pub skip: &'a [&'a str],
}

impl Keep<'_> {
    /// Keeps the whole document.
    pub const ALL: Keep<'static> = Keep { start: &|_, _| true, skip: &[] };
}

/// Streams `text` (from `file`), keeping what `keep` asks for.
pub fn parse(file: &Path, text: &str, keep: &Keep) -> Result<Document, FileError> {
    let mut reader = Reader::from_str(text.trim_start_matches('\u{feff}'));
    let mut lines = Lines::new(text.trim_start_matches('\u{feff}'));
    let mut state = State::default();
    loop {
        let line = lines.at(reader.buffer_position());
        let event = reader.read_event().map_err(|e| {
            let line = lines.at(reader.error_position());
            FileError::new(file, format!("line {line}"), format!("not well-formed XML: {e}"))
        })?;
        match event {
            Event::Start(e) => state.open(file, &e, line, keep)?,
            Event::Empty(e) => {
                state.open(file, &e, line, keep)?;
                state.close();
            }
            Event::End(_) => state.close(),
            Event::Text(t) => state.add_text(&t.xml10_content()),
            Event::CData(t) => state.add_text(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    _ => quick_xml::escape::resolve_predefined_entity(&r.xml10_content()).map(str::to_owned),
                };
                let text = resolved.ok_or_else(|| {
                    FileError::new(file, format!("line {line}"), "an unknown entity reference (`&name;`)")
                })?;
                state.add_text(&text);
            }
            Event::DocType(_) => {
                return Err(FileError::new(
                    file,
                    format!("line {line}"),
                    "a DOCTYPE is not allowed in a solution file",
                ));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    state.finish(file)
}

/// The parser's position: elements open outside any kept subtree (by name), and the nodes open inside one.
#[derive(Default)]
struct State {
    outside: Vec<String>,
    inside: Vec<Node>,
    /// How many elements are open inside a skipped element (nothing in them is kept).
    skipping: usize,
    kept: Vec<Node>,
    root: Option<(String, usize)>,
}

impl State {
    fn depth(&self) -> usize {
        self.outside.len() + self.inside.len() + self.skipping
    }

    fn open(&mut self, file: &Path, e: &BytesStart, line: usize, keep: &Keep) -> Result<(), FileError> {
        let name = e.local_name().into_inner().to_owned();
        if self.depth() >= MAX_DEPTH {
            return Err(FileError::new(
                file,
                format!("line {line}"),
                format!("<{name}> nests deeper than {MAX_DEPTH} elements: a solution file nests a few dozen at most"),
            ));
        }
        self.root.get_or_insert_with(|| (name.clone(), line));
        if self.skipping > 0 || keep.skip.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            self.skipping += 1;
            return Ok(());
        }
        if self.inside.is_empty() && !(keep.start)(&self.outside, &name) {
            self.outside.push(name);
            return Ok(());
        }
        let mut attributes = Vec::new();
        for attribute in e.attributes() {
            let bad = |why: String| {
                FileError::new(file, format!("line {line}"), format!("a bad attribute in <{name}>: {why}"))
            };
            let attribute = attribute.map_err(|err| bad(err.to_string()))?;
            let value =
                attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|err| bad(err.to_string()))?;
            let key = attribute.key.local_name().into_inner().to_owned();
            attributes.push((key, value.into_owned()));
        }
        self.inside.push(Node { name, line, attributes, children: Vec::new(), text: String::new() });
        Ok(())
    }

    fn close(&mut self) {
        if self.skipping > 0 {
            self.skipping -= 1;
            return;
        }
        match self.inside.pop() {
            Some(done) => match self.inside.last_mut() {
                Some(parent) => parent.children.push(done),
                None => self.kept.push(done),
            },
            None => {
                self.outside.pop();
            }
        }
    }

    fn add_text(&mut self, text: &str) {
        if self.skipping == 0
            && let Some(node) = self.inside.last_mut()
        {
            node.text.push_str(text);
        }
    }

    fn finish(mut self, file: &Path) -> Result<Document, FileError> {
        let Some((root, root_line)) = self.root.take() else {
            return Err(FileError::new(file, "", "the file has no XML element"));
        };
        // A cut-off file ends inside an element: what it held would otherwise go missing without a word.
        if let Some(open) = self.inside.first() {
            return Err(FileError::new(
                file,
                format!("line {}", open.line),
                format!("<{}> is never closed", open.name),
            ));
        }
        if let Some(open) = self.outside.last() {
            return Err(FileError::new(file, "", format!("the file ends before <{open}> is closed")));
        }
        if self.skipping > 0 {
            return Err(FileError::new(file, "", "the file ends inside an element"));
        }
        Ok(Document { root, root_line, kept: std::mem::take(&mut self.kept) })
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
