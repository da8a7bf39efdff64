//! Requests, serialized once.

/// One HTTP/1.1 request, already in wire format.
///
/// Serializing up front means a request sent thousands of times (the same
/// poll by every poller, the same post by a poster) costs one allocation in
/// total, and two requests can be pipelined by writing their bytes together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    bytes: Vec<u8>,
}

impl Request {
    /// `GET target` (a path with its query string) on `host`.
    pub fn get(host: &str, target: &str) -> Self {
        Self::new("GET", host, target, &[], None)
    }

    /// `METHOD target` on `host` with extra `headers` and, if given, a body
    /// of the given content type. Names and values are trusted: the bench
    /// builds them itself.
    pub fn new(
        method: &str,
        host: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Self {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some((content_type, body)) = body {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if let Some((_, body)) = body {
            bytes.extend_from_slice(body);
        }
        Self { bytes }
    }

    /// The bytes to write to the socket.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_has_a_request_line_a_host_and_no_body() {
        let request = Request::get("127.0.0.1:8080", "/messages?timeout=0");
        assert_eq!(
            request.as_bytes(),
            b"GET /messages?timeout=0 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
        );
    }

    #[test]
    fn a_post_declares_its_json_body_and_its_length() {
        let body = br#"{"body":"hi"}"#;
        let request = Request::new(
            "POST",
            "h",
            "/messages",
            &[],
            Some(("application/json", body)),
        );
        let text = String::from_utf8(request.as_bytes().to_vec()).unwrap();
        assert!(text.starts_with("POST /messages HTTP/1.1\r\nHost: h\r\n"));
        assert!(text.contains("\r\nContent-Type: application/json\r\n"));
        assert!(text.ends_with("Content-Length: 13\r\n\r\n{\"body\":\"hi\"}"));
    }

    #[test]
    fn extra_headers_come_after_the_host() {
        let request = Request::new("GET", "h", "/sub?chan=c", &[("Etag-Like", "0")], None);
        assert_eq!(
            request.as_bytes(),
            b"GET /sub?chan=c HTTP/1.1\r\nHost: h\r\nEtag-Like: 0\r\n\r\n"
        );
    }
}
