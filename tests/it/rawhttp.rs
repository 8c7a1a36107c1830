//! HTTP/1.1 over raw sockets, for what a client library will not do: send half a body and
//! stall, reset a connection (SO_LINGER 0) mid-request, or connect from a chosen loopback
//! address (127.0.0.2, ...) so each test client counts as its own address.

use crate::harness::Hoist;
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A response as read off the socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `errors[0].code` of a spec error body, or "" when there is none.
    pub fn code(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `127.0.0.<n>`: a loopback address of its own for each simulated client.
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// A connection to hoist from `from`.
pub fn connect_from(h: &Hoist, from: IpAddr) -> TcpStream {
    let target: SocketAddr = h.addr.parse().expect("hoist address");
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .expect("bind the client address");
    socket.connect(&target.into()).expect("connect");
    socket.set_tcp_nodelay(true).expect("nodelay");
    socket.into()
}

/// Write a request head (and `body_start`, possibly part of the body) in one write.
pub fn send_head(
    stream: &mut TcpStream,
    h: &Hoist,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body_start: &[u8],
) {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", h.addr);
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(&[head.as_bytes(), body_start].concat())
        .expect("write request");
}

/// One chunk of a `Transfer-Encoding: chunked` body.
pub fn chunk(bytes: &[u8]) -> Vec<u8> {
    [
        format!("{:x}\r\n", bytes.len()).as_bytes(),
        bytes,
        b"\r\n".as_slice(),
    ]
    .concat()
}

/// The last chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A whole `Transfer-Encoding: chunked` body carrying `data` in 64 KiB chunks.
pub fn chunked(data: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = data.chunks(64 * 1024).flat_map(chunk).collect();
    out.extend_from_slice(LAST_CHUNK);
    out
}

/// Close with a TCP reset instead of a FIN, as a crashed or killed client does.
pub fn reset(stream: TcpStream) {
    let socket = Socket::from(stream);
    socket
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(socket);
}

/// Read one response, waiting at most `timeout`. `None` if none came (or the server
/// closed the connection without one).
pub fn read_response(stream: &mut TcpStream, timeout: Duration) -> Option<RawResponse> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut tmp) {
            // The test binary's children exit all the time: SIGCHLD interrupts reads.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let left = deadline.checked_duration_since(Instant::now())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut tmp) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&tmp[..n]),
        }
    }
    body.truncate(length);
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

/// A whole request with a whole body from `from`, and its response.
pub fn request_from(
    h: &Hoist,
    from: IpAddr,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> RawResponse {
    let mut stream = connect_from(h, from);
    let mut all = headers.to_vec();
    all.push(("Content-Length", body.len().to_string()));
    all.push(("Connection", "close".to_owned()));
    send_head(&mut stream, h, method, target, &all, body);
    read_response(&mut stream, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{method} {target}: no response"))
}

/// Open an upload session in `repo`; returns its path (`/v2/<repo>/blobs/uploads/<id>`).
pub fn open_session(h: &Hoist, from: IpAddr, repo: &str) -> String {
    let r = request_from(
        h,
        from,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(r.status, 202, "open a session: {}", r.text());
    r.header("location").expect("Location").to_owned()
}

/// The `Range` of an upload as its status says: bytes kept (`0-0` is read as none: the
/// header cannot tell 0 bytes from 1, so tests never keep exactly one). `None` when the
/// upload is unknown.
pub fn upload_offset(h: &Hoist, location: &str) -> Option<u64> {
    let r = request_from(h, loopback(1), "GET", location, &[], b"");
    if r.status == 404 {
        return None;
    }
    assert_eq!(r.status, 204, "status of {location}: {}", r.text());
    let range = r.header("range").expect("Range");
    let end: u64 = range
        .split('-')
        .nth(1)
        .and_then(|e| e.parse().ok())
        .expect("Range 0-<end>");
    Some(if range == "0-0" { 0 } else { end + 1 })
}

/// The id at the end of an upload location.
pub fn upload_id(location: &str) -> &str {
    location.rsplit('/').next().expect("id")
}

/// Reproducible pseudo-random bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
