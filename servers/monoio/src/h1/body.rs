//! Request bodies, discarded: no endpoint reads one, but the next request on the connection starts where the
//! body ends, so its framing is followed exactly. Sized bodies are counted off; chunked ones are walked
//! chunk by chunk, with httparse parsing each chunk-size line and the trailer section.

use thiserror::Error;

/// The longest chunk-size line (size plus extensions) waited for, as hyper bounds chunk extensions.
pub const MAX_CHUNK_SIZE_LINE: usize = 16 * 1024;
/// Trailer fields accepted after the last chunk.
const MAX_TRAILERS: usize = 100;

/// Why a body cannot be followed to its end.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("invalid chunk size line")]
    ChunkSize,
    #[error("chunk data not followed by CRLF")]
    ChunkEnd,
    #[error("invalid trailer section")]
    Trailers,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunked {
    Size,
    Data { remaining: u64 },
    DataEnd,
    Trailers,
}

/// Follows one request body through the bytes the connection receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyDecoder {
    Sized { remaining: u64 },
    Chunked(Chunked),
    Done,
}

/// What one call to [`BodyDecoder::discard`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discarded {
    /// Bytes of the buffer that belonged to the body (the caller drops them).
    pub consumed: usize,
    /// The body has ended: what follows is the next request.
    pub done: bool,
}

impl BodyDecoder {
    pub fn sized(length: u64) -> BodyDecoder {
        if length == 0 { BodyDecoder::Done } else { BodyDecoder::Sized { remaining: length } }
    }

    pub fn chunked() -> BodyDecoder {
        BodyDecoder::Chunked(Chunked::Size)
    }

    /// Consumes as much of the body as `buf` holds. When it returns not done, everything it did not consume
    /// is an incomplete piece of framing (a chunk-size line, a CRLF, trailers) and more bytes are needed.
    pub fn discard(&mut self, buf: &[u8]) -> Result<Discarded, BodyError> {
        let mut at = 0;
        loop {
            let rest = buf.get(at..).unwrap_or_default();
            let step = match *self {
                BodyDecoder::Done => return Ok(Discarded { consumed: at, done: true }),
                BodyDecoder::Sized { remaining } => {
                    let (taken, remaining) = take(remaining, rest);
                    *self = if remaining == 0 { BodyDecoder::Done } else { BodyDecoder::Sized { remaining } };
                    Some(taken)
                }
                BodyDecoder::Chunked(state) => {
                    let step = chunked_step(state, rest)?;
                    step.map(|(taken, next)| {
                        *self = next;
                        taken
                    })
                }
            };
            match step {
                // The buffer is used up in the middle of the body's bytes.
                Some(0) if rest.is_empty() => {
                    return Ok(Discarded { consumed: at, done: false });
                }
                Some(taken) => at += taken,
                None => return Ok(Discarded { consumed: at, done: false }),
            }
        }
    }
}

/// Takes up to `remaining` bytes of `rest`: (bytes taken, bytes still to come).
fn take(remaining: u64, rest: &[u8]) -> (usize, u64) {
    let available = u64::try_from(rest.len()).unwrap_or(u64::MAX);
    let taken = remaining.min(available);
    (usize::try_from(taken).unwrap_or(rest.len()), remaining - taken)
}

/// One step of a chunked body: `None` when `rest` does not hold the whole next piece of framing, else the
/// bytes it took and the state after them.
fn chunked_step(state: Chunked, rest: &[u8]) -> Result<Option<(usize, BodyDecoder)>, BodyError> {
    match state {
        Chunked::Size => chunk_size(rest),
        Chunked::Data { remaining } => {
            let (taken, remaining) = take(remaining, rest);
            let next = if remaining == 0 { Chunked::DataEnd } else { Chunked::Data { remaining } };
            Ok(Some((taken, BodyDecoder::Chunked(next))))
        }
        Chunked::DataEnd => match rest {
            [b'\r', b'\n', ..] => Ok(Some((2, BodyDecoder::Chunked(Chunked::Size)))),
            [] | [b'\r'] => Ok(None),
            _ => Err(BodyError::ChunkEnd),
        },
        Chunked::Trailers => trailers(rest),
    }
}

fn chunk_size(rest: &[u8]) -> Result<Option<(usize, BodyDecoder)>, BodyError> {
    // httparse reads an empty size (a line starting with CR or `;`) as 0, which would end the body early:
    // the grammar wants at least one hex digit.
    if rest.first().is_some_and(|byte| !byte.is_ascii_hexdigit()) {
        return Err(BodyError::ChunkSize);
    }
    match httparse::parse_chunk_size(rest) {
        Ok(httparse::Status::Complete((len, 0))) => Ok(Some((len, BodyDecoder::Chunked(Chunked::Trailers)))),
        Ok(httparse::Status::Complete((len, size))) => {
            Ok(Some((len, BodyDecoder::Chunked(Chunked::Data { remaining: size }))))
        }
        Ok(httparse::Status::Partial) if rest.len() > MAX_CHUNK_SIZE_LINE => Err(BodyError::ChunkSize),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::InvalidChunkSize) => Err(BodyError::ChunkSize),
    }
}

fn trailers(rest: &[u8]) -> Result<Option<(usize, BodyDecoder)>, BodyError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
    match httparse::parse_headers(rest, &mut fields) {
        Ok(httparse::Status::Complete((len, _))) => Ok(Some((len, BodyDecoder::Done))),
        Ok(httparse::Status::Partial) if rest.len() > MAX_CHUNK_SIZE_LINE => Err(BodyError::Trailers),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(BodyError::Trailers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` in pieces of `step` bytes, keeping what was not consumed, as the connection does.
    /// Returns how many bytes the body was, or the error.
    fn feed(mut decoder: BodyDecoder, body: &[u8], step: usize) -> Result<Option<usize>, BodyError> {
        let mut pending = Vec::new();
        let mut total = 0;
        for piece in body.chunks(step) {
            pending.extend_from_slice(piece);
            let Discarded { consumed, done } = decoder.discard(&pending)?;
            total += consumed;
            pending.drain(..consumed);
            if done {
                return Ok(Some(total));
            }
        }
        Ok(None)
    }

    #[test]
    fn a_sized_body_ends_after_its_length_in_any_pieces() {
        for step in [1, 3, 100] {
            assert_eq!(feed(BodyDecoder::sized(5), b"helloGET", step), Ok(Some(5)), "step {step}");
        }
        assert_eq!(feed(BodyDecoder::sized(5), b"hell", 2), Ok(None));
        assert_eq!(BodyDecoder::sized(0), BodyDecoder::Done);
    }

    #[test]
    fn a_chunked_body_ends_after_the_last_chunk_and_trailers_in_any_pieces() {
        let body = b"4\r\nWiki\r\n5;ext=\"x\"\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n";
        let next = b"GET / HTTP/1.1\r\n\r\n";
        let stream = [&body[..], &next[..]].concat();
        for step in [1, 2, 7, 1000] {
            assert_eq!(feed(BodyDecoder::chunked(), &stream, step), Ok(Some(body.len())), "step {step}");
        }
        assert_eq!(feed(BodyDecoder::chunked(), b"0\r\n\r\n", 1), Ok(Some(5)));
        let ten = b"A\r\n0123456789\r\n0\r\n\r\n";
        assert_eq!(feed(BodyDecoder::chunked(), ten, 4), Ok(Some(ten.len())));
    }

    #[test]
    fn malformed_chunked_framing_is_an_error() {
        let cases: [(&[u8], BodyError); 7] = [
            (b"zz\r\n", BodyError::ChunkSize),
            (b"\r\n\r\n", BodyError::ChunkSize),
            (b";ext\r\n", BodyError::ChunkSize),
            (b"-1\r\n", BodyError::ChunkSize),
            (b"11111111111111111\r\n", BodyError::ChunkSize),
            (b"3\r\nabcX\r\n", BodyError::ChunkEnd),
            (b"0\r\nbad trailer\r\n\r\n", BodyError::Trailers),
        ];
        for (body, expected) in cases {
            assert_eq!(feed(BodyDecoder::chunked(), body, 100), Err(expected), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn an_endless_chunk_size_line_is_an_error() {
        let mut line = b"1;".to_vec();
        line.resize(MAX_CHUNK_SIZE_LINE + 10, b'x');
        assert_eq!(feed(BodyDecoder::chunked(), &line, 4096), Err(BodyError::ChunkSize));
    }
}
