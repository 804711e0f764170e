//! Accounts and tokens: what a valid username, password and email are, and the JWTs the
//! origin issues and the edge verifies (simplejwt's claims and error messages).

mod credentials;
mod jws;
mod tokens;

pub use crate::error::TokenProblem;
pub use credentials::{
    Email, Login, NewAccount, PASSWORD_MIN, USERNAME_MAX, Username, password_problems,
};
pub use tokens::{Claims, TokenKeys, TokenLifetimes, TokenPair, TokenSubject, TokenType};
