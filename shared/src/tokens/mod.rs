//! Tokens and the keys behind them: the JWTs (signed and verified under HS256 or ES256, with
//! their `kid`), the key ring a function holds, where the keys are read from and rotated, and
//! the mailed links' tokens whose MAC keys derive from the same keys.

pub mod jws;
pub mod jwt;
pub mod keys;
pub mod links;
pub mod source;

pub use jwt::{
    ACCESS_TOKEN_TYPE, Claims, Issued, PLAIN_TOKEN_TYPE, REFRESH_TOKEN_TYPE, SigningFailed, TokenFault, TokenKeys,
    TokenKind, TokenSettings, Verified,
};
pub use keys::{JwtAlgorithm, KeyMaterial, KeyRing, KeyUse};
