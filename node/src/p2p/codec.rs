//! Length-prefixed, size-limited frames for the request-response protocols.
//!
//! Wire format of a request and of a response: a 4-byte big-endian length `n`, then `n` bytes.
//! A length above the limit is refused before anything is allocated, so a peer cannot make
//! us reserve memory by announcing a huge frame. The bytes themselves are opaque here; the node
//! decodes them with the size-checked `Versioned::from_bytes` of consensus / ledger.

use std::io;
use std::sync::Arc;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{request_response, StreamProtocol};

use super::stats::Counters;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// First chunk allocated when reading a frame; later chunks double as bytes arrive.
const INITIAL_READ_CHUNK: usize = 64 * 1024;

/// Why a frame was refused while reading; carried inside an [`io::Error`] of kind
/// [`io::ErrorKind::InvalidData`] because that is what the request-response codec can return.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("frame of {len} bytes exceeds the limit of {max} bytes")]
pub struct FrameTooLarge {
    /// Announced length.
    pub len: u64,
    /// Limit in force.
    pub max: usize,
}

/// Request-response codec with a size limit per direction.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    max_request_bytes: usize,
    max_response_bytes: usize,
    /// Where refused frames are counted. libp2p drops a request that fails to decode without
    /// telling the behaviour, so the codec is the only place that sees it.
    counters: Option<Arc<Counters>>,
}

impl FrameCodec {
    /// A codec refusing requests over `max_request_bytes` and responses over `max_response_bytes`.
    pub fn new(max_request_bytes: usize, max_response_bytes: usize) -> FrameCodec {
        FrameCodec {
            max_request_bytes,
            max_response_bytes,
            counters: None,
        }
    }

    /// Counts refused inbound frames in `counters.bad_frames`.
    pub(crate) fn counting(mut self, counters: Arc<Counters>) -> FrameCodec {
        self.counters = Some(counters);
        self
    }

    fn count_bad<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let (Err(e), Some(counters)) = (&result, &self.counters) {
            if is_bad_frame(e) {
                Counters::add(&counters.bad_frames, 1);
                tracing::debug!(error = %e, "p2p: bad frame refused");
            }
        }
        result
    }
}

/// Reads one frame of at most `max` bytes.
pub async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; LENGTH_PREFIX_BYTES];
    io.read_exact(&mut prefix).await?;
    let len = u32::from_be_bytes(prefix);
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            FrameTooLarge {
                len: u64::from(len),
                max,
            },
        ));
    }
    // Grow with the bytes that actually arrive rather than trusting the announced length: a
    // peer that announces a large frame and sends little costs us about what it sent (at most
    // twice that plus one chunk), not what it announced. Chunks double, so a large honest frame
    // takes few reads. (`read_to_end` was ten times slower here on yamux streams.)
    let mut frame = Vec::new();
    while frame.len() < len_usize {
        let start = frame.len();
        let chunk = (len_usize - start).min(start.max(INITIAL_READ_CHUNK));
        frame.resize(start + chunk, 0);
        io.read_exact(&mut frame[start..]).await?;
    }
    Ok(frame)
}

/// Writes one frame; refuses (without writing) a frame over `max` bytes.
pub async fn write_frame<T>(io: &mut T, frame: &[u8], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len = u32::try_from(frame.len())
        .ok()
        .filter(|_| frame.len() <= max)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                FrameTooLarge {
                    len: frame.len() as u64,
                    max,
                },
            )
        })?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(frame).await?;
    io.flush().await
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let result = read_frame(io, self.max_request_bytes).await;
        self.count_bad(result)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let result = read_frame(io, self.max_response_bytes).await;
        self.count_bad(result)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, self.max_request_bytes).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, self.max_response_bytes).await
    }
}

/// True if an I/O error is a frame refused by this codec (or otherwise malformed data).
pub fn is_bad_frame(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;

    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn round_trip() {
        let mut buf = Cursor::new(Vec::new());
        block_on(write_frame(&mut buf, b"hello", 16)).unwrap();
        assert_eq!(buf.get_ref().len(), LENGTH_PREFIX_BYTES + 5);
        buf.set_position(0);
        assert_eq!(block_on(read_frame(&mut buf, 16)).unwrap(), b"hello");
    }

    #[test]
    fn empty_frame_round_trips() {
        let mut buf = Cursor::new(Vec::new());
        block_on(write_frame(&mut buf, b"", 0)).unwrap();
        buf.set_position(0);
        assert!(block_on(read_frame(&mut buf, 0)).unwrap().is_empty());
    }

    #[test]
    fn oversized_announcement_is_refused_before_reading() {
        // Announces 4 GiB but sends nothing: must fail on the length, not wait for data.
        let mut buf = Cursor::new(vec![0xff, 0xff, 0xff, 0xff]);
        let err = block_on(read_frame(&mut buf, 1024)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(is_bad_frame(&err));
        let inner = err
            .into_inner()
            .unwrap()
            .downcast::<FrameTooLarge>()
            .unwrap();
        assert_eq!(
            *inner,
            FrameTooLarge {
                len: u64::from(u32::MAX),
                max: 1024
            }
        );
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let mut buf = Cursor::new(vec![0, 0, 0, 10, 1, 2, 3]);
        let err = block_on(read_frame(&mut buf, 1024)).unwrap_err();
        assert!(is_bad_frame(&err));
    }

    #[test]
    fn large_frame_is_read_in_growing_chunks() {
        let frame: Vec<u8> = (0..1_000_003u32).map(|i| i as u8).collect();
        let mut buf = Cursor::new(Vec::new());
        block_on(write_frame(&mut buf, &frame, 2_000_000)).unwrap();
        buf.set_position(0);
        assert_eq!(block_on(read_frame(&mut buf, 2_000_000)).unwrap(), frame);
        // Announced 1 MB, sent 10 bytes: an error, not a hang or a 1 MB allocation up front.
        let mut short = Cursor::new([&1_000_000u32.to_be_bytes()[..], &[1u8; 10]].concat());
        assert!(is_bad_frame(
            &block_on(read_frame(&mut short, 2_000_000)).unwrap_err()
        ));
    }

    #[test]
    fn oversized_write_is_refused() {
        let mut buf = Cursor::new(Vec::new());
        let err = block_on(write_frame(&mut buf, &[0u8; 17], 16)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(buf.get_ref().is_empty());
    }
}
