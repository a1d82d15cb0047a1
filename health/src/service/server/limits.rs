//! Connection-level bounds: a cap on open connections (a connection past it is closed at
//! accept, before any TLS handshake), a first-byte timeout (a connection that sends nothing
//! is closed: hyper's protocol sniffing would wait for ever), and hyper's HTTP/1 header-read
//! timeout for each request's headers.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The HTTP settings of both schemes: a client has `header_timeout` to send a request's
/// headers, from the connection's start and between requests on a kept-alive connection.
pub(super) fn configure(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
) {
    // HTTP/1 only: hyper's HTTP/2 (which its auto builder would take on sight of the
    // preface, even under TLS) has none of these timeouts, so an idle HTTP/2 connection would
    // hold its permit for ever.
    let auto = std::mem::replace(
        builder,
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new()),
    );
    *builder = auto.http1_only();
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
}

/// An acceptor that holds one of `permits` for each connection's life, and closes a
/// connection at once when none is left.
#[derive(Clone)]
pub(super) struct Capped<A> {
    inner: A,
    permits: Arc<Semaphore>,
    first_byte: Duration,
}

impl<A> Capped<A> {
    /// `first_byte`: how long a new connection has to send its first byte (after the TLS
    /// handshake, which has its own timeout).
    pub fn new(inner: A, permits: Arc<Semaphore>, first_byte: Duration) -> Self {
        Self {
            inner,
            permits,
            first_byte,
        }
    }
}

type Accepted<S, Svc> = io::Result<(Permitted<S>, Svc)>;

impl<I, S, A> axum_server::accept::Accept<I, S> for Capped<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Permitted<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = Accepted<A::Stream, A::Service>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        match self.permits.clone().try_acquire_owned() {
            // The stream is dropped here: the connection closes before any handshake.
            Err(_) => {
                Box::pin(async { Err(io::Error::other("the server's connection cap is reached")) })
            }
            Ok(permit) => {
                let accepted = self.inner.accept(stream, service);
                let first_byte = self.first_byte;
                Box::pin(async move {
                    let (inner, service) = accepted.await?;
                    Ok((
                        Permitted {
                            inner,
                            _permit: permit,
                            first_byte: Some(Box::pin(tokio::time::sleep(first_byte))),
                        },
                        service,
                    ))
                })
            }
        }
    }
}

/// A connection's stream with its permit (released when the connection ends), and the
/// deadline of its first byte until that byte comes.
pub(super) struct Permitted<S> {
    inner: S,
    _permit: OwnedSemaphorePermit,
    first_byte: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Permitted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.first_byte = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.first_byte.as_mut().map(|s| s.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request within the header timeout",
                ))),
                _ => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Permitted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
