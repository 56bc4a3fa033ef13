//! Cutting a byte stream into lines: [`LineFramer`] (bytes pushed in, non-blank lines
//! taken out, a limit on a line's length), and [`clip`] for quoting a line in a message.
//!
//! It never reads: whoever holds the bytes pushes them.

/// A line longer than the limit (the stream cannot be framed further).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    /// The limit, in bytes (without the line ending).
    pub limit: usize,
}

/// Cuts a byte stream into lines (sans-IO: bytes are pushed in, lines taken out).
///
/// Lines end with `\n`; the line handed out excludes it (a `\r` before it is left in
/// and is JSON whitespace). Lines that are empty or only ASCII whitespace are skipped.
#[derive(Debug, Clone)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// The first byte not yet handed out.
    start: usize,
    /// `buf[start..scanned]` holds no `\n`.
    scanned: usize,
    max_line_bytes: usize,
    total: u64,
}

impl LineFramer {
    /// A framer accepting lines of at most `max_line_bytes` bytes (without `\n`).
    pub fn new(max_line_bytes: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line_bytes,
            total: 0,
        }
    }

    /// Appends bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= 64 * 1024) {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        self.total += bytes.len() as u64;
    }

    /// How many bytes were pushed in all.
    pub fn bytes_seen(&self) -> u64 {
        self.total
    }

    /// The next complete line that is not blank (blank ones before it are dropped), or
    /// `None` if there is none yet.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, LineTooLong> {
        loop {
            let Some(offset) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buf.len();
                if self.scanned - self.start > self.max_line_bytes {
                    return Err(LineTooLong {
                        limit: self.max_line_bytes,
                    });
                }
                return Ok(None);
            };
            let end = self.scanned + offset;
            let line = self.start..end;
            self.start = end + 1;
            self.scanned = self.start;
            if is_blank(&self.buf[line.clone()]) {
                continue;
            }
            if line.len() > self.max_line_bytes {
                return Err(LineTooLong {
                    limit: self.max_line_bytes,
                });
            }
            return Ok(Some(&self.buf[line]));
        }
    }

    /// The bytes after the last complete line (the start of a line not yet ended).
    pub fn partial(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Whether the line not yet ended holds anything but whitespace.
    pub fn partial_has_text(&self) -> bool {
        !is_blank(self.partial())
    }

    /// How many bytes were pushed and not handed out yet (blank lines included).
    pub fn pending_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether anything not yet handed out (complete lines or not) is not whitespace.
    pub fn has_text(&self) -> bool {
        !is_blank(&self.buf[self.start..])
    }
}

/// Whether a line is empty or only ASCII whitespace.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// At most 200 characters of a line, for messages (invalid UTF-8 shown lossily).
pub fn clip(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framer_skips_blank_lines_and_keeps_partial_ones() {
        let mut f = LineFramer::new(100);
        let first: &[u8] = b"\n  \r\n{\"a\":1}\r\n\n\t\n{\"a\"";
        f.push(first);
        assert_eq!(f.next_line().unwrap(), Some(&b"{\"a\":1}\r"[..]));
        assert_eq!(f.next_line().unwrap(), None);
        assert_eq!(f.partial(), b"{\"a\"");
        assert!(f.partial_has_text());
        f.push(b":2}\n   ");
        assert_eq!(f.next_line().unwrap(), Some(&b"{\"a\":2}"[..]));
        assert_eq!(f.next_line().unwrap(), None);
        assert!(!f.partial_has_text());
        assert_eq!(f.bytes_seen(), (first.len() + 7) as u64);
    }

    #[test]
    fn the_framer_rejects_lines_over_the_limit_complete_or_not() {
        let mut f = LineFramer::new(4);
        f.push(b"1234\n12345\n");
        assert_eq!(f.next_line().unwrap(), Some(&b"1234"[..]));
        assert_eq!(f.next_line(), Err(LineTooLong { limit: 4 }));
        let mut f = LineFramer::new(4);
        f.push(b"1234");
        assert_eq!(f.next_line().unwrap(), None);
        f.push(b"5");
        assert_eq!(f.next_line(), Err(LineTooLong { limit: 4 }));
    }

    #[test]
    fn the_framer_copes_with_many_small_pushes() {
        let mut f = LineFramer::new(1 << 20);
        let mut lines = 0;
        for i in 0..50_000 {
            f.push(format!("{{\"i\":{i}}}").as_bytes());
            f.push(b"\n");
            while let Some(line) = f.next_line().unwrap() {
                assert_eq!(line, format!("{{\"i\":{i}}}").as_bytes());
                lines += 1;
            }
        }
        assert_eq!(lines, 50_000);
        assert!(f.buf.len() < 200_000, "{}", f.buf.len());
    }

    #[test]
    fn clip_keeps_two_hundred_characters() {
        assert_eq!(clip(b"  short \n"), "short");
        let long = "é".repeat(300);
        let clipped = clip(long.as_bytes());
        assert_eq!(clipped.chars().count(), 201);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip(b"\xffx"), "\u{fffd}x");
    }
}
