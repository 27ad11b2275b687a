//! A TCP proxy that puts a network between two local programs (kernel
//! `netem` is not available on the machines we measure on).
//!
//! Each direction of each connection is a pipe with a fixed one-way delay
//! and a bounded number of bytes in flight, like a TCP window: a byte read
//! from one side is written to the other `one_way` later, and counts
//! against the window until its acknowledgement would be back (another
//! `one_way`). So one connection moves at most `window / RTT`, as on a real
//! network, and a request waits a whole round trip for its answer. An
//! optional rate caps each direction of each connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

/// The simulated network.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Delay of each direction: RTT / 2.
    pub one_way: Duration,
    /// Bytes in flight per direction and connection.
    pub window: usize,
    /// Bytes per second per direction and connection (`None`: unlimited).
    pub rate: Option<f64>,
}

/// Largest piece read at once (a burst of segments).
const CHUNK: usize = 64 * 1024;

/// Listens on `127.0.0.1:0` and forwards every connection to `upstream`
/// through `link`. Returns the address to connect to.
pub async fn start(upstream: SocketAddr, link: Link) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, link));
                tokio::spawn(pipe(sr, cw, link));
            });
        }
    });
    addr
}

/// A piece on its way: delivered at `at`, its window share freed one
/// delay after delivery. Empty `data`: the sender closed its side.
struct Piece {
    at: Instant,
    data: Vec<u8>,
    permit: Option<OwnedSemaphorePermit>,
}

/// One direction of one connection.
async fn pipe(mut from: OwnedReadHalf, to: OwnedWriteHalf, link: Link) {
    let window = Arc::new(Semaphore::new(link.window));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(deliver(rx, to, link.one_way));
    let mut next_free = Instant::now();
    loop {
        let want = CHUNK.min(link.window);
        let Ok(mut permit) = window.clone().acquire_many_owned(want as u32).await else {
            return;
        };
        let mut data = vec![0; want];
        let n = from.read(&mut data).await.unwrap_or(0);
        data.truncate(n);
        let now = Instant::now();
        // The rate cap: a piece leaves when the previous one is through.
        let mut at = now + link.one_way;
        if let Some(rate) = link.rate {
            next_free = next_free.max(now) + Duration::from_secs_f64(n as f64 / rate);
            at = at.max(next_free + link.one_way);
        }
        let permit = if n == 0 { None } else { permit.split(n) };
        let end = n == 0;
        if tx.send(Piece { at, data, permit }).is_err() || end {
            return;
        }
    }
}

/// Writes pieces when they are due; frees their window share once the
/// acknowledgement would be back.
async fn deliver(
    mut rx: mpsc::UnboundedReceiver<Piece>,
    mut to: OwnedWriteHalf,
    one_way: Duration,
) {
    while let Some(piece) = rx.recv().await {
        tokio::time::sleep_until(piece.at).await;
        if piece.data.is_empty() {
            let _ = to.shutdown().await;
            return;
        }
        if to.write_all(&piece.data).await.is_err() {
            return;
        }
        if let Some(permit) = piece.permit {
            if one_way.is_zero() {
                drop(permit);
            } else {
                tokio::spawn(async move {
                    tokio::time::sleep(one_way).await;
                    drop(permit);
                });
            }
        }
    }
}
