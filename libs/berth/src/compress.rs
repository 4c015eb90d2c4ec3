//! Parallel gzip, as pigz does it, so that making a layer uses every core.
//!
//! The input is cut into fixed-size chunks; each chunk is compressed on a worker thread into a
//! complete gzip member, and the members are written in order. A sequence of gzip members is one
//! valid gzip stream (RFC 1952 §2.2) that every layer reader handles (Go's gzip reader,
//! containerd, flate2's MultiGzDecoder, umoci). The output depends only on the input, the chunk
//! size and the level, never on the number of threads, so the same content always gives the
//! same digest. Memory is bounded: at most `2 × threads` chunks are in flight.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::write::GzEncoder;

/// The size of the chunks compressed independently. Large enough that restarting the
/// dictionary costs well under 1% of the ratio.
pub const CHUNK: usize = 1 << 20;

type Job = (u64, Vec<u8>);
type Done = (u64, io::Result<Vec<u8>>);

/// A writer that gzips what it is given on several threads. Call `finish` to get the inner
/// writer back; dropping it without `finish` loses the tail.
pub struct ParGzWriter<W: Write> {
    inner: Option<W>,
    buf: Vec<u8>,
    next_seq: u64,
    next_write: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    max_in_flight: u64,
}

/// Whether deflating `data` is wasted work (already compressed or random content): a sample is
/// compressed fast and saves under 3%. Such chunks are stored instead (deflate level 0), which
/// costs almost nothing and is no larger. It depends only on the content, so output stays
/// deterministic.
fn incompressible(data: &[u8]) -> bool {
    const SAMPLE: usize = 64 << 10;
    if data.len() < SAMPLE {
        return false;
    }
    let mut e = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(SAMPLE + 64),
        flate2::Compression::fast(),
    );
    if e.write_all(&data[..SAMPLE]).is_err() {
        return false;
    }
    e.finish().is_ok_and(|out| out.len() * 100 > SAMPLE * 97)
}

fn gzip_member(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let level = if level > 0 && incompressible(data) {
        0
    } else {
        level
    };
    let mut e = GzEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        flate2::Compression::new(level),
    );
    e.write_all(data)?;
    e.finish()
}

impl<W: Write> ParGzWriter<W> {
    /// A writer with one worker per available core.
    pub fn new(inner: W, level: u32) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(inner, level, threads)
    }

    pub fn with_threads(inner: W, level: u32, threads: usize) -> Self {
        let threads = threads.max(1);
        let (job_tx, job_rx) = channel::<Job>();
        let (done_tx, done_rx) = channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let workers = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                std::thread::spawn(move || loop {
                    let job = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, data))) = job else { return };
                    if done_tx.send((seq, gzip_member(&data, level))).is_err() {
                        return;
                    }
                })
            })
            .collect();
        ParGzWriter {
            inner: Some(inner),
            buf: Vec::with_capacity(CHUNK),
            next_seq: 0,
            next_write: 0,
            pending: BTreeMap::new(),
            jobs: Some(job_tx),
            done: done_rx,
            workers,
            max_in_flight: 2 * threads as u64,
        }
    }

    fn submit(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let jobs = self.jobs.as_ref().expect("not finished");
        jobs.send((self.next_seq, data))
            .map_err(|_| io::Error::other("gzip worker threads stopped"))?;
        self.next_seq += 1;
        while self.next_seq - self.next_write > self.max_in_flight {
            self.drain_one()?;
        }
        Ok(())
    }

    /// Waits for one finished chunk and writes whatever is now in order.
    fn drain_one(&mut self) -> io::Result<()> {
        let (seq, res) = self
            .done
            .recv()
            .map_err(|_| io::Error::other("gzip worker threads stopped"))?;
        self.pending.insert(seq, res?);
        let inner = self.inner.as_mut().expect("not finished");
        while let Some(data) = self.pending.remove(&self.next_write) {
            inner.write_all(&data)?;
            self.next_write += 1;
        }
        Ok(())
    }

    /// Compresses what is left, writes everything in order and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() || self.next_seq == 0 {
            self.submit()?;
        }
        while self.next_write < self.next_seq {
            self.drain_one()?;
        }
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        Ok(self.inner.take().expect("not finished"))
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.submit()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for ParGzWriter<W> {
    fn drop(&mut self) {
        // Close the job queue so the workers end; results are dropped.
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn random_chunks_are_stored_and_still_round_trip() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: Vec<u8> = (0..(3 * CHUNK))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut w = ParGzWriter::new(Vec::new(), 6);
        w.write_all(&noise).unwrap();
        let out = w.finish().unwrap();
        assert!(
            out.len() < noise.len() + noise.len() / 100,
            "stored, not inflated"
        );
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&out[..]), &mut back)
            .unwrap();
        assert_eq!(back, noise);
        assert!(!incompressible(&vec![b'a'; CHUNK]));
    }

    fn data(n: usize) -> Vec<u8> {
        let mut x: u32 = 12345;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 3 == 0 {
                    (x >> 16) as u8
                } else {
                    b'a' + (i % 7) as u8
                }
            })
            .collect()
    }

    fn gunzip(z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(z)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn round_trips_and_is_deterministic_across_thread_counts() {
        for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 777] {
            let input = data(n);
            let mut outs = Vec::new();
            for threads in [1, 2, 5] {
                let mut w = ParGzWriter::with_threads(Vec::new(), 6, threads);
                for piece in input.chunks(70_001) {
                    w.write_all(piece).unwrap();
                }
                outs.push(w.finish().unwrap());
            }
            assert_eq!(gunzip(&outs[0]), input, "{n} bytes round trip");
            assert!(
                outs.iter().all(|o| *o == outs[0]),
                "{n} bytes: same output for any thread count"
            );
        }
    }

    /// Two machines (any core count) give the same layer digest: the output of 1, 2 and 8
    /// threads over more than three chunks is the same, every member's header has no time
    /// (mtime 0), the unknown OS (255) and no extra fields, and the bytes are those this build
    /// of berth has always written (a zlib or flate2 upgrade that changes them changes every
    /// gzip layer digest berth makes, and must be a decision).
    #[test]
    fn the_same_bytes_on_any_machine() {
        let input = data(4 * CHUNK + 4321);
        let outs: Vec<Vec<u8>> = [1, 2, 8]
            .iter()
            .map(|&threads| {
                let mut w = ParGzWriter::with_threads(Vec::new(), 6, threads);
                for piece in input.chunks(333_333) {
                    w.write_all(piece).unwrap();
                }
                w.finish().unwrap()
            })
            .collect();
        assert!(outs.iter().all(|o| *o == outs[0]), "1, 2 and 8 threads");
        let mut rest = &outs[0][..];
        let mut members = 0;
        let mut back = Vec::new();
        while !rest.is_empty() {
            let mut d = flate2::bufread::GzDecoder::new(rest);
            d.read_to_end(&mut back).unwrap();
            let h = d.header().unwrap();
            assert_eq!(h.mtime(), 0);
            assert_eq!(h.operating_system(), 255);
            assert!(h.extra().is_none() && h.filename().is_none() && h.comment().is_none());
            rest = d.into_inner();
            members += 1;
        }
        assert_eq!(members, 5, "one member per chunk");
        assert_eq!(back, input);
        assert_eq!(
            crate::digest::Digest::sha256_of(&outs[0]).to_string(),
            GOLDEN,
            "gzip output changed"
        );
    }

    /// sha256 of [`the_same_bytes_on_any_machine`]'s output (flate2 1.1 on zlib-rs 0.6).
    const GOLDEN: &str = "sha256:5917e10ef5042021dac9348a77e0db41544705c1ad0862a110a137de4a517c8c";

    #[test]
    fn dropping_without_finish_does_not_hang() {
        let mut w = ParGzWriter::with_threads(Vec::new(), 6, 2);
        w.write_all(&data(2 * CHUNK + 5)).unwrap();
        drop(w);
    }
}
