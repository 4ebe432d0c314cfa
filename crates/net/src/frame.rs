//! Length-prefixed frames: a `u32` little-endian byte count, then that many bytes.
//!
//! Works over any tokio `AsyncRead`/`AsyncWrite` (quinn's `RecvStream`/`SendStream` among
//! them). Nothing from the peer is trusted: the announced length is checked against the
//! caller's limit *before* anything is allocated for it, and the body buffer grows only as
//! bytes actually arrive. A frame cut short is an error; a stream that ends cleanly between
//! frames is `Ok(None)`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{NetError, Result};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 4;

/// The default (and recommended hard) limit on one frame's payload: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// The header for a payload of `len` bytes, refusing anything above `max_len` (and above
/// what a `u32` can say).
pub fn encode_header(len: usize, max_len: usize) -> Result<[u8; HEADER_LEN]> {
    let too_large = || NetError::FrameTooLarge {
        len: len as u64,
        max: max_len.min(u32::MAX as usize) as u64,
    };
    if len > max_len {
        return Err(too_large());
    }
    let len32 = u32::try_from(len).map_err(|_| too_large())?;
    Ok(len32.to_le_bytes())
}

/// The payload length a header announces, refused above `max_len`.
pub fn decode_header(header: [u8; HEADER_LEN], max_len: usize) -> Result<usize> {
    let len = u32::from_le_bytes(header);
    let len_usize = usize::try_from(len).map_err(|_| NetError::FrameTooLarge {
        len: len as u64,
        max: max_len as u64,
    })?;
    if len_usize > max_len {
        return Err(NetError::FrameTooLarge {
            len: len as u64,
            max: max_len as u64,
        });
    }
    Ok(len_usize)
}

/// One frame (header and payload) as bytes, refusing payloads above [`DEFAULT_MAX_FRAME`].
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>> {
    let header = encode_header(payload.len(), DEFAULT_MAX_FRAME)?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    Ok(out)
}

/// Splits the first complete frame off `buf`: `Ok(Some((payload, rest)))`, `Ok(None)` when
/// `buf` holds only part of a frame so far, an error when the header announces more than
/// `max_len`. For decoding frames from memory (bundles, fuzzing).
pub fn split_frame(buf: &[u8], max_len: usize) -> Result<Option<(&[u8], &[u8])>> {
    let Some((header, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let len = decode_header(*header, max_len)?;
    if rest.len() < len {
        return Ok(None);
    }
    Ok(Some(rest.split_at(len)))
}

/// Writes one frame. Refuses payloads above [`DEFAULT_MAX_FRAME`] (the peer would too).
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(w: &mut W, payload: &[u8]) -> Result<()> {
    let header = encode_header(payload.len(), DEFAULT_MAX_FRAME)?;
    w.write_all(&header).await.map_err(stream_err)?;
    w.write_all(payload).await.map_err(stream_err)?;
    Ok(())
}

/// Reads one frame of at most `max_len` bytes. `Ok(None)` when the stream ended cleanly
/// before a new frame began; [`NetError::FrameTruncated`] when it ended inside one;
/// [`NetError::FrameTooLarge`] when the header announces more than `max_len` (nothing of the
/// payload is read or allocated then; the caller should stop or reset the stream).
pub async fn read_frame<R: AsyncRead + Unpin + ?Sized>(r: &mut R, max_len: usize) -> Result<Option<Vec<u8>>> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        let n = r.read(&mut header[filled..]).await.map_err(stream_err)?;
        if n == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(NetError::FrameTruncated {
                expected: HEADER_LEN as u64,
                got: filled as u64,
            });
        }
        filled += n;
    }
    let len = decode_header(header, max_len)?;
    // Grow as bytes arrive: a header alone must not make us allocate up to `max_len`.
    let mut payload = Vec::with_capacity(len.min(64 * 1024));
    let mut limited = (&mut *r).take(len as u64);
    limited.read_to_end(&mut payload).await.map_err(stream_err)?;
    if payload.len() < len {
        return Err(NetError::FrameTruncated {
            expected: len as u64,
            got: payload.len() as u64,
        });
    }
    Ok(Some(payload))
}

/// Maps an IO error from a stream; when it carries a quinn connection loss, the reason for
/// the loss (refused handshake, closed by the peer, timed out) is kept.
fn stream_err(e: std::io::Error) -> NetError {
    let lost = e.get_ref().and_then(|inner| {
        if let Some(quinn::ReadError::ConnectionLost(c)) = inner.downcast_ref::<quinn::ReadError>() {
            return Some(c.clone());
        }
        if let Some(quinn::WriteError::ConnectionLost(c)) = inner.downcast_ref::<quinn::WriteError>() {
            return Some(c.clone());
        }
        None
    });
    match lost {
        Some(c) => crate::endpoint::map_connection_error(&c),
        None => NetError::Stream(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_over_a_pipe() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            write_frame(&mut a, b"hello").await.unwrap();
            write_frame(&mut a, b"").await.unwrap();
            write_frame(&mut a, &vec![7u8; 100_000]).await.unwrap();
        });
        assert_eq!(
            read_frame(&mut b, DEFAULT_MAX_FRAME).await.unwrap().unwrap(),
            b"hello"
        );
        assert_eq!(read_frame(&mut b, DEFAULT_MAX_FRAME).await.unwrap().unwrap(), b"");
        assert_eq!(
            read_frame(&mut b, DEFAULT_MAX_FRAME).await.unwrap().unwrap(),
            vec![7u8; 100_000]
        );
        writer.await.unwrap();
        assert!(read_frame(&mut b, DEFAULT_MAX_FRAME).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_header_is_refused_before_reading() {
        let bytes = u32::MAX.to_le_bytes();
        let mut r: &[u8] = &bytes;
        let err = read_frame(&mut r, DEFAULT_MAX_FRAME).await.unwrap_err();
        assert_eq!(err.code(), "net.frame_too_large");
        let bytes = 11u32.to_le_bytes();
        let mut r: &[u8] = &bytes;
        assert_eq!(
            read_frame(&mut r, 10).await.unwrap_err().code(),
            "net.frame_too_large"
        );
    }

    #[tokio::test]
    async fn short_frames_are_errors() {
        let mut r: &[u8] = &[1, 0];
        let err = read_frame(&mut r, 100).await.unwrap_err();
        assert!(
            matches!(err, NetError::FrameTruncated { expected: 4, got: 2 }),
            "{err}"
        );
        let mut bytes = 10u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let mut r: &[u8] = &bytes;
        let err = read_frame(&mut r, 100).await.unwrap_err();
        assert!(
            matches!(err, NetError::FrameTruncated { expected: 10, got: 3 }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn writer_refuses_oversized_payloads() {
        let mut sink = tokio::io::sink();
        let big = vec![0u8; DEFAULT_MAX_FRAME + 1];
        assert_eq!(
            write_frame(&mut sink, &big).await.unwrap_err().code(),
            "net.frame_too_large"
        );
        assert!(encode_frame(&big).is_err());
    }

    #[test]
    fn split_frames_from_memory() {
        let mut buf = encode_frame(b"one").unwrap();
        buf.extend(encode_frame(b"two").unwrap());
        let (first, rest) = split_frame(&buf, 100).unwrap().unwrap();
        assert_eq!(first, b"one");
        let (second, rest) = split_frame(rest, 100).unwrap().unwrap();
        assert_eq!(second, b"two");
        assert!(rest.is_empty());
        assert!(split_frame(rest, 100).unwrap().is_none());
        assert!(split_frame(&buf[..5], 100).unwrap().is_none());
        assert!(split_frame(&buf, 2).is_err());
    }

    #[test]
    fn headers_are_little_endian() {
        assert_eq!(encode_header(0x0102_0304, usize::MAX).unwrap(), [4, 3, 2, 1]);
        assert_eq!(decode_header([4, 3, 2, 1], usize::MAX).unwrap(), 0x0102_0304);
    }
}
