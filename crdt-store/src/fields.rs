//! The typed fields of a twin (plain values, texts, lists, counters), the local edits on
//! them, and how each maps onto a partition's yrs document: plain values in the root map `f`;
//! a counter `k` in the root map `c:k`, one entry per replica (so concurrent additions add
//! up); a list in the root array `l:k`; a text in the root text `t:k`.

use yrs::{
    Any, Array, ArrayRef, GetString, Map, MapRef, Out, ReadTxn, Text, TransactionMut, WriteTxn,
};

/// A plain value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A number.
    Number(f64),
    /// A flag.
    Bool(bool),
}

impl Value {
    pub(crate) fn to_any(&self) -> Any {
        match self {
            Value::Text(t) => Any::String(t.as_str().into()),
            Value::Number(n) => Any::Number(*n),
            Value::Bool(b) => Any::Bool(*b),
        }
    }

    pub(crate) fn from_out(out: Out) -> Option<Self> {
        match out {
            Out::Any(a) => Self::from_any(&a),
            _ => None,
        }
    }

    fn from_any(a: &Any) -> Option<Self> {
        match a {
            Any::String(s) => Some(Value::Text(s.to_string())),
            Any::Number(n) => Some(Value::Number(*n)),
            Any::BigInt(n) => Some(Value::Number(*n as f64)),
            Any::Bool(b) => Some(Value::Bool(*b)),
            _ => None,
        }
    }

    fn size(&self) -> usize {
        match self {
            Value::Text(t) => t.len(),
            Value::Number(_) => 8,
            Value::Bool(_) => 1,
        }
    }
}

/// A field of a twin, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A plain value (last writer wins).
    Value(Value),
    /// A collaborative text (concurrent inserts all kept).
    Text(String),
    /// A list (concurrent pushes all kept).
    List(Vec<Value>),
    /// A counter (concurrent additions all counted).
    Counter(f64),
}

/// The kind of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`Field::Value`].
    Value,
    /// [`Field::Text`].
    Text,
    /// [`Field::List`].
    List,
    /// [`Field::Counter`].
    Counter,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Value => "a value",
            Kind::Text => "a text",
            Kind::List => "a list",
            Kind::Counter => "a counter",
        }
    }
}

/// One local edit.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Sets a plain value.
    Set {
        /// The field.
        key: String,
        /// Its value.
        value: Value,
    },
    /// Removes a plain value.
    Remove {
        /// The field.
        key: String,
    },
    /// Adds to a counter (negative to subtract).
    Add {
        /// The counter.
        key: String,
        /// How much.
        by: f64,
    },
    /// Appends to a list.
    Push {
        /// The list.
        key: String,
        /// The item.
        value: Value,
    },
    /// Removes a list item.
    RemoveItem {
        /// The list.
        key: String,
        /// The item's index.
        index: u32,
    },
    /// Inserts into a text at a character index.
    InsertText {
        /// The text.
        key: String,
        /// Where, in characters.
        index: u32,
        /// What.
        text: String,
    },
    /// Deletes characters from a text.
    DeleteText {
        /// The text.
        key: String,
        /// From, in characters.
        index: u32,
        /// How many characters.
        len: u32,
    },
    /// Makes a text read `text`, by the smallest insert and delete around the common prefix
    /// and suffix (so concurrent edits elsewhere in it survive).
    SetText {
        /// The text.
        key: String,
        /// Its new content.
        text: String,
    },
}

impl Edit {
    /// The field it edits.
    pub fn key(&self) -> &str {
        match self {
            Edit::Set { key, .. }
            | Edit::Remove { key }
            | Edit::Add { key, .. }
            | Edit::Push { key, .. }
            | Edit::RemoveItem { key, .. }
            | Edit::InsertText { key, .. }
            | Edit::DeleteText { key, .. }
            | Edit::SetText { key, .. } => key,
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Edit::Set { .. } | Edit::Remove { .. } => Kind::Value,
            Edit::Add { .. } => Kind::Counter,
            Edit::Push { .. } | Edit::RemoveItem { .. } => Kind::List,
            Edit::InsertText { .. } | Edit::DeleteText { .. } | Edit::SetText { .. } => Kind::Text,
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.key().len()
            + match self {
                Edit::Set { value, .. } | Edit::Push { value, .. } => value.size(),
                Edit::InsertText { text, .. } | Edit::SetText { text, .. } => text.len(),
                _ => 8,
            }
    }
}

/// The root map of plain values.
pub(crate) const FIELDS: &str = "f";

/// The root holding field `key` of `kind`.
pub(crate) fn root_name(kind: Kind, key: &str) -> String {
    match kind {
        Kind::Value => FIELDS.to_string(),
        Kind::Counter => format!("c:{key}"),
        Kind::List => format!("l:{key}"),
        Kind::Text => format!("t:{key}"),
    }
}

/// Reads the root `name` as a field of `kind`, if it has content. An empty root reads as no
/// field: a root comes into being locally when first touched, which replicas do not share,
/// so only content can tell that a field exists.
pub(crate) fn read_root<T: ReadTxn>(txn: &T, name: &str, kind: Kind) -> Option<Field> {
    match kind {
        Kind::Counter => {
            let m = txn.get_map(name)?;
            let parts: Vec<f64> = m
                .iter(txn)
                .filter_map(|(_, v)| match v {
                    Out::Any(Any::Number(n)) => Some(n),
                    _ => None,
                })
                .collect();
            (!parts.is_empty()).then(|| Field::Counter(parts.iter().sum()))
        }
        Kind::List => {
            let items: Vec<Value> = txn
                .get_array(name)?
                .iter(txn)
                .filter_map(Value::from_out)
                .collect();
            (!items.is_empty()).then_some(Field::List(items))
        }
        Kind::Text => {
            let text = txn.get_text(name)?.get_string(txn);
            (!text.is_empty()).then_some(Field::Text(text))
        }
        Kind::Value => None,
    }
}

/// The byte offset of character `index` in `s` (its length past the end).
fn byte_at(s: &str, index: usize) -> u32 {
    s.char_indices().nth(index).map_or(s.len(), |(i, _)| i) as u32
}

/// Applies one checked edit in `txn`.
pub(crate) fn apply_edit(txn: &mut TransactionMut, replica: u32, e: &Edit) {
    match e {
        Edit::Set { key, value } => {
            let f: MapRef = txn.get_or_insert_map(FIELDS);
            f.insert(txn, key.as_str(), value.to_any());
        }
        Edit::Remove { key } => {
            let f: MapRef = txn.get_or_insert_map(FIELDS);
            f.remove(txn, key);
        }
        Edit::Add { key, by } => {
            let c: MapRef = txn.get_or_insert_map(root_name(Kind::Counter, key));
            let me = replica.to_string();
            let n = match c.get(txn, &me) {
                Some(Out::Any(Any::Number(n))) => n,
                _ => 0.0,
            };
            c.insert(txn, me, n + by);
        }
        Edit::Push { key, value } => {
            let a: ArrayRef = txn.get_or_insert_array(root_name(Kind::List, key));
            a.push_back(txn, value.to_any());
        }
        Edit::RemoveItem { key, index } => {
            let a: ArrayRef = txn.get_or_insert_array(root_name(Kind::List, key));
            a.remove(txn, *index);
        }
        Edit::InsertText { key, index, text } => {
            let t = txn.get_or_insert_text(root_name(Kind::Text, key));
            let current = t.get_string(txn);
            t.insert(txn, byte_at(&current, *index as usize), text);
        }
        Edit::DeleteText { key, index, len } => {
            let t = txn.get_or_insert_text(root_name(Kind::Text, key));
            let current = t.get_string(txn);
            let from = byte_at(&current, *index as usize);
            let to = byte_at(&current, *index as usize + *len as usize);
            t.remove_range(txn, from, to - from);
        }
        Edit::SetText { key, text } => {
            let t = txn.get_or_insert_text(root_name(Kind::Text, key));
            let current = t.get_string(txn);
            let old: Vec<char> = current.chars().collect();
            let new: Vec<char> = text.chars().collect();
            let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
            let suffix = old
                .get(prefix..)
                .unwrap_or_default()
                .iter()
                .rev()
                .zip(new.get(prefix..).unwrap_or_default().iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            let from = byte_at(&current, prefix);
            let to = byte_at(&current, old.len() - suffix);
            if to > from {
                t.remove_range(txn, from, to - from);
            }
            let inserted: String = new
                .get(prefix..new.len() - suffix)
                .unwrap_or_default()
                .iter()
                .collect();
            if !inserted.is_empty() {
                t.insert(txn, from, &inserted);
            }
        }
    }
}
