//! Unread request bodies, drained: whatever part of a body its handler did not read (a 404, a
//! 405, a rejected query, a 413 past the limit) is read and dropped, frame by frame, before
//! the answer goes, up to the largest body limit and for at most [`DRAIN_TIME`]. A plain
//! HTTP/1.1 client writes its whole request before it reads the answer; without this it would
//! see a broken pipe instead of the status. Nothing is kept.

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;

/// The longest an unread body is drained.
pub(super) const DRAIN_TIME: Duration = Duration::from_secs(5);

/// A body that gives itself back, on drop, if it was not read to its end.
struct ReturnOnDrop {
    inner: Option<Body>,
    back: Option<oneshot::Sender<Body>>,
}

impl http_body::Body for ReturnOnDrop {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for ReturnOnDrop {
    fn drop(&mut self) {
        if let (Some(body), Some(back)) = (self.inner.take(), self.back.take()) {
            if !http_body::Body::is_end_stream(&body) {
                let _ = back.send(body);
            }
        }
    }
}

/// The middleware: runs the request with a body that comes back if left unread, then drains
/// what came back (at most `limit` bytes, for at most [`DRAIN_TIME`]).
pub(super) async fn drain_unread(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let (back, returned) = oneshot::channel();
    let body = Body::new(ReturnOnDrop {
        inner: Some(body),
        back: Some(back),
    });
    let response = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    if let Ok(rest) = returned.await {
        let _ = tokio::time::timeout(DRAIN_TIME, discard(rest, limit)).await;
    }
    response
}

/// Reads and drops a body frame by frame, at most `limit` bytes.
pub(super) async fn discard(mut body: Body, limit: usize) {
    use http_body_util::BodyExt;
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len());
        if seen > limit {
            return;
        }
    }
}
