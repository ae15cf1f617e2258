//! What hyper answers on its own, made to look like every other answer: for a
//! request it cannot parse (400), whose address is too long (414) or whose head
//! is too large (431), hyper writes a bare status line before any route runs.
//! This wrapper of the connection's byte stream recognises such a head (an error
//! status and none of the headers every routed response carries) and writes in
//! its place the same answer with the security headers and a JSON body, as
//! [`super::ApiError`] renders it. Everything else passes through untouched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection's byte stream with hyper's canned error answers rewritten.
pub struct CannedErrors<S> {
    inner: S,
    /// A rewritten answer still to be written, and how much of it is.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> CannedErrors<S> {
    pub fn new(inner: S) -> Self {
        CannedErrors {
            inner,
            pending: None,
        }
    }
}

/// The answer to send instead of `head`, when `head` is one of hyper's own.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let status = head.strip_prefix(b"HTTP/1.1 ")?;
    let code = std::str::from_utf8(status.get(..3)?).ok()?;
    let (error, message) = match code {
        "400" => ("bad_request", "the request could not be read as HTTP"),
        "414" => ("uri_too_long", "the request's address is too long"),
        "431" => ("headers_too_large", "the request's headers are too large"),
        _ => return None,
    };
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let lower = head[..end].to_ascii_lowercase();
    // A routed response carries the security headers: leave it alone.
    if lower.windows(24).any(|w| w == b"content-security-policy:") {
        return None;
    }
    let reason = match code {
        "400" => "Bad Request",
        "414" => "URI Too Long",
        _ => "Request Header Fields Too Large",
    };
    let body = serde_json::json!({"error": error, "message": message}).to_string();
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in super::SECURITY_HEADERS {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<S: AsyncWrite + Unpin> CannedErrors<S> {
    /// Writes what is left of a rewritten answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            if *done == bytes.len() {
                self.pending = None;
                break;
            }
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CannedErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CannedErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        if let Some(answer) = rewrite(buf) {
            // The whole canned answer is taken; ours goes out in its place.
            self.pending = Some((answer, 0));
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_431_becomes_json_with_the_security_headers() {
        let canned = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sat, 28 Nov 2026 08:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(canned).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
        assert!(out.contains("content-security-policy: default-src 'self'"));
        assert!(out.contains("x-frame-options: DENY"));
        let body = out.split("\r\n\r\n").nth(1).unwrap();
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(j["error"], "headers_too_large");
        assert!(out.contains(&format!("content-length: {}\r\n", body.len())));
    }

    #[test]
    fn routed_answers_and_successes_pass_untouched() {
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").is_none());
        assert!(
            rewrite(
                b"HTTP/1.1 400 Bad Request\r\ncontent-security-policy: default-src 'self'\r\n\r\n"
            )
            .is_none()
        );
        assert!(rewrite(b"{\"a\": 1}").is_none());
        assert!(rewrite(b"HTTP/1.1 414 URI Too Long\r\n\r\n").is_some());
    }
}
