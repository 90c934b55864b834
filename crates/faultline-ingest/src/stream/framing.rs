//! Splitting a byte stream into messages: newline-terminated, or RFC 6587 octet counting.
//!
//! RFC 6587 frames syslog over TCP two ways: octet counting (`MSG-LEN SP
//! MSG`, the length in ASCII digits without a leading zero) and
//! non-transparent framing (the message ends at LF). [`Framing::Auto`]
//! decides per message, as rsyslog does: a message that starts with a digit
//! 1–9 followed by more digits and a space is octet-counted. No event JSON,
//! access log (its address has a dot after the first digits) or syslog
//! message (`<PRI>`) starts that way.

/// How a stream is cut into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Per message: octet counting when it starts with a length and a space, else to the next LF.
    #[default]
    Auto,
    /// Every message ends at LF (a CR before it is dropped).
    Newline,
    /// Every message is `MSG-LEN SP MSG` (RFC 6587 §3.4.1).
    OctetCounting,
}

impl Framing {
    /// The names `framing` accepts.
    pub const NAMES: &'static [&'static str] = &["auto", "newline", "octet_counting"];

    /// The framing named `name`.
    pub fn parse(name: &str) -> Option<Framing> {
        match name {
            "auto" => Some(Framing::Auto),
            "newline" => Some(Framing::Newline),
            "octet_counting" => Some(Framing::OctetCounting),
            _ => None,
        }
    }
}

/// What [`Framer::next`] found at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A whole message in `buf[start..end]`; `consumed` bytes are done with.
    Message { start: usize, end: usize, consumed: usize },
    /// A message longer than the bound: `consumed` bytes of it are dropped
    /// (the rest, if any, is dropped as it arrives). Counted once per message.
    TooLong { consumed: usize },
    /// Bytes dropped while skipping the rest of a too-long message.
    Skipped { consumed: usize },
    /// An octet count that is no count (`MSG-LEN` too long, or no space after
    /// it) under [`Framing::OctetCounting`]: the stream cannot be resynchronised.
    BadLength,
    /// Not enough bytes for the next message yet.
    NeedMore,
}

/// Cuts a stream into messages of at most `max` bytes, across reads.
#[derive(Debug)]
pub(crate) struct Framer {
    framing: Framing,
    max: usize,
    /// Bytes of a too-long octet-counted message still to drop.
    skip_bytes: usize,
    /// Dropping a too-long newline-framed message up to its LF.
    skip_line: bool,
}

/// Longest `MSG-LEN` accepted, digits (up to 999,999,999 bytes).
const MAX_LEN_DIGITS: usize = 9;

impl Framer {
    pub(crate) fn new(framing: Framing, max: usize) -> Framer {
        Framer { framing, max: max.max(1), skip_bytes: 0, skip_line: false }
    }

    /// The next frame at the start of `buf`. At the end of the stream
    /// (`eof`), a last message without its LF is taken as it is.
    pub(crate) fn next(&mut self, buf: &[u8], eof: bool) -> Frame {
        if self.skip_bytes > 0 {
            let n = self.skip_bytes.min(buf.len());
            if n == 0 {
                return Frame::NeedMore;
            }
            self.skip_bytes -= n;
            return Frame::Skipped { consumed: n };
        }
        if self.skip_line {
            if buf.is_empty() {
                return Frame::NeedMore;
            }
            return match memchr(b'\n', buf) {
                Some(i) => {
                    self.skip_line = false;
                    Frame::Skipped { consumed: i + 1 }
                }
                None => Frame::Skipped { consumed: buf.len() },
            };
        }
        if buf.is_empty() {
            return Frame::NeedMore;
        }
        let counted = match self.framing {
            Framing::Newline => None,
            Framing::OctetCounting => Some(true),
            Framing::Auto => match octet_prefix(buf) {
                Prefix::Length(..) => Some(true),
                Prefix::Partial if !eof => return Frame::NeedMore,
                Prefix::Partial | Prefix::NotALength => None,
            },
        };
        if counted.is_some() {
            return match octet_prefix(buf) {
                Prefix::Length(len, digits) => {
                    let start = digits + 1;
                    if len > self.max {
                        let have = buf.len() - start;
                        let drop = have.min(len);
                        self.skip_bytes = len - drop;
                        Frame::TooLong { consumed: start + drop }
                    } else if buf.len() - start >= len {
                        let mut end = start + len;
                        // Some senders end an octet-counted message with LF too: it is no part of it.
                        while end > start && matches!(buf[end - 1], b'\n' | b'\r') {
                            end -= 1;
                        }
                        Frame::Message { start, end, consumed: start + len }
                    } else {
                        Frame::NeedMore
                    }
                }
                Prefix::Partial if !eof => Frame::NeedMore,
                Prefix::Partial | Prefix::NotALength => Frame::BadLength,
            };
        }
        match memchr(b'\n', &buf[..buf.len().min(self.max + 1)]) {
            Some(i) => {
                let end = if i > 0 && buf[i - 1] == b'\r' { i - 1 } else { i };
                Frame::Message { start: 0, end, consumed: i + 1 }
            }
            None if buf.len() > self.max => match memchr(b'\n', buf) {
                Some(i) => Frame::TooLong { consumed: i + 1 },
                None => {
                    self.skip_line = true;
                    Frame::TooLong { consumed: buf.len() }
                }
            },
            None if eof => Frame::Message { start: 0, end: buf.len(), consumed: buf.len() },
            None => Frame::NeedMore,
        }
    }
}

enum Prefix {
    /// `MSG-LEN SP`: the length and the digits it took.
    Length(usize, usize),
    /// Digits so far, the space not yet seen.
    Partial,
    NotALength,
}

fn octet_prefix(buf: &[u8]) -> Prefix {
    if !matches!(buf.first(), Some(b'1'..=b'9')) {
        return Prefix::NotALength;
    }
    let mut len = 0usize;
    for (i, b) in buf.iter().enumerate() {
        match b {
            b'0'..=b'9' if i < MAX_LEN_DIGITS => len = len * 10 + usize::from(b - b'0'),
            b' ' => return Prefix::Length(len, i),
            _ => return Prefix::NotALength,
        }
    }
    Prefix::Partial
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == needle)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every message of `data` read in chunks of `chunk` bytes, as text; `!` marks a too-long one.
    fn frames(framing: Framing, max: usize, data: &[u8], chunk: usize) -> Vec<String> {
        let mut f = Framer::new(framing, max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            let eof = fed >= data.len();
            match f.next(&buf, eof) {
                Frame::Message { start, end, consumed } => {
                    out.push(String::from_utf8_lossy(&buf[start..end]).into_owned());
                    buf.drain(..consumed);
                }
                Frame::TooLong { consumed } => {
                    out.push("!".into());
                    buf.drain(..consumed);
                }
                Frame::Skipped { consumed } => {
                    buf.drain(..consumed);
                }
                Frame::BadLength => {
                    out.push("?".into());
                    return out;
                }
                Frame::NeedMore if eof => return out,
                Frame::NeedMore => {
                    let take = chunk.min(data.len() - fed);
                    buf.extend_from_slice(&data[fed..fed + take]);
                    fed += take;
                }
            }
        }
    }

    #[test]
    fn newline_framing_drops_cr_and_takes_a_last_message_at_the_end() {
        let got = frames(Framing::Newline, 100, b"a\r\nbb\n\nccc", 2);
        assert_eq!(got, ["a", "bb", "", "ccc"]);
    }

    #[test]
    fn octet_counting_reads_exact_lengths_across_reads() {
        let data = b"5 hello12 <34>Oct 11 x3 abc";
        assert_eq!(frames(Framing::OctetCounting, 100, data, 3), ["hello", "<34>Oct 11 x", "abc"]);
        assert_eq!(frames(Framing::Auto, 100, data, 1), ["hello", "<34>Oct 11 x", "abc"]);
    }

    #[test]
    fn auto_mixes_both_and_leaves_addresses_and_json_to_newlines() {
        let data = b"10.0.0.1 - - [x]\n{\"ts\":1}\n5 hello<13>x\n";
        assert_eq!(frames(Framing::Auto, 100, data, 4), ["10.0.0.1 - - [x]", "{\"ts\":1}", "hello", "<13>x"]);
    }

    #[test]
    fn too_long_messages_are_dropped_whole_and_the_next_one_is_read() {
        let long = format!("{}\nok\n", "x".repeat(50));
        assert_eq!(frames(Framing::Newline, 10, long.as_bytes(), 7), ["!", "ok"]);
        let counted = format!("50 {}2 ok", "y".repeat(50));
        assert_eq!(frames(Framing::OctetCounting, 10, counted.as_bytes(), 7), ["!", "ok"]);
    }

    #[test]
    fn a_bad_length_under_octet_counting_stops_the_stream() {
        assert_eq!(frames(Framing::OctetCounting, 100, b"3 abcxyz", 100), ["abc", "?"]);
        assert_eq!(frames(Framing::OctetCounting, 100, b"1234567890 a", 100), ["?"]);
    }

    proptest! {
        #[test]
        fn any_bytes_in_any_chunks_frame_without_panic_and_lose_nothing_newline_framed(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            chunk in 1usize..64,
            max in 1usize..80,
        ) {
            for framing in [Framing::Auto, Framing::Newline, Framing::OctetCounting] {
                let _ = frames(framing, max, &data, chunk);
            }
            // Newline framing within the bound gives back exactly the lines.
            let text: Vec<u8> = data.iter().map(|b| if *b == b'\r' { b'.' } else { *b }).collect();
            let want: Vec<String> = {
                let body = text.strip_suffix(b"\n").unwrap_or(&text);
                if body.is_empty() && text.is_empty() { Vec::new() } else {
                    body.split(|b| *b == b'\n').map(|l| String::from_utf8_lossy(l).into_owned()).collect()
                }
            };
            let got = frames(Framing::Newline, 1000, &text, chunk);
            prop_assert_eq!(got, want);
        }
    }
}
