//! A TCP proxy on 127.0.0.1 that forwards to a local port and slows the answers down to a set
//! rate, so that a test can interrupt a transfer in the middle.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct SlowProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Bytes sent from the target back to clients so far.
    pub served: Arc<AtomicU64>,
}

impl SlowProxy {
    /// Forwards 127.0.0.1:<port> to 127.0.0.1:`target`, answers at most `bytes_per_sec`.
    pub fn start(target: u16, bytes_per_sec: u64) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let (s, sv) = (stop.clone(), served.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(upstream) = TcpStream::connect(("127.0.0.1", target)) else {
                            continue;
                        };
                        let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                        std::thread::spawn(move || pipe(c2, u2, None, None));
                        let (s2, sv2) = (s.clone(), sv.clone());
                        std::thread::spawn(move || {
                            pipe(upstream, client, Some(bytes_per_sec), Some((s2, sv2)))
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        SlowProxy { port, stop, served }
    }
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    rate: Option<u64>,
    stats: Option<(Arc<AtomicBool>, Arc<AtomicU64>)>,
) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        if stats
            .as_ref()
            .is_some_and(|(s, _)| s.load(Ordering::Relaxed))
        {
            break;
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some((_, served)) = &stats {
            served.fetch_add(n as u64, Ordering::Relaxed);
        }
        if let Some(r) = rate {
            std::thread::sleep(Duration::from_secs_f64(n as f64 / r as f64));
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
