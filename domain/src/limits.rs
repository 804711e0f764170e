//! Input limits. Every input has one; both deployables enforce the same numbers.

/// Largest JSON body accepted on any endpoint (bytes). Larger bodies are refused with 413
/// before they are parsed.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// Longest raw password accepted. Argon2 cost grows with input; an unbounded password would be
/// a cheap way to burn the origin's CPU.
pub const MAX_PASSWORD_CHARS: usize = 4096;

/// Longest token string accepted by the token endpoints and the `Authorization` header.
pub const MAX_TOKEN_CHARS: usize = 4096;

/// Longest `X-Request-ID` taken from a client; anything longer (or with odd characters) is
/// replaced by a generated id.
pub const MAX_REQUEST_ID_CHARS: usize = 64;
