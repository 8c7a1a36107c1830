//! An HTTP/1.1 fault proxy on 127.0.0.1 between hoist and an upstream registry, and the small
//! HTTP/1.1 reading and writing helpers that the upstream, token issuer and proxy share.
//!
//! The proxy forwards each request to its target `host:port` and applies at most one fault to
//! it, chosen by a plan the test changes while things run: the first [`Rule`] that matches the
//! request's method and a substring of its target (path and query) and has uses left.
//!
//! Connections: every request gets a connection of its own on both sides. The proxy reads one
//! request, forwards it with `Connection: close`, answers the client with `Connection: close` and
//! closes; a keep-alive client simply opens a new connection for its next request. That keeps
//! the framing honest (a cut or stalled body never leaks into a next response).
//!
//! What passes through untouched: the status line, every header (`WWW-Authenticate`,
//! `Range`/`Content-Range`, `Docker-Content-Digest`, ...) except the hop-by-hop `Connection` and
//! `Keep-Alive`; `Host` is forwarded as the client sent it (so distribution builds its upload
//! `Location`s with the proxy's address), and an absolute `Location` that names the target is
//! rewritten to name the proxy. Bodies keep their framing: `Content-Length`, chunked (each piece
//! read is sent on as a chunk of its own) or until-close. A request body sent chunked is
//! forwarded with a `Content-Length`. `Expect: 100-continue` is answered by the proxy itself.
//! The token realm in a `WWW-Authenticate` is not rewritten: token requests go straight to the
//! issuer, not through the proxy.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the proxy (and the other helpers here) wait on a silent peer before giving up.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// The size of the pieces a body is read and forwarded in.
const PIECE: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 plumbing shared by the test servers and clients in this binary.

/// A request or response head: the start line and the headers, in order.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub start: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// Replace every `name` header by one with `value`.
    pub fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// The request method (first word of a request line).
    pub fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or("")
    }

    /// The request target (second word of a request line).
    pub fn target(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or("")
    }

    /// The status code of a response line (0 when unreadable).
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.start.clone();
        out.push_str("\r\n");
        for (k, v) in &self.headers {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// How the body after this head is delimited. `request_method` is `Some` for a response
    /// (a response to HEAD, and 1xx/204/304, have no body), `None` for a request.
    pub fn framing(&self, request_method: Option<&str>) -> Framing {
        if let Some(method) = request_method {
            let status = self.status();
            if method.eq_ignore_ascii_case("HEAD")
                || (100..200).contains(&status)
                || status == 204
                || status == 304
            {
                return Framing::Empty;
            }
        }
        if self
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            return Framing::Chunked;
        }
        match self.header("content-length").and_then(|l| l.parse().ok()) {
            Some(n) => Framing::Length(n),
            None if request_method.is_some() => Framing::UntilClose,
            None => Framing::Empty,
        }
    }
}

/// How a body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// `read`, retried when a signal interrupts it (test processes get SIGCHLD all the time).
pub(crate) fn read_some(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Read a head. `buf` holds bytes already read from `stream` and keeps what follows the head.
/// `Ok(None)` when the stream ends before a whole head.
pub(crate) fn read_head(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Option<Head>> {
    let mut tmp = [0u8; 8192];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > 1 << 20 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
        let n = read_some(stream, &mut tmp)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end + 4);
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or("").to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Some(Head { start, headers }))
}

/// Reads a body piece by piece, undoing chunked encoding.
pub(crate) struct BodyReader<'a, R: Read> {
    stream: &'a mut R,
    buf: Vec<u8>,
    framing: Framing,
    /// Bytes left in the whole body (Length) or in the current chunk (Chunked).
    left: u64,
    done: bool,
}

impl<'a, R: Read> BodyReader<'a, R> {
    /// `buf` holds what was read past the head.
    pub fn new(stream: &'a mut R, buf: Vec<u8>, framing: Framing) -> Self {
        let left = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        BodyReader {
            stream,
            buf,
            framing,
            left,
            done: framing == Framing::Empty || framing == Framing::Length(0),
        }
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = vec![0u8; PIECE];
        let n = read_some(self.stream, &mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..p]).into_owned();
                self.buf.drain(..p + 2);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Up to `max` bytes from the buffer or else the stream; empty at end of stream.
    fn take(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() && self.fill()? == 0 {
            return Ok(Vec::new());
        }
        let n = max.min(self.buf.len());
        Ok(self.buf.drain(..n).collect())
    }

    /// The next piece of the body; `None` at its end. A body cut short is an error.
    pub fn next_piece(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        match self.framing {
            Framing::Empty => Ok(None),
            Framing::UntilClose => {
                let piece = self.take(PIECE)?;
                if piece.is_empty() {
                    self.done = true;
                    return Ok(None);
                }
                Ok(Some(piece))
            }
            Framing::Length(_) => {
                let max = usize::try_from(self.left).unwrap_or(usize::MAX).min(PIECE);
                let piece = self.take(max)?;
                if piece.is_empty() {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.left -= piece.len() as u64;
                self.done = self.left == 0;
                Ok(Some(piece))
            }
            Framing::Chunked => {
                if self.left == 0 {
                    let line = self.line()?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "bad chunk size")
                    })?;
                    if size == 0 {
                        while !self.line()?.is_empty() {} // trailers
                        self.done = true;
                        return Ok(None);
                    }
                    self.left = size;
                }
                let max = usize::try_from(self.left).unwrap_or(usize::MAX).min(PIECE);
                let piece = self.take(max)?;
                if piece.is_empty() {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                self.left -= piece.len() as u64;
                if self.left == 0 && !self.line()?.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "chunk not ended",
                    ));
                }
                Ok(Some(piece))
            }
        }
    }

    /// The rest of the body.
    pub fn read_all(mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(piece) = self.next_piece()? {
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }
}

/// A response as the shared helpers read it (`crate::rawhttp::RawResponse`).
pub(crate) use crate::rawhttp::RawResponse;

/// One request on a fresh connection with `Connection: close`; reads the whole response (any
/// framing). `target` is the path and query; `Host` and `Content-Length` are added.
pub(crate) fn http_request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> io::Result<RawResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Head {
        start: format!("{method} {target} HTTP/1.1"),
        headers: vec![("Host".to_owned(), addr.to_owned())],
    };
    for (k, v) in headers {
        head.headers.push(((*k).to_owned(), v.clone()));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.set("Content-Length", &body.len().to_string());
    }
    head.set("Connection", "close");
    stream.write_all(&[head.to_bytes(), body.to_vec()].concat())?;
    let mut buf = Vec::new();
    let response = read_head(&mut stream, &mut buf)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no response"))?;
    let framing = response.framing(Some(method));
    let body = BodyReader::new(&mut stream, buf, framing).read_all()?;
    Ok(RawResponse {
        status: response.status(),
        headers: response.headers,
        body,
    })
}

/// The `Authorization: Basic` value for `user:pass`.
pub(crate) fn basic_auth(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{user}:{pass}").as_bytes())
    )
}

/// Close with a TCP reset instead of a FIN.
fn reset(stream: TcpStream) {
    let socket = socket2::Socket::from(stream);
    let _ = socket.set_linger(Some(Duration::ZERO));
    drop(socket);
}

// ---------------------------------------------------------------------------------------------
// The proxy.

/// What the proxy does to a request a rule matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward, but close the connection after this many bytes of the response body (the head
    /// passes intact, `Content-Length` included).
    CutAfter(u64),
    /// Forward the head and `after` bytes of the body, send nothing for `pause`, then close.
    Stall { after: u64, pause: Duration },
    /// Forward, with the body byte at this offset flipped (xor 0xff); nothing changes when the
    /// body is shorter.
    FlipByte(u64),
    /// Answer this status without forwarding: a spec error body (`TOOMANYREQUESTS` for 429,
    /// `UNAVAILABLE` otherwise) and `Retry-After: <secs>` when given.
    Status { code: u16, retry_after: Option<u64> },
    /// Reset the connection (SO_LINGER 0) as soon as the request head is read, without
    /// answering: what a client sees when the upstream is down.
    Down,
    /// Wait this long, then forward normally (a slow upstream).
    Delay(Duration),
}

impl Fault {
    /// `429 Too Many Requests`, with `Retry-After` when given.
    pub fn too_many_requests(retry_after: Option<u64>) -> Fault {
        Fault::Status {
            code: 429,
            retry_after,
        }
    }

    /// `503 Service Unavailable`, with `Retry-After` when given.
    pub fn unavailable(retry_after: Option<u64>) -> Fault {
        Fault::Status {
            code: 503,
            retry_after,
        }
    }

    /// A short name for counting: `cut`, `stall`, `flip`, `status-429`, `down`, `delay`.
    pub fn kind(&self) -> String {
        match self {
            Fault::CutAfter(_) => "cut".into(),
            Fault::Stall { .. } => "stall".into(),
            Fault::FlipByte(_) => "flip".into(),
            Fault::Status { code, .. } => format!("status-{code}"),
            Fault::Down => "down".into(),
            Fault::Delay(_) => "delay".into(),
        }
    }
}

/// When a fault applies: method (any when unset), a substring of the request target (path and
/// query; any when empty) and how many times (forever when unset).
#[derive(Debug, Clone)]
pub struct Rule {
    method: Option<String>,
    path: String,
    times: Option<u32>,
    fault: Fault,
}

impl Rule {
    /// `fault` on every request, forever (narrow it with the methods below).
    pub fn new(fault: Fault) -> Rule {
        Rule {
            method: None,
            path: String::new(),
            times: None,
            fault,
        }
    }

    /// Only requests with this method (`GET`, `HEAD`, ...).
    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose target (path and query) contains `part`, e.g. `"/blobs/"`.
    pub fn path(mut self, part: &str) -> Rule {
        self.path = part.to_owned();
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Rule {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.times != Some(0)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && target.contains(&self.path)
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The whole request target, query included.
    pub target: String,
    /// The fault applied to it, if any.
    pub fault: Option<Fault>,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
    target: String,
}

/// A running fault proxy; stops accepting when dropped.
pub struct FaultProxy {
    addr: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy on a free 127.0.0.1 port forwarding to `target` (`host:port`), no rules yet.
    pub fn start(target: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let state = Arc::new(Mutex::new(State {
            target: target.to_owned(),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop, addr) = (Arc::clone(&state), Arc::clone(&stop), addr.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (state, addr) = (Arc::clone(&state), addr.clone());
                    std::thread::spawn(move || {
                        let _ = serve(conn, &state, &addr);
                    });
                }
            })
        };
        FaultProxy {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:<port>`
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Same as [`FaultProxy::addr`]: what goes in an image reference or a hoist upstream.
    pub fn host_port(&self) -> &str {
        &self.addr
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forward to another `host:port` from the next request on.
    pub fn set_target(&self, target: &str) {
        self.state.lock().expect("proxy state").target = target.to_owned();
    }

    /// Add a rule after the others (the first matching rule with uses left applies).
    pub fn add(&self, rule: Rule) {
        self.state.lock().expect("proxy state").rules.push(rule);
    }

    /// Remove every rule: from now on everything is forwarded as is.
    pub fn clear(&self) {
        self.state.lock().expect("proxy state").rules.clear();
    }

    /// Every request seen so far, in order of arrival.
    pub fn log(&self) -> Vec<Seen> {
        self.state.lock().expect("proxy state").seen.clone()
    }

    /// (method, path without query) of every request seen so far.
    pub fn seen(&self) -> Vec<(String, String)> {
        self.log().into_iter().map(|s| (s.method, s.path)).collect()
    }

    /// Requests seen with this method (any when empty) whose target contains `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.log()
            .iter()
            .filter(|s| (method.is_empty() || s.method == method) && s.target.contains(part))
            .count()
    }

    /// Requests a fault of this [`Fault::kind`] was applied to.
    pub fn fault_count(&self, kind: &str) -> usize {
        self.log()
            .iter()
            .filter(|s| s.fault.as_ref().is_some_and(|f| f.kind() == kind))
            .count()
    }

    /// Forget the requests seen so far (rules stay).
    pub fn reset_counts(&self) {
        self.state.lock().expect("proxy state").seen.clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr); // wake the accept loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serve one client connection: one request, then close.
fn serve(mut client: TcpStream, state: &Mutex<State>, own_addr: &str) -> io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    client.set_nodelay(true)?;
    let mut buf = vec![0u8; 1];
    if read_some(&mut client, &mut buf)? == 0 {
        return Ok(());
    }
    if buf[0] == 0x16 {
        // A TLS ClientHello (skopeo and Go clients try HTTPS first): answer as Go's own HTTP
        // server does, so the client falls back to plain HTTP at once instead of waiting out
        // its TLS handshake timeout.
        client.write_all(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        )?;
        return Ok(());
    }
    let Some(mut head) = read_head(&mut client, &mut buf)? else {
        return Ok(());
    };
    let (method, target) = (head.method().to_owned(), head.target().to_owned());
    let (fault, upstream) = {
        let mut state = state.lock().expect("proxy state");
        let fault = state
            .rules
            .iter_mut()
            .find(|r| r.matches(&method, &target))
            .map(|rule| {
                if let Some(n) = rule.times.as_mut() {
                    *n -= 1;
                }
                rule.fault.clone()
            });
        state.seen.push(Seen {
            method: method.clone(),
            path: target.split('?').next().unwrap_or("").to_owned(),
            target: target.clone(),
            fault: fault.clone(),
        });
        (fault, state.target.clone())
    };

    match &fault {
        Some(Fault::Down) => {
            reset(client);
            return Ok(());
        }
        Some(Fault::Status { code, retry_after }) => {
            return answer_status(client, *code, *retry_after);
        }
        Some(Fault::Delay(pause)) => std::thread::sleep(*pause),
        _ => {}
    }

    if head
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        head.remove("expect");
    }
    let framing = head.framing(None);
    let body = BodyReader::new(&mut client, std::mem::take(&mut buf), framing).read_all()?;
    if framing == Framing::Chunked {
        head.remove("transfer-encoding");
        head.set("Content-Length", &body.len().to_string());
    }
    head.set("Connection", "close");
    head.remove("keep-alive");
    head.remove("proxy-connection");

    let Ok(mut server) = TcpStream::connect(&upstream) else {
        reset(client); // the target is down: so is the proxy
        return Ok(());
    };
    server.set_read_timeout(Some(IO_TIMEOUT))?;
    server.set_write_timeout(Some(IO_TIMEOUT))?;
    server.write_all(&[head.to_bytes(), body].concat())?;

    let mut buf = Vec::new();
    let mut response = loop {
        let Some(response) = read_head(&mut server, &mut buf)? else {
            reset(client);
            return Ok(());
        };
        if response.status() >= 200 || response.status() == 101 {
            break response;
        }
        // An interim 1xx response: the client never asked for one, drop it.
    };
    let framing = response.framing(Some(&method));
    if let Some(location) = response.header("location") {
        let from = format!("http://{upstream}");
        if let Some(rest) = location.strip_prefix(&from) {
            let rewritten = format!("http://{own_addr}{rest}");
            response.set("Location", &rewritten);
        }
    }
    response.set("Connection", "close");
    response.remove("keep-alive");
    client.write_all(&response.to_bytes())?;

    let mut reader = BodyReader::new(&mut server, buf, framing);
    let mut offset: u64 = 0;
    loop {
        let piece = match reader.next_piece() {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(_) => {
                // The target cut its body short: so does the proxy.
                let _ = client.flush();
                client.shutdown(Shutdown::Both).ok();
                return Ok(());
            }
        };
        let start = offset;
        offset += piece.len() as u64;
        let (piece, stop_after) = apply(&fault, piece, start);
        write_piece(&mut client, framing, &piece, stop_after.is_some())?;
        if let Some(pause) = stop_after {
            client.flush()?;
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
            client.shutdown(Shutdown::Both).ok();
            return Ok(());
        }
    }
    if framing == Framing::Chunked {
        client.write_all(b"0\r\n\r\n")?;
    }
    client.flush()?;
    client.shutdown(Shutdown::Write).ok();
    Ok(())
}

/// Apply a body fault to the piece starting at body offset `start`: the bytes to send and,
/// when the body stops here, how long to stall first (`Some(None)`: close at once).
fn apply(
    fault: &Option<Fault>,
    mut piece: Vec<u8>,
    start: u64,
) -> (Vec<u8>, Option<Option<Duration>>) {
    let end = start + piece.len() as u64;
    match fault {
        Some(Fault::CutAfter(n)) if end >= *n => {
            piece.truncate(usize::try_from(n - start).unwrap_or(0));
            (piece, Some(None))
        }
        Some(Fault::Stall { after, pause }) if end >= *after => {
            piece.truncate(usize::try_from(after - start).unwrap_or(0));
            (piece, Some(Some(*pause)))
        }
        Some(Fault::FlipByte(at)) if (start..end).contains(at) => {
            let i = usize::try_from(at - start).unwrap_or(0);
            piece[i] ^= 0xff;
            (piece, None)
        }
        _ => (piece, None),
    }
}

/// Send a body piece with the body's framing. `partial`: the piece was cut short, so a chunk
/// header keeps announcing the whole piece (the client sees a truncated chunk).
fn write_piece(
    client: &mut TcpStream,
    framing: Framing,
    piece: &[u8],
    partial: bool,
) -> io::Result<()> {
    if framing != Framing::Chunked {
        return client.write_all(piece);
    }
    if piece.is_empty() && !partial {
        return Ok(());
    }
    // A cut piece announces at least one byte more than it carries.
    let announced = if partial {
        piece.len() + 1
    } else {
        piece.len()
    };
    client.write_all(format!("{announced:x}\r\n").as_bytes())?;
    client.write_all(piece)?;
    if !partial {
        client.write_all(b"\r\n")?;
    }
    Ok(())
}

/// Answer a status of the proxy's own, with a spec error body.
fn answer_status(mut client: TcpStream, code: u16, retry_after: Option<u64>) -> io::Result<()> {
    let (reason, error) = match code {
        429 => ("Too Many Requests", "TOOMANYREQUESTS"),
        503 => ("Service Unavailable", "UNAVAILABLE"),
        500 => ("Internal Server Error", "UNKNOWN"),
        502 => ("Bad Gateway", "UNAVAILABLE"),
        _ => ("Error", "UNKNOWN"),
    };
    let body = serde_json::json!({"errors": [{
        "code": error,
        "message": format!("injected by the fault proxy: {code} {reason}"),
        "detail": null,
    }]})
    .to_string();
    let mut head = Head {
        start: format!("HTTP/1.1 {code} {reason}"),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Content-Length".into(), body.len().to_string()),
            (
                "Docker-Distribution-Api-Version".into(),
                "registry/2.0".into(),
            ),
            ("Connection".into(), "close".into()),
        ],
    };
    if let Some(secs) = retry_after {
        head.set("Retry-After", &secs.to_string());
    }
    client.write_all(&[head.to_bytes(), body.into_bytes()].concat())?;
    client.flush()?;
    client.shutdown(Shutdown::Write).ok();
    // Let the client read the answer before the socket goes (no reset on unread request bytes).
    let mut sink = [0u8; 1024];
    client.set_read_timeout(Some(Duration::from_secs(2)))?;
    while matches!(read_some(&mut client, &mut sink), Ok(n) if n > 0) {}
    Ok(())
}
