//! Bit-exact serde for the floats of detector checkpoint state: shortest round-trip strings in JSON, raw in binary.
//!
//! JSON parsers may round a float's last bit (serde_json does without its `float_roundtrip`
//! feature), and a restored detector must continue exactly where it stopped, so in a
//! human-readable format state floats travel as strings (`"0.1"`, `"1e-300"`, `"NaN"`) that
//! Rust parses back bit for bit. A binary format (the checkpoint's MessagePack) stores the
//! 64 bits themselves, which are exact already.

use serde::{Deserialize, Deserializer, Serializer};

/// Writes an `f64` as its shortest round-trip string.
pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if !s.is_human_readable() {
        return s.serialize_f64(*v);
    }
    s.collect_str(&format_args!("{v:?}"))
}

/// Reads an `f64` written by [`serialize`].
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    if !d.is_human_readable() {
        return f64::deserialize(d);
    }
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

/// The same for a `Vec<f64>`.
pub(crate) mod vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes every element as its shortest round-trip string.
    pub(crate) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            return s.collect_seq(v);
        }
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&format!("{x:?}"))?;
        }
        seq.end()
    }

    /// Reads a list written by [`serialize`].
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        if !d.is_human_readable() {
            return Vec::<f64>::deserialize(d);
        }
        let texts = Vec::<String>::deserialize(d)?;
        texts.iter().map(|t| t.parse().map_err(serde::de::Error::custom)).collect()
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct S {
        #[serde(with = "super")]
        x: f64,
        #[serde(with = "super::vec")]
        v: Vec<f64>,
    }

    #[test]
    fn round_trips_bit_for_bit() {
        let s = S { x: -172.140_359_969_776_63, v: vec![1e-300, 0.1 + 0.2, f64::INFINITY, 5e-324] };
        let json = serde_json::to_string(&s).expect("serialises");
        let back: S = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, s);
        assert!(json.contains("\"1e-300\""), "{json}");
        let bin = rmp_serde::to_vec_named(&s).expect("serialises");
        let back: S = rmp_serde::from_slice(&bin).expect("deserialises");
        assert_eq!(back, s, "bit for bit in binary too");
        let nan = S { x: f64::NAN, v: vec![-0.0] };
        let back: S = rmp_serde::from_slice(&rmp_serde::to_vec_named(&nan).unwrap()).unwrap();
        assert!(back.x.is_nan() && back.v[0].to_bits() == (-0.0f64).to_bits());
    }
}
