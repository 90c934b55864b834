//! A borrowed walk over the protobuf wire format: fields in order, values as slices, nothing copied.
//!
//! Only what the selective decoders need: a field's number and value,
//! sub-messages as byte slices walked in turn, groups skipped. Malformed input
//! (a truncated varint or slice, field number 0, an unknown wire type, an
//! unmatched group) is an error, as prost would make it.

/// Why bytes are not a protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ends inside a varint.
    #[error("truncated varint")]
    TruncatedVarint,
    /// A varint longer than 10 bytes.
    #[error("varint longer than 10 bytes")]
    LongVarint,
    /// A length-delimited field or fixed value runs past the end of its message.
    #[error("field runs past the end of its message")]
    Truncated,
    /// Field number 0, or a tag beyond the 29-bit field range.
    #[error("invalid field number")]
    InvalidField,
    /// Wire type 6 or 7.
    #[error("invalid wire type {0}")]
    InvalidWireType(u8),
    /// A group without its end, or an end without its start.
    #[error("unmatched group")]
    UnmatchedGroup,
    /// A field the decoder reads has the wrong wire type.
    #[error("field {0} has the wrong wire type")]
    WrongType(u64),
    /// A string field the decoder reads is not UTF-8.
    #[error("field {0} is not UTF-8")]
    NotUtf8(u64),
}

/// One field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: bytes, a string or a sub-message.
    Len(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// The bytes of a length-delimited field.
    pub fn bytes(self, field: u64) -> Result<&'a [u8], WireError> {
        match self {
            Value::Len(b) => Ok(b),
            _ => Err(WireError::WrongType(field)),
        }
    }

    /// A string field.
    pub fn str(self, field: u64) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.bytes(field)?).map_err(|_| WireError::NotUtf8(field))
    }

    /// A varint field.
    pub fn varint(self, field: u64) -> Result<u64, WireError> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(WireError::WrongType(field)),
        }
    }

    /// A fixed64 field.
    pub fn fixed64(self, field: u64) -> Result<u64, WireError> {
        match self {
            Value::Fixed64(v) => Ok(v),
            _ => Err(WireError::WrongType(field)),
        }
    }
}

/// The fields of one message, in wire order.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    /// The fields of the message in `buf`.
    pub fn new(buf: &'a [u8]) -> Fields<'a> {
        Fields { buf, pos: 0 }
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, WireError> {
        // One byte: tags, small lengths and enums, most of the wire.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.varint_long()
    }

    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64, WireError> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else { return Err(WireError::TruncatedVarint) };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(WireError::LongVarint);
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(WireError::LongVarint)
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(WireError::Truncated)?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    #[inline(always)]
    fn tag(&mut self) -> Result<(u64, u8), WireError> {
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > (1 << 29) - 1 {
            return Err(WireError::InvalidField);
        }
        Ok((field, (key & 7) as u8))
    }

    /// Skips a group whose start tag (`field`) was just read, nested groups included.
    fn skip_group(&mut self, field: u64, depth: u32) -> Result<(), WireError> {
        if depth > 100 {
            return Err(WireError::UnmatchedGroup);
        }
        loop {
            if self.pos >= self.buf.len() {
                return Err(WireError::UnmatchedGroup);
            }
            let (f, wt) = self.tag()?;
            match wt {
                4 if f == field => return Ok(()),
                4 => return Err(WireError::UnmatchedGroup),
                3 => self.skip_group(f, depth + 1)?,
                _ => {
                    self.value(wt)?;
                }
            }
        }
    }

    #[inline(always)]
    fn value(&mut self, wt: u8) -> Result<Value<'a>, WireError> {
        Ok(match wt {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| WireError::Truncated)?)),
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                Value::Len(self.take(n)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| WireError::Truncated)?)),
            other => return Err(WireError::InvalidWireType(other)),
        })
    }

    /// The next field, `None` at the end. Groups (deprecated, never in OTLP) are skipped.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<Option<(u64, Value<'a>)>, WireError> {
        loop {
            if self.pos >= self.buf.len() {
                return Ok(None);
            }
            let (field, wt) = self.tag()?;
            match wt {
                3 => self.skip_group(field, 0)?,
                4 => return Err(WireError::UnmatchedGroup),
                _ => return Ok(Some((field, self.value(wt)?))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_fields_and_rejects_what_prost_rejects() {
        // field 1 varint 150, field 2 "hi", field 3 fixed64, field 4 fixed32, a group 5 with a varint inside.
        let mut buf = vec![0x08, 0x96, 0x01, 0x12, 2, b'h', b'i', 0x19];
        buf.extend_from_slice(&7u64.to_le_bytes());
        buf.push(0x25);
        buf.extend_from_slice(&9u32.to_le_bytes());
        buf.extend_from_slice(&[0x2b, 0x08, 0x01, 0x2c]);
        let mut f = Fields::new(&buf);
        assert_eq!(f.next().unwrap(), Some((1, Value::Varint(150))));
        assert_eq!(f.next().unwrap().map(|(n, v)| (n, v.str(n).unwrap())), Some((2, "hi")));
        assert_eq!(f.next().unwrap(), Some((3, Value::Fixed64(7))));
        assert_eq!(f.next().unwrap(), Some((4, Value::Fixed32(9))));
        assert_eq!(f.next().unwrap(), None);

        let err = |b: &[u8]| {
            let mut f = Fields::new(b);
            loop {
                match f.next() {
                    Ok(Some(_)) => {}
                    Ok(None) => return None,
                    Err(e) => return Some(e),
                }
            }
        };
        assert_eq!(err(&[0x08]), Some(WireError::TruncatedVarint));
        assert_eq!(err(&[0x12, 5, b'a']), Some(WireError::Truncated));
        assert_eq!(err(&[0x00]), Some(WireError::InvalidField));
        assert_eq!(err(&[0x0e]), Some(WireError::InvalidWireType(6)));
        assert_eq!(err(&[0x2b, 0x08, 0x01]), Some(WireError::UnmatchedGroup));
        assert_eq!(err(&[0x2c]), Some(WireError::UnmatchedGroup));
        assert_eq!(
            err(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Some(WireError::LongVarint)
        );
        assert_eq!(err(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), None);
        assert_eq!(Fields::new(&[0x12, 1, 0xff]).next().unwrap().unwrap().1.str(2), Err(WireError::NotUtf8(2)));
    }
}
