//! Just enough HTTP/1.1 for loopback clients: request line, headers, `Content-Length` or
//! chunked bodies, keep-alive, and answers with a known length.

use std::io::{self, BufRead, Read, Write};

/// Headers larger than this are refused: no honest client of the sandbox sends them.
const MAX_HEAD: usize = 64 * 1024;
/// 250 entities with every field filled stay far below this.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// One parsed request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The path without the query string, percent-decoding not applied.
    pub path: String,
    /// The raw query string (without `?`), if the target had one.
    pub query: Option<String>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client asked to keep the connection open (HTTP/1.1 default).
    pub keep_alive: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Query parameters, decoded, in order; a key may repeat (`filter[id][]`).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query.as_deref().map(parse_form).unwrap_or_default()
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// What went wrong reading a request.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection between requests: not an error.
    Closed,
    /// Malformed or oversized: answer 400 and close.
    Bad(&'static str),
    /// The connection broke or stayed idle too long: close it.
    Io,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

/// Reads one request from a buffered connection; `w` gets the interim `100 Continue` that
/// clients sending `Expect: 100-continue` (curl, for large bodies) wait for.
pub fn read_request(r: &mut impl BufRead, w: &mut impl Write) -> Result<Request, ReadError> {
    let mut line = String::new();
    // Tolerate stray empty lines between pipelined requests (RFC 9112 §2.2).
    loop {
        line.clear();
        let n = read_line_limited(r, &mut line)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad("malformed request line"));
    };
    let http10 = version.eq_ignore_ascii_case("HTTP/1.0");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let mut req = Request {
        method: method.to_ascii_uppercase(),
        path,
        query,
        ..Request::default()
    };
    let mut head = line.len();
    loop {
        line.clear();
        let n = read_line_limited(r, &mut line)?;
        if n == 0 {
            return Err(ReadError::Bad("connection closed inside the headers"));
        }
        head += n;
        if head > MAX_HEAD {
            return Err(ReadError::Bad("headers too large"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            req.headers
                .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let connection = req.header("connection").map(str::to_ascii_lowercase);
    req.keep_alive = match connection.as_deref() {
        Some(c) if c.contains("close") => false,
        Some(c) if c.contains("keep-alive") => true,
        _ => !http10,
    };
    if req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if chunked {
        req.body = read_chunked(r)?;
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| ReadError::Bad("bad Content-Length"))?;
        if len > MAX_BODY {
            return Err(ReadError::Bad("body too large"));
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        req.body = body;
    }
    Ok(req)
}

fn read_line_limited(r: &mut impl BufRead, line: &mut String) -> Result<usize, ReadError> {
    let mut buf = Vec::new();
    let n = r.take(MAX_HEAD as u64).read_until(b'\n', &mut buf)?;
    if n > 0 && !buf.ends_with(b"\n") && n >= MAX_HEAD {
        return Err(ReadError::Bad("header line too long"));
    }
    line.push_str(&String::from_utf8_lossy(&buf));
    Ok(n)
}

fn read_chunked(r: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if read_line_limited(r, &mut line)? == 0 {
            return Err(ReadError::Bad("connection closed inside a chunked body"));
        }
        let size = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16).map_err(|_| ReadError::Bad("bad chunk size"))?;
        if body.len() + size > MAX_BODY {
            return Err(ReadError::Bad("body too large"));
        }
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                line.clear();
                if read_line_limited(r, &mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        line.clear();
        read_line_limited(r, &mut line)?;
    }
}

/// One answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
        }
    }
    pub fn hal(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/hal+json",
            body: value.to_string().into_bytes(),
        }
    }
    pub fn problem(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            content_type: "application/problem+json",
            body: value.to_string().into_bytes(),
        }
    }
    pub fn no_content() -> Response {
        Response {
            status: 204,
            content_type: "",
            body: Vec::new(),
        }
    }
    /// The body parsed back, for tests.
    #[cfg(test)]
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Writes an answer in one `write_all` (with `TCP_NODELAY` this is one segment or few).
pub fn write_response(w: &mut impl Write, resp: &Response, keep_alive: bool) -> io::Result<()> {
    let mut out = Vec::with_capacity(resp.body.len() + 160);
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    out.extend_from_slice(b"Server: amocrm-sandbox\r\n");
    if resp.status != 204 {
        if !resp.content_type.is_empty() {
            let _ = write!(out, "Content-Type: {}\r\n", resp.content_type);
        }
        let _ = write!(out, "Content-Length: {}\r\n", resp.body.len());
    }
    if resp.status == 429 {
        out.extend_from_slice(b"Retry-After: 1\r\n");
    }
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n".as_slice()
    } else {
        b"Connection: close\r\n\r\n".as_slice()
    });
    if resp.status != 204 {
        out.extend_from_slice(&resp.body);
    }
    w.write_all(&out)?;
    w.flush()
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// `application/x-www-form-urlencoded` (also query strings) → decoded pairs.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn reads_a_request_with_body_and_query() {
        let raw = b"POST /api/v4/contacts?limit=5&filter%5Bid%5D%5B%5D=7 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n[{}]GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
        let mut r = BufReader::new(&raw[..]);
        let req = read_request(&mut r, &mut Vec::new()).expect("first request");
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/api/v4/contacts");
        assert_eq!(req.body, b"[{}]");
        assert!(req.keep_alive);
        assert_eq!(
            req.query_pairs(),
            vec![
                ("limit".to_string(), "5".to_string()),
                ("filter[id][]".to_string(), "7".to_string())
            ]
        );
        let second = read_request(&mut r, &mut Vec::new()).expect("second request");
        assert_eq!(second.path, "/");
        assert!(!second.keep_alive);
        assert!(matches!(
            read_request(&mut r, &mut Vec::new()),
            Err(ReadError::Closed)
        ));
    }

    #[test]
    fn reads_a_chunked_body() {
        let raw = b"PATCH /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let req = read_request(&mut BufReader::new(&raw[..]), &mut Vec::new()).expect("request");
        assert_eq!(req.body, b"abcde");
    }

    #[test]
    fn answers_expect_100_continue() {
        let raw = b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n[]";
        let mut interim = Vec::new();
        let req = read_request(&mut BufReader::new(&raw[..]), &mut interim).expect("request");
        assert_eq!(req.body, b"[]");
        assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn refuses_a_malformed_request_line() {
        let raw = b"NONSENSE\r\n\r\n";
        assert!(matches!(
            read_request(&mut BufReader::new(&raw[..]), &mut Vec::new()),
            Err(ReadError::Bad(_))
        ));
    }

    #[test]
    fn decodes_forms() {
        assert_eq!(
            parse_form("a=1+2&b=%D0%98%D0%B2&c&d=%zz"),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "Ив".into()),
                ("c".into(), "".into()),
                ("d".into(), "%zz".into())
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn writes_no_body_for_204() {
        let mut out = Vec::new();
        write_response(&mut out, &Response::no_content(), true).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("\r\n\r\n"));
    }
}
