//! Finds the line of a key path (`windows.size`, `sinks.file.path`) in config text, from toml_edit spans.

use toml_edit::{ImDocument, Item, Table, Value};

/// Line numbers of key paths in one config text.
#[derive(Debug)]
pub(crate) struct Locator<'a> {
    text: &'a str,
    doc: Option<ImDocument<&'a str>>,
}

impl<'a> Locator<'a> {
    /// Parses `text` once; a text that does not parse locates nothing.
    pub(crate) fn new(text: &'a str) -> Locator<'a> {
        Locator { text, doc: ImDocument::parse(text).ok() }
    }

    /// The 1-based line of the deepest key of `path` (dot-separated) present
    /// in the text; `None` when even its first key is absent.
    pub(crate) fn line(&self, path: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Item(doc.as_item());
        let mut best = None;
        for seg in path.split('.') {
            let (span, next) = match node.child(seg) {
                Some(found) => found,
                None => break,
            };
            if let Some(s) = span {
                best = Some(s);
            }
            node = next;
        }
        best.map(|offset| self.line_at(offset))
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
    }
}

#[derive(Clone, Copy)]
enum Node<'d> {
    Item(&'d Item),
    Table(&'d Table),
    Value(&'d Value),
}

impl<'d> Node<'d> {
    /// The child named `seg` (a key, or an index into an array) and the
    /// start offset of its key (or of the element).
    fn child(self, seg: &str) -> Option<(Option<usize>, Node<'d>)> {
        match self {
            Node::Item(Item::Table(t)) | Node::Table(t) => {
                t.get_key_value(seg).map(|(k, v)| (k.span().map(|s| s.start), Node::Item(v)))
            }
            Node::Item(Item::ArrayOfTables(a)) => {
                let t = a.get(seg.parse().ok()?)?;
                Some((t.span().map(|s| s.start), Node::Table(t)))
            }
            Node::Item(Item::Value(v)) => Node::Value(v).child(seg),
            Node::Value(Value::InlineTable(t)) => {
                t.get_key_value(seg).map(|(k, v)| (k.span().map(|s| s.start), Node::Item(v)))
            }
            Node::Value(Value::Array(a)) => {
                let v = a.get(seg.parse().ok()?)?;
                Some((v.span().map(|s| s.start), Node::Value(v)))
            }
            _ => None,
        }
    }
}
