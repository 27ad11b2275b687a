//! Bandwidth limits: token buckets on the data connections, one per
//! account and direction shared by all of that account's transfers in
//! this replica (two sessions of one partner share its limit), and one per
//! direction for the whole gateway (`limits.upload_bandwidth`,
//! `limits.download_bandwidth`). A transfer takes from every bucket that
//! applies before it reads or writes, so the tightest one decides.
//!
//! Applied without a copy: a read is made no larger than the tokens at
//! hand (straight into the caller's buffer), a write hands on no more
//! than them; when none are left the transfer waits for the refill.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use dashmap::DashMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// One token bucket: `rate` bytes per second, at most a tenth of a
/// second's worth (and at least 16 KiB) saved up.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A bucket of `rate` bytes per second, full.
    #[must_use]
    pub fn new(rate: u64) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let rate = rate.max(1) as f64;
        let burst = (rate / 10.0).max(16.0 * 1024.0);
        Self {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Tokens now (after the refill since the last look).
    fn level(&self, s: &mut (f64, Instant)) -> f64 {
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.rate).min(self.burst);
        s.1 = now;
        s.0
    }
}

/// The buckets one transfer draws from (its account's, the gateway's).
#[derive(Debug, Clone, Default)]
pub struct Limits(Vec<Arc<Bucket>>);

impl Limits {
    /// Whether no bucket applies.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tightest rate, in bytes per second (`None`: no limit).
    #[must_use]
    pub fn per_second(&self) -> Option<u64> {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.0.iter().map(|b| b.rate as u64).min()
    }

    /// Takes up to `want` bytes from every bucket: what they all have;
    /// when one is empty, how long until it has some.
    fn take(&self, want: usize) -> Result<usize, Duration> {
        #[allow(clippy::cast_precision_loss)]
        let mut grant = want as f64;
        let mut guards: Vec<_> = self
            .0
            .iter()
            .map(|b| b.state.lock().expect("bucket"))
            .collect();
        for (b, g) in self.0.iter().zip(guards.iter_mut()) {
            let level = b.level(g);
            if level < 1.0 {
                return Err(Duration::from_secs_f64((1.0 - level).max(512.0) / b.rate));
            }
            grant = grant.min(level);
        }
        for g in &mut guards {
            g.0 -= grant.floor();
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(grant.floor() as usize)
    }

    /// Gives back tokens a read or write took but did not use.
    fn refund(&self, unused: usize) {
        #[allow(clippy::cast_precision_loss)]
        let unused = unused as f64;
        for b in &self.0 {
            let mut g = b.state.lock().expect("bucket");
            g.0 = (g.0 + unused).min(b.burst);
        }
    }
}

/// The gateway's buckets: its own per direction, and each account's.
#[derive(Debug, Default)]
pub struct Bandwidth {
    up: Option<Arc<Bucket>>,
    down: Option<Arc<Bucket>>,
    accounts: DashMap<(String, bool), Arc<Bucket>>,
}

impl Bandwidth {
    /// The gateway-wide limits (bytes per second), if any.
    #[must_use]
    pub fn new(up: Option<u64>, down: Option<u64>) -> Self {
        Self {
            up: up.map(|r| Arc::new(Bucket::new(r))),
            down: down.map(|r| Arc::new(Bucket::new(r))),
            accounts: DashMap::new(),
        }
    }

    /// What an upload (`up`) or a download of `account`, limited to `rate`
    /// bytes per second (its own setting), draws from. An account's bucket
    /// lives as long as the gateway; a changed rate takes a new one.
    #[must_use]
    pub fn limits(&self, account: &str, up: bool, rate: Option<u64>) -> Limits {
        let mut all = Vec::new();
        if let Some(rate) = rate {
            let bucket = self
                .accounts
                .entry((account.to_owned(), up))
                .and_modify(|b| {
                    #[allow(clippy::cast_precision_loss, clippy::float_cmp)]
                    if b.rate != rate.max(1) as f64 {
                        *b = Arc::new(Bucket::new(rate));
                    }
                })
                .or_insert_with(|| Arc::new(Bucket::new(rate)))
                .clone();
            all.push(bucket);
        }
        if let Some(global) = if up { &self.up } else { &self.down } {
            all.push(global.clone());
        }
        Limits(all)
    }
}

/// A stream whose reads and writes draw from [`Limits`].
pub struct Limited<S> {
    inner: S,
    limits: Limits,
    wait: Option<Pin<Box<Sleep>>>,
}

impl<S> Limited<S> {
    /// `inner` under `limits`.
    pub fn new(inner: S, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            wait: None,
        }
    }

    /// The limits the stream is under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Tokens for up to `want` bytes, or pending until the refill.
    fn grant(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<usize> {
        loop {
            if let Some(w) = self.wait.as_mut() {
                ready!(w.as_mut().poll(cx));
                self.wait = None;
            }
            match self.limits.take(want) {
                Ok(n) => return Poll::Ready(n),
                Err(after) => self.wait = Some(Box::pin(tokio::time::sleep(after))),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.limits.is_empty() || buf.remaining() == 0 {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = ready!(self.grant(cx, buf.remaining()));
        // The inner read fills a window of the caller's buffer (no copy);
        // the window is initialised first so that the caller's buffer may
        // count what it filled without unsafe code.
        buf.initialize_unfilled_to(n);
        let mut part = buf.take(n);
        let polled = Pin::new(&mut self.inner).poll_read(cx, &mut part);
        let read = part.filled().len();
        buf.advance(read);
        self.limits.refund(n - read);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.limits.is_empty() || data.is_empty() {
            return Pin::new(&mut self.inner).poll_write(cx, data);
        }
        let n = ready!(self.grant(cx, data.len()));
        let polled = Pin::new(&mut self.inner).poll_write(cx, &data[..n]);
        let written = match &polled {
            Poll::Ready(Ok(w)) => *w,
            _ => 0,
        };
        self.limits.refund(n - written);
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// On a paused clock: 1 MiB at 256 KiB/s takes about 4 s, whichever
    /// of two streams sharing the bucket moves it.
    #[tokio::test(start_paused = true)]
    async fn a_shared_bucket_paces_two_streams() {
        let bw = Bandwidth::new(None, None);
        let limits = || bw.limits("partner", false, Some(256 * 1024));
        let (a, mut a_far) = tokio::io::duplex(64 * 1024);
        let (b, mut b_far) = tokio::io::duplex(64 * 1024);
        let started = Instant::now();
        let send = |s, lim| async move {
            let mut w = Limited::new(s, lim);
            w.write_all(&vec![0u8; 512 * 1024]).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let drain = |mut r: tokio::io::DuplexStream| async move {
            let mut v = Vec::new();
            r.read_to_end(&mut v).await.unwrap();
            v.len()
        };
        let (_, _, got_a, got_b) = tokio::join!(
            send(a, limits()),
            send(b, limits()),
            drain(std::mem::replace(&mut a_far, tokio::io::duplex(1).0)),
            drain(std::mem::replace(&mut b_far, tokio::io::duplex(1).0)),
        );
        assert_eq!(got_a + got_b, 1024 * 1024);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(3800), "{took:?}");
        assert!(took <= Duration::from_millis(4300), "{took:?}");
    }
}
