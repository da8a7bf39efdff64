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
        Self {
            bytes: format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(),
        }
    }

    /// `POST target` on `host` with a JSON body.
    pub fn post_json(host: &str, target: &str, body: &[u8]) -> Self {
        let mut bytes = format!(
            "POST {target} HTTP/1.1\r\nHost: {host}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
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
        let request = Request::post_json("h", "/messages", br#"{"body":"hi"}"#);
        let text = String::from_utf8(request.as_bytes().to_vec()).unwrap();
        assert!(text.starts_with("POST /messages HTTP/1.1\r\nHost: h\r\n"));
        assert!(text.contains("\r\nContent-Type: application/json\r\n"));
        assert!(text.ends_with("Content-Length: 13\r\n\r\n{\"body\":\"hi\"}"));
    }
}
