//! File attachments: the pure pieces the edge uploads and serves them with. An upload streams
//! through `multipart::MultipartStream` into storage; these decide what may be stored, under
//! which key and name, and how a download is authorised and cut.
//!
//! - [`kind`]: the kinds of file accepted, told by extension, declared type and content;
//! - [`name`]: a client's file name made safe for paths and headers;
//! - [`key`]: the storage keys the edge chooses (never the client's name);
//! - [`signed`]: signed, expiring download URLs;
//! - [`range`]: HTTP ranges and `If-None-Match` for downloads.

pub mod key;
pub mod kind;
pub mod name;
pub mod range;
pub mod signed;
