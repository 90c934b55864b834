//! JSON log lines to events: one pass of serde_json's deserializer over the object, reading only mapped keys.
//!
//! A custom visitor walks the line's object: a key the [`FieldMap`] maps (or a
//! dimension's name) has its value read borrowed from the line (a string with
//! escapes is the one copy); an object under a key that begins a mapped
//! dotted path (`http` of `http.route`) is walked with the key path kept in a
//! buffer the parser reuses; every other value is skipped with `IgnoredAny`.
//! No `serde_json::Value` is built, and a line allocates nothing unless a
//! string it reads holds escapes. See `record.rs` for how the values read
//! become events, and `field_map.rs` for the default keys.
//!
//! [`FieldMap`]: super::FieldMap

use std::borrow::Cow;
use std::fmt;

use faultline_core::event::Event;
use faultline_core::wire::{Decoder, ParseError};
use faultline_core::{Millis, RejectReason};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::field_map::FieldMap;
use super::record::{MappedRecord, Value};
use super::{LatencyUnit, LineContext};

/// Decodes one JSON log line (see the module doc).
#[expect(clippy::too_many_arguments, reason = "the format's settings, the line's context and the decoder's")]
pub(super) fn decode(
    line: &str,
    map: &FieldMap,
    unit: LatencyUnit,
    ctx: &LineContext<'_>,
    path: &mut String,
    dims: &[String],
    decoder: &mut Decoder,
    processing_now: Option<Millis>,
    out: &mut Vec<Event>,
) -> Result<(), ParseError> {
    let mut record = MappedRecord::default();
    path.clear();
    let mut de = serde_json::Deserializer::from_str(line);
    let walk = Walk { map, dims, path, record: &mut record };
    if let Err(e) = walk.deserialize(&mut de).and_then(|()| de.end()) {
        return Err(invalid_json(ctx.record, &e));
    }
    record.emit(map, unit, ctx, dims, decoder, processing_now, out)
}

/// A walk over one JSON object (the line, or a nested object on a mapped path).
struct Walk<'w, 'de> {
    map: &'w FieldMap,
    dims: &'w [String],
    /// The object's key path (empty at the top); restored after each key.
    path: &'w mut String,
    record: &'w mut MappedRecord<'de>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let Walk { map, dims, path, record } = self;
        let base = path.len();
        while let Some(Key(key)) = m.next_key::<Key<'de>>()? {
            let full: &str = if base == 0 {
                &key
            } else {
                path.push('.');
                path.push_str(&key);
                path
            };
            let targets = map.lookup(full);
            let dim = dims.iter().position(|d| d == full).filter(|i| !record.has_dim(*i));
            let descend = map.is_prefix(full) || dims.iter().any(|d| is_path_prefix(full, d));
            if targets.is_empty() && dim.is_none() && !descend {
                m.next_value::<IgnoredAny>()?;
                path.truncate(base);
                continue;
            }
            if descend && base == 0 {
                path.push_str(&key);
            }
            let nested = descend.then_some(Walk { map, dims, path: &mut *path, record: &mut *record });
            let value = m.next_value_seed(Slot { nested })?;
            path.truncate(base);
            match value {
                // An object walked for the paths beneath it is not the key's own value.
                Some(Value::Object) if descend => {}
                Some(v) => record.offer_all(targets, dim, v),
                None => {}
            }
        }
        Ok(())
    }
}

/// Whether `prefix` is a proper dotted prefix of `key` (`http` of `http.route`).
fn is_path_prefix(prefix: &str, key: &str) -> bool {
    key.len() > prefix.len() && key.as_bytes()[prefix.len()] == b'.' && key.starts_with(prefix)
}

/// An object key, borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The value of a key the walk reads: a scalar kept, an object walked when it
/// is on a mapped path (`nested`), else skipped; `None` for null.
struct Slot<'w, 'de> {
    nested: Option<Walk<'w, 'de>>,
}

impl<'de> DeserializeSeed<'de> for Slot<'_, 'de> {
    type Value = Option<Value<'de>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Slot<'_, 'de> {
    type Value = Option<Value<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::Int(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(i64::try_from(v).map_or(Value::Float(v as f64), Value::Int)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Value::Float(v)))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Value::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        match self.nested {
            Some(walk) => walk.visit_map(m)?,
            None => while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {},
        }
        Ok(Some(Value::Object))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some(Value::Array))
    }
}

/// serde_json's error without its position, then the column.
#[cold]
fn invalid_json(record: u64, e: &serde_json::Error) -> ParseError {
    let msg = e.to_string();
    let msg = msg.find(" at line ").map_or(&msg[..], |i| &msg[..i]);
    ParseError {
        line: record,
        field: None,
        reason: RejectReason::InvalidJson,
        detail: format!("{msg} at column {}", e.column().max(1)),
    }
}

#[cfg(test)]
mod tests;
