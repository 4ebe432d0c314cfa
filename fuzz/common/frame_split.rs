//! What the `frame_split` fuzz target does with one input, shared (through `#[path]`)
//! with `branchline-tests`' replay test and seed generator.
//!
//! The first byte picks the frame limit (small ones exercise refusals), the rest is a
//! byte stream cut into frames with [`split_frame`] until it runs out. Every frame
//! handed out must fit the limit and agree with [`decode_header`] and
//! [`encode_frame`]; a partial frame must really be partial; a refusal must come from
//! a header over the limit. Nothing may panic.

use branchline_net::frame::{decode_header, encode_frame, split_frame, HEADER_LEN};
use branchline_net::DEFAULT_MAX_FRAME;

/// How the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every byte belonged to a complete frame.
    Clean,
    /// The stream stops inside a frame (or a header).
    Partial,
    /// A header announced more than the limit.
    TooLarge,
}

/// The frame limit the first byte picks.
pub fn limit(pick: u8) -> usize {
    match pick % 4 {
        0 => usize::from(pick),
        1 => 1 << 16,
        2 => DEFAULT_MAX_FRAME,
        _ => usize::MAX,
    }
}

fn header_of(buf: &[u8]) -> Option<[u8; HEADER_LEN]> {
    buf.first_chunk::<HEADER_LEN>().copied()
}

/// Split `data` (limit byte, then the stream); returns the payloads and how it ended.
pub fn run(data: &[u8]) -> Option<(Vec<&[u8]>, End)> {
    let (&pick, stream) = data.split_first()?;
    let max = limit(pick);
    let mut rest = stream;
    let mut payloads = Vec::new();
    let end = loop {
        match split_frame(rest, max) {
            Ok(Some((payload, after))) => {
                assert!(payload.len() <= max, "payload over the limit");
                assert_eq!(HEADER_LEN + payload.len() + after.len(), rest.len());
                let header = header_of(rest);
                assert!(header.is_some(), "a frame without a header");
                if let Some(header) = header {
                    assert_eq!(decode_header(header, max).ok(), Some(payload.len()));
                }
                if payload.len() <= DEFAULT_MAX_FRAME {
                    let again = encode_frame(payload).ok();
                    assert_eq!(again.as_deref(), rest.get(..HEADER_LEN + payload.len()));
                }
                payloads.push(payload);
                rest = after;
            }
            Ok(None) => {
                if let Some(header) = header_of(rest) {
                    let len = decode_header(header, max);
                    assert!(
                        len.is_ok_and(|len| rest.len() - HEADER_LEN < len),
                        "a complete frame reported as partial"
                    );
                } else if rest.is_empty() {
                    break End::Clean;
                }
                break End::Partial;
            }
            Err(_) => {
                let header = header_of(rest);
                assert!(
                    header.is_some_and(|h| u64::from(u32::from_le_bytes(h)) > max as u64),
                    "refused a header within the limit"
                );
                assert!(header.is_some_and(|h| decode_header(h, max).is_err()));
                break End::TooLarge;
            }
        }
    };
    assert!(payloads.len() <= stream.len() / HEADER_LEN);
    Some((payloads, end))
}
