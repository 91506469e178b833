//! A small HTTP/1.1 client over a unix socket, for slurmrestd (`rest_auth/local` authenticates
//! the peer by its socket credentials, so there is no TCP and no token).
//!
//! One request at a time per connection; idle connections are kept (keep-alive) in a pool and
//! reused by whichever thread asks next. Bodies are sent with `Content-Length`; a response body is
//! read by `Content-Length`, by chunked transfer encoding, or to the end of the connection.
//! Every read and write has a deadline, so a hung server costs a caller at most that.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// An HTTP response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// The socket is missing or refuses connections: nobody listens there.
    #[error("cannot connect to {path}: {source}")]
    Connect { path: String, source: io::Error },
    /// A read or write passed its deadline.
    #[error("no answer from {path} within {timeout:?}")]
    TimedOut { path: String, timeout: Duration },
    /// The connection broke, or the answer was not HTTP.
    #[error("{path}: {detail}")]
    Broken { path: String, detail: String },
}

/// A client for one unix socket. Safe to share between threads.
pub(crate) struct UnixHttp {
    path: PathBuf,
    timeout: Duration,
    idle: Mutex<Vec<BufReader<UnixStream>>>,
}

/// Idle connections kept at most; more are closed after their response.
const MAX_IDLE: usize = 64;

impl UnixHttp {
    pub fn new(path: &Path, timeout: Duration) -> Self {
        UnixHttp {
            path: path.to_path_buf(),
            timeout,
            idle: Mutex::default(),
        }
    }

    /// Send one request (`body` as JSON when given) and read its response. A request on a
    /// pooled connection that the server had closed is sent again on a new one only when it was
    /// never written (`POST` is not idempotent here: it submits a job).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, HttpError> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let mut conn = self.connection()?;
        let sent = conn
            .get_mut()
            .write_all(head.as_bytes())
            .and_then(|()| conn.get_mut().write_all(body.unwrap_or_default()));
        if let Err(e) = sent {
            return Err(self.io_error(e));
        }
        let (response, keep) = read_response(&mut conn).map_err(|e| self.io_error(e))?;
        if keep {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        Ok(response)
    }

    /// A pooled connection the server has not closed, or a new one.
    fn connection(&self) -> Result<BufReader<UnixStream>, HttpError> {
        loop {
            let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(conn) = pooled else { break };
            if open(conn.get_ref()) && conn.buffer().is_empty() {
                return Ok(conn);
            }
        }
        let stream = UnixStream::connect(&self.path).map_err(|source| HttpError::Connect {
            path: self.path.display().to_string(),
            source,
        })?;
        let set = stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)));
        set.map_err(|e| self.io_error(e))?;
        Ok(BufReader::new(stream))
    }

    fn io_error(&self, e: io::Error) -> HttpError {
        let path = self.path.display().to_string();
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::TimedOut {
                path,
                timeout: self.timeout,
            },
            _ => HttpError::Broken {
                path,
                detail: e.to_string(),
            },
        }
    }
}

/// Whether the server has not closed this idle connection (nothing to read, no EOF).
fn open(stream: &UnixStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    // A byte read here means an unasked-for answer: the connection is not clean either way.
    let mut byte = [0u8; 1];
    let mut s = stream;
    let alive = matches!(s.read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).is_ok() && alive
}

/// Read one response; also whether the connection may carry another request.
fn read_response<R: BufRead>(r: &mut R) -> io::Result<(Response, bool)> {
    let status_line = line(r)?;
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| bad(format!("not an HTTP status line: {status_line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep = version == "HTTP/1.1";
    loop {
        let h = line(r)?;
        if h.is_empty() {
            break;
        }
        let Some((name, value)) = h.split_once(':') else {
            return Err(bad(format!("bad header line {h:?}")));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| bad(format!("bad Content-Length {value:?}")))?,
                )
            }
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => keep = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = line(r)?;
            let hex = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(hex, 16)
                .map_err(|_| bad(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !line(r)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            if !line(r)?.is_empty() {
                return Err(bad("chunk not followed by CRLF".into()));
            }
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        // Neither length nor chunks: the body ends with the connection.
        r.read_to_end(&mut body)?;
        keep = false;
    }
    Ok((Response { status, body }, keep))
}

/// One CRLF- (or LF-) terminated line, without its ending; EOF before it is an error.
fn line<R: BufRead>(r: &mut R) -> io::Result<String> {
    let mut buf = Vec::new();
    if r.read_until(b'\n', &mut buf)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the response ended",
        ));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| bad("header is not UTF-8".into()))
}

fn bad(detail: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::thread;

    fn parse(raw: &str) -> io::Result<(Response, bool)> {
        read_response(&mut BufReader::new(raw.as_bytes()))
    }

    #[test]
    fn content_length_chunked_and_to_the_end() {
        let (r, keep) =
            parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: x\r\n\r\nhelloEXTRA")
                .unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), keep),
            (200, &b"hello"[..], true)
        );
        let (r, keep) = parse(
            "HTTP/1.1 500 INTERNAL ERROR\r\nConnection: Close\r\nTransfer-Encoding: chunked\r\n\r\n\
             3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), keep),
            (500, &b"abcdefg"[..], false)
        );
        let (r, keep) = parse("HTTP/1.0 200 OK\r\n\r\nall of it").unwrap();
        assert_eq!((r.body.as_slice(), keep), (&b"all of it"[..], false));
    }

    #[test]
    fn truncated_or_foreign_answers_are_errors() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").is_err());
        assert!(parse("SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(parse("").is_err());
    }

    /// A server that answers each request on a connection, keeping it open, then closes it after
    /// `per_conn` requests: the client reuses the connection, then notices it closed.
    #[test]
    fn keeps_connections_alive_and_reconnects_when_the_server_closed_one() {
        let dir = std::env::temp_dir().join(format!("skyfleet-unix-http-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let server = thread::spawn(move || {
            let mut conns = 0;
            for stream in listener.incoming().take(2) {
                conns += 1;
                let mut r = BufReader::new(stream.unwrap());
                for _ in 0..2 {
                    let mut len = 0;
                    loop {
                        let h = line(&mut r).unwrap();
                        if h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.strip_prefix("Content-Length: ") {
                            len = v.parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let answer = format!("conn {conns} got {}", String::from_utf8_lossy(&body));
                    write!(
                        r.get_mut(),
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    )
                    .unwrap();
                }
            }
        });
        let client = UnixHttp::new(&sock, Duration::from_secs(5));
        let mut got = Vec::new();
        for i in 0..4 {
            let r = client
                .request("POST", "/x", Some(format!("{i}").as_bytes()))
                .unwrap();
            got.push(String::from_utf8(r.body).unwrap());
            // Let the server close the first connection before the third request.
            thread::sleep(Duration::from_millis(20));
        }
        server.join().unwrap();
        assert_eq!(
            got,
            [
                "conn 1 got 0",
                "conn 1 got 1",
                "conn 2 got 2",
                "conn 2 got 3"
            ]
        );
        let err = UnixHttp::new(&dir.join("none.sock"), Duration::from_secs(1))
            .request("GET", "/", None)
            .unwrap_err();
        assert!(matches!(err, HttpError::Connect { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_silent_server_times_out() {
        let dir = std::env::temp_dir().join(format!("skyfleet-unix-http-t{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let _listener = UnixListener::bind(&sock).unwrap();
        let t0 = std::time::Instant::now();
        let err = UnixHttp::new(&sock, Duration::from_millis(200))
            .request("GET", "/", None)
            .unwrap_err();
        assert!(matches!(err, HttpError::TimedOut { .. }), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(3));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
