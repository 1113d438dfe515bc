//! Bounded capture of what a plug-in writes: its trace lines and its stdout and stderr (PIPE-13, BOX-3).
//!
//! A plug-in may write without end; the host keeps only the tail of it, so that neither a 100 MB trace nor a
//! loop printing forever can grow the host's memory past a fixed bound, and writes never fail.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes a plug-in may write in one `write` after `check-write`: the most the host copies out of the guest in
/// one go for a stream.
const WRITE_PERMIT: usize = 64 << 10;

/// The last `capacity` bytes written, at most a quarter more while between trims.
#[derive(Debug)]
pub struct Tail {
    bytes: Vec<u8>,
    capacity: usize,
    /// Bytes dropped from the front so far, not counting those past the capacity still held.
    dropped: u64,
}

impl Tail {
    pub fn new(capacity: usize) -> Self {
        Tail { bytes: Vec::new(), capacity, dropped: 0 }
    }

    /// Appends `data`, dropping the oldest bytes past the capacity. Trimming waits until the buffer is a
    /// quarter over capacity, so a long stream of small writes costs amortised constant time per byte.
    pub fn push(&mut self, data: &[u8]) {
        if data.len() >= self.capacity {
            // Only the end of this write survives: skip the rest without copying it.
            self.dropped += (self.bytes.len() + data.len() - self.capacity) as u64;
            self.bytes.clear();
            self.bytes.extend_from_slice(&data[data.len() - self.capacity..]);
            return;
        }
        self.bytes.extend_from_slice(data);
        let slack = self.capacity / 4;
        if self.bytes.len() > self.capacity + slack {
            let excess = self.bytes.len() - self.capacity;
            self.bytes.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    /// The text kept, at most `capacity` bytes, starting at a character boundary; invalid UTF-8 is replaced.
    pub fn text(&self) -> String {
        let start = self.bytes.len().saturating_sub(self.capacity);
        let mut kept = &self.bytes[start..];
        if start > 0 || self.dropped > 0 {
            // The cut may have split a character: skip its continuation bytes (at most three).
            let skip = kept.iter().take(3).take_while(|&&b| b & 0xC0 == 0x80).count();
            kept = &kept[skip..];
        }
        String::from_utf8_lossy(kept).into_owned()
    }
}

/// The stdout and stderr of one execution: a [`Tail`] shared by every stream the plug-in opens on them.
/// Writes always succeed and never block.
#[derive(Debug, Clone)]
pub struct TailPipe {
    tail: Arc<Mutex<Tail>>,
}

impl TailPipe {
    pub fn new(capacity: usize) -> Self {
        TailPipe { tail: Arc::new(Mutex::new(Tail::new(capacity))) }
    }

    fn append(&self, data: &[u8]) {
        // A writer never panics while holding the lock, so a poisoned lock still holds consistent bytes.
        self.tail.lock().unwrap_or_else(PoisonError::into_inner).push(data);
    }

    /// The text kept of what was written.
    pub fn contents(&self) -> String {
        self.tail.lock().unwrap_or_else(PoisonError::into_inner).text()
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for TailPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TailPipe {
    /// Always ready: the pipe never fills up.
    async fn ready(&mut self) {}
}

impl AsyncWrite for TailPipe {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_13_a_tail_keeps_the_last_bytes_and_counts_the_rest() {
        let mut tail = Tail::new(10);
        for _ in 0..1000 {
            tail.push(b"abc");
            assert!(tail.bytes.len() <= 10 + 10 / 4, "bounded: {}", tail.bytes.len());
        }
        tail.push(b"-the end");
        assert_eq!(tail.text(), "abc-the end"[1..].to_owned());
        assert_eq!(tail.dropped + (tail.bytes.len() - 10) as u64, 3008 - 10);
    }

    #[test]
    fn pipe_13_one_write_larger_than_the_tail_keeps_its_end() {
        let mut tail = Tail::new(8);
        tail.push(b"start");
        tail.push(&[b'x'; 100]);
        tail.push(b"end");
        assert_eq!(tail.text(), "xxxxxend");
        assert_eq!(tail.dropped, 100);
    }

    #[test]
    fn pipe_13_a_cut_inside_a_character_skips_its_remains() {
        let mut tail = Tail::new(4);
        tail.push("ééé".as_bytes());
        assert_eq!(tail.text(), "éé");
    }
}
