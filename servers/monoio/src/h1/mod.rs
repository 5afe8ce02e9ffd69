//! HTTP/1.1 for the native arm, on top of httparse: what a parsed head means ([`head`]), following request
//! bodies to their end ([`body`]), and writing responses ([`response`]). No I/O here: the connection loop
//! (`crate::connection`) feeds these functions the bytes it received with owned-buffer completions.

pub mod body;
pub mod head;
pub mod response;
