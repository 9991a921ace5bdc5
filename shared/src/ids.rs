//! The ids the service makes: 128 random bits as 32 lowercase hex digits (token ids, session
//! ids), and the check that a text is one.

/// A random 128-bit id as 32 lowercase hex digits.
pub fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Bytes as lowercase hex digits (digests and MACs written as text).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `text` is an id as [`random_id`] makes them (a session id in a path, say).
pub fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
