//! A real HTTP server for the auth hook and webhook tests: it keeps every
//! request it got (cache hits prove themselves by not arriving; webhook
//! signatures are checked on the raw bodies), answers as the test says,
//! and can go down (its port refuses connections) and come back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the hook answers one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// This status and JSON body.
    Json(u16, String),
    /// This status and body after a pause.
    Slow(Duration, u16, String),
}

type Rule = Box<dyn Fn(&serde_json::Value) -> Answer + Send>;

struct Inner {
    requests: Mutex<Vec<(serde_json::Value, Vec<String>)>>,
    raw: Mutex<Vec<(Vec<u8>, Vec<String>)>>,
    rule: Mutex<Rule>,
    up: AtomicBool,
}

/// The hook server.
pub struct HookServer {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl HookServer {
    /// Starts on a free loopback port, answering with `rule`.
    pub fn start(rule: impl Fn(&serde_json::Value) -> Answer + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            requests: Mutex::new(Vec::new()),
            raw: Mutex::new(Vec::new()),
            rule: Mutex::new(Box::new(rule)),
            up: AtomicBool::new(true),
        });
        let s = Self { addr, inner };
        s.serve(listener);
        s
    }

    fn serve(&self, listener: TcpListener) {
        let inner = self.inner.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while inner.up.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let inner = inner.clone();
                        std::thread::spawn(move || handle(stream, &inner));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
    }

    /// `http://127.0.0.1:<port>/login`.
    pub fn url(&self) -> String {
        format!("http://{}/login", self.addr)
    }

    /// Requests received so far (bodies).
    pub fn calls(&self) -> usize {
        self.inner.requests.lock().unwrap().len()
    }

    /// The bodies and header lines received.
    pub fn requests(&self) -> Vec<(serde_json::Value, Vec<String>)> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// The raw bodies and header lines received, in order.
    pub fn raw(&self) -> Vec<(Vec<u8>, Vec<String>)> {
        self.inner.raw.lock().unwrap().clone()
    }

    /// Answers with `rule` from now on.
    pub fn answer(&self, rule: impl Fn(&serde_json::Value) -> Answer + Send + 'static) {
        *self.inner.rule.lock().unwrap() = Box::new(rule);
    }

    /// Stops listening: connections to the port are refused.
    pub fn down(&self) {
        self.inner.up.store(false, Ordering::SeqCst);
        // The accept loop notices within a few milliseconds.
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Listens again on the same port.
    pub fn up(&self) {
        self.inner.up.store(true, Ordering::SeqCst);
        let listener = TcpListener::bind(self.addr).unwrap();
        self.serve(listener);
    }
}

impl Drop for HookServer {
    fn drop(&mut self) {
        self.inner.up.store(false, Ordering::SeqCst);
    }
}

fn handle(stream: TcpStream, inner: &Inner) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
        headers.push(line);
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let answer = (inner.rule.lock().unwrap())(&json);
    inner.raw.lock().unwrap().push((body, headers.clone()));
    inner.requests.lock().unwrap().push((json, headers));
    let (status, body) = match answer {
        Answer::Json(s, b) => (s, b),
        Answer::Slow(d, s, b) => {
            std::thread::sleep(d);
            (s, b)
        }
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}
