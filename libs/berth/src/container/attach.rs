//! The attach protocol between the monitor and its clients (ctr-start -a, ctr-attach, ctr-run),
//! over the container's unix socket `attach.sock`.
//!
//! The client opens with one JSON line, [`Hello`]. After it both sides send frames: a header of
//! 8 bytes — the frame kind, three zero bytes, the payload length as a big-endian u32 (the
//! header of Docker's multiplexed attach stream) — then the payload.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Client → monitor: bytes for the container's stdin.
pub const STDIN: u8 = 0;
/// Monitor → client: the container's output.
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// Monitor → client: the container exited; payload is JSON [`Exit`].
pub const EXIT: u8 = 3;
/// Client → monitor: the terminal's size, rows and columns as big-endian u16.
pub const RESIZE: u8 = 4;
/// Client → monitor: no more stdin.
pub const STDIN_EOF: u8 = 5;
/// Monitor → client: the answer to a start request; payload is JSON [`Started`].
pub const STARTED: u8 = 6;

/// What a client asks for when it connects.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hello {
    /// Start the created container (only `ctr-start` asks this, once).
    #[serde(default)]
    pub start: bool,
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub stdout: bool,
    #[serde(default)]
    pub stderr: bool,
}

/// The answer to a start request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Started {
    pub pid: i32,
    #[serde(default)]
    pub error: Option<String>,
    /// With `error`: what `docker run` would exit with (125, 126, 127).
    #[serde(default)]
    pub code: u8,
}

/// How the container ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Exit {
    pub exit_code: i32,
    #[serde(default)]
    pub oom_killed: bool,
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut header = [0u8; 8];
    header[0] = kind;
    header[4..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    let mut buf = Vec::with_capacity(8 + payload.len());
    buf.extend_from_slice(&header);
    buf.extend_from_slice(payload);
    w.write_all(&buf)
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 8];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(header[4..].try_into().expect("4 bytes")) as usize;
    if len > 16 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "attach frame over 16 MiB",
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((header[0], payload)))
}

/// Incremental parsing of frames from a non-blocking stream.
#[derive(Debug, Default)]
pub struct FrameBuf {
    buf: Vec<u8>,
}

impl FrameBuf {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if any.
    pub fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if self.buf.len() < 8 {
            return None;
        }
        let len = u32::from_be_bytes(self.buf[4..8].try_into().expect("4 bytes")) as usize;
        if self.buf.len() < 8 + len {
            return None;
        }
        let kind = self.buf[0];
        let payload = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        Some((kind, payload))
    }
}

/// Watches typed input for the detach sequence (Docker's default: Ctrl-P Ctrl-Q).
#[derive(Debug, Clone)]
pub struct DetachKeys {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachKeys {
    /// Parses Docker's `--detach-keys` syntax: comma-separated `ctrl-X` or single characters.
    pub fn parse(spec: &str) -> Result<DetachKeys, String> {
        let mut keys = Vec::new();
        for part in spec.split(',') {
            let k = if let Some(c) = part.strip_prefix("ctrl-") {
                match c.as_bytes() {
                    [b @ b'a'..=b'z'] => b - b'a' + 1,
                    [b'@'] => 0,
                    [b'['] => 27,
                    [b'\\'] => 28,
                    [b']'] => 29,
                    [b'^'] => 30,
                    [b'_'] => 31,
                    _ => return Err(format!("invalid detach key {part:?}")),
                }
            } else if part.len() == 1 {
                part.as_bytes()[0]
            } else {
                return Err(format!("invalid detach key {part:?}"));
            };
            keys.push(k);
        }
        if keys.is_empty() {
            return Err("empty detach keys".into());
        }
        Ok(DetachKeys { keys, matched: 0 })
    }

    /// Feeds typed bytes: returns what to pass on to the container and whether the sequence
    /// was completed (then the client detaches). Bytes of a partial match are held back and
    /// passed on when the match breaks, as Docker does.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split() {
        let mut wire = Vec::new();
        write_frame(&mut wire, STDOUT, b"hello").unwrap();
        write_frame(&mut wire, EXIT, b"{}").unwrap();
        let mut fb = FrameBuf::default();
        fb.push(&wire[..5]);
        assert!(fb.next_frame().is_none());
        fb.push(&wire[5..]);
        assert_eq!(fb.next_frame(), Some((STDOUT, b"hello".to_vec())));
        assert_eq!(fb.next_frame(), Some((EXIT, b"{}".to_vec())));
        let mut r = &wire[..];
        assert_eq!(read_frame(&mut r).unwrap().unwrap().1, b"hello");
    }

    #[test]
    fn detach_keys_match_across_reads() {
        let mut d = DetachKeys::parse("ctrl-p,ctrl-q").unwrap();
        assert_eq!(d.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(d.feed(b"\x11"), (vec![], true));
        assert_eq!(d.feed(b"\x10x"), (b"\x10x".to_vec(), false));
        assert!(DetachKeys::parse("ctrl-").is_err());
    }
}
