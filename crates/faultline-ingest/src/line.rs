//! Reading one line with a length bound, so a file without newlines cannot fill memory.

use std::io::{BufRead, Read as _};

/// Longest line a source takes, bytes (a JSON event line is a few hundred).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One line as read by [`read_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineRead {
    /// Bytes consumed from the reader (0 at the end of the data for now).
    pub(crate) consumed: usize,
    /// The line ended in `\n` (otherwise the data ended first).
    pub(crate) complete: bool,
    /// Longer than the bound: `buf` holds only its start, the rest was consumed and dropped.
    pub(crate) too_long: bool,
}

/// Appends the next line (with its `\n`) to `buf`, keeping at most `max + 1`
/// bytes of it: past that, the rest of the line is read and dropped, up to
/// and including its `\n`, so memory stays bounded whatever the input.
pub(crate) fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<LineRead> {
    let start = buf.len();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut consumed = reader.by_ref().take(limit).read_until(b'\n', buf)?;
    let mut complete = buf.last() == Some(&b'\n') && buf.len() > start;
    let too_long = !complete && buf.len() - start > max;
    if too_long {
        // Drop the rest of the line in bounded pieces.
        let mut scratch = Vec::with_capacity(64 * 1024);
        loop {
            scratch.clear();
            let n = reader.by_ref().take(64 * 1024).read_until(b'\n', &mut scratch)?;
            consumed += n;
            if n == 0 {
                break;
            }
            if scratch.last() == Some(&b'\n') {
                complete = true;
                break;
            }
        }
    }
    Ok(LineRead { consumed, complete, too_long })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_within_the_bound_read_whole_and_longer_ones_are_dropped_to_their_end() {
        let text = format!("short\n{}\nnext\ntail", "x".repeat(100));
        let mut r = std::io::BufReader::with_capacity(16, text.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf, 10).unwrap(), LineRead { consumed: 6, complete: true, too_long: false });
        assert_eq!(buf, b"short\n");
        buf.clear();
        let long = read_line(&mut r, &mut buf, 10).unwrap();
        assert_eq!(long, LineRead { consumed: 101, complete: true, too_long: true });
        assert_eq!(buf.len(), 11, "only the start is kept");
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf, 10).unwrap().consumed, 5);
        assert_eq!(buf, b"next\n");
        buf.clear();
        assert_eq!(
            read_line(&mut r, &mut buf, 10).unwrap(),
            LineRead { consumed: 4, complete: false, too_long: false }
        );
        buf.clear();
        assert_eq!(
            read_line(&mut r, &mut buf, 10).unwrap(),
            LineRead { consumed: 0, complete: false, too_long: false }
        );
        // Exactly at the bound is within it.
        let mut r = "0123456789\n".as_bytes();
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, &mut buf, 10).unwrap(),
            LineRead { consumed: 11, complete: true, too_long: false }
        );
    }
}
