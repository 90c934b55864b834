//! Serde for the off-by-default parts of the baseline state, held as `Option<Box<T>>`: absent is written as, and read from, the part's default.
//!
//! A part (contextual novelty, recurrence memory, range) is allocated on its first use,
//! which changes it from its default, so `None` and a default part are one state: the
//! checkpoint keeps the form it had when every part was inline, and a restored state
//! equals the one checkpointed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Writes `None` as `T::default()`.
pub(super) fn serialize<T, S>(part: &Option<Box<T>>, s: S) -> Result<S::Ok, S::Error>
where
    T: Serialize + Default,
    S: Serializer,
{
    match part {
        Some(part) => part.serialize(s),
        None => T::default().serialize(s),
    }
}

/// Reads `T::default()` as `None`.
pub(super) fn deserialize<'de, T, D>(d: D) -> Result<Option<Box<T>>, D::Error>
where
    T: Deserialize<'de> + Default + PartialEq,
    D: Deserializer<'de>,
{
    let part = T::deserialize(d)?;
    Ok((part != T::default()).then(|| Box::new(part)))
}
