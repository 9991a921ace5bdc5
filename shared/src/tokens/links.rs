//! The two links the service mails, both stateless and signed, as Django's and allauth's are.
//!
//! - A password reset token is Django's `PasswordResetTokenGenerator`: `<timestamp>-<mac>`, the
//!   MAC over the user's id, password hash, last login, the timestamp and the email. It is
//!   valid for `PASSWORD_RESET_TIMEOUT` seconds and dies with any of those: a reset (new hash)
//!   spends it, and so does a login. The `uid` beside it is the id in URL-safe base64, as
//!   Django's `urlsafe_base64_encode`.
//! - A confirmation key is allauth's HMAC key, `<uid>:<timestamp>:<mac>`, the MAC over the id,
//!   the email and the timestamp, valid for `EMAIL_CONFIRM_TIMEOUT` seconds. It needs no record:
//!   once the address is verified it has nothing left to do (the route then answers 404, as
//!   allauth does).
//!
//! Both MACs are HMAC-SHA-256 under keys derived (HKDF-SHA-256) from the service's signing
//! key, each with its own label: no new secret to provision or rotate, and neither key can
//! stand in for the other or for the token signing key. They are compared in constant time.
//! The keys are derived from every signing key held (`keys::KeyRing`): the current one makes
//! links, the previous one still checks them, so a key rotation does not void a link mailed
//! just before it, and a warm function's re-read of the keys renews these with them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{hkdf, hmac};
use subtle::ConstantTimeEq;

use crate::ids::hex;
use crate::store::User;

/// HKDF's labels: one key per purpose.
const RESET_LABEL: &[u8] = b"account-api/password-reset-token/v1";
const CONFIRM_LABEL: &[u8] = b"account-api/email-confirmation-key/v1";
const ADDRESS_LABEL: &[u8] = b"account-api/event-address/v1";
/// Bytes of an address's keyed hash in the event log: 128 bits, hex.
const ADDRESS_TAG_BYTES: usize = 16;
/// Bytes of the MAC kept in a link: 128 bits, as Django keeps.
const MAC_BYTES: usize = 16;
/// A timestamp this far in the future is still accepted (clock skew between instances).
const FUTURE_SKEW_SECONDS: i64 = 300;
/// The longest base36 timestamp read (13 digits cover every i64).
const MAX_TIMESTAMP_DIGITS: usize = 13;

/// The two MAC keys of each signing key held, the current one's first.
pub struct EmailKeys {
    reset: Vec<hmac::Key>,
    confirm: Vec<hmac::Key>,
    /// The current key's only: the events of one address match while the key does.
    address: hmac::Key,
}

/// The MAC keys could not be derived: only a broken crypto backend can cause it, and then the
/// keys are refused (the function does not start) rather than replaced by any fixed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the mailed links' keys could not be derived")]
pub struct DerivationFailed;

/// The length of the derived HMAC-SHA-256 keys.
const MAC_KEY_BYTES: usize = 32;

struct OutputLength(usize);

impl hkdf::KeyType for OutputLength {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA-256 of `secret` for `label`, `length` bytes; an error, never a default, if it fails.
fn derive_bytes(secret: &[u8], label: &[u8], length: usize) -> Result<Vec<u8>, DerivationFailed> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"account-api/email").extract(secret);
    let info = [label];
    let okm = prk.expand(&info, OutputLength(length)).map_err(|_| DerivationFailed)?;
    let mut bytes = vec![0u8; length];
    okm.fill(&mut bytes).map_err(|_| DerivationFailed)?;
    Ok(bytes)
}

fn derive(secret: &[u8], label: &[u8]) -> Result<hmac::Key, DerivationFailed> {
    derive_bytes(secret, label, MAC_KEY_BYTES).map(|bytes| hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

impl EmailKeys {
    /// The keys of the current signing key's secret and, if any, the previous one's.
    pub fn from_secrets(current: &[u8], previous: Option<&[u8]>) -> Result<Self, DerivationFailed> {
        let secrets: Vec<&[u8]> = std::iter::once(current).chain(previous).collect();
        Ok(EmailKeys {
            reset: secrets
                .iter()
                .map(|secret| derive(secret, RESET_LABEL))
                .collect::<Result<_, _>>()?,
            confirm: secrets
                .iter()
                .map(|secret| derive(secret, CONFIRM_LABEL))
                .collect::<Result<_, _>>()?,
            address: derive(current, ADDRESS_LABEL)?,
        })
    }

    pub fn from_secret(secret: &[u8]) -> Result<Self, DerivationFailed> {
        Self::from_secrets(secret, None)
    }

    /// The event log's name for an address no account has: a keyed hash (HMAC-SHA-256, 128
    /// bits in hex) of the canonical address, so attempts on one address can be counted without
    /// the address being stored, and nobody without the key can test a guess against it.
    pub fn address_tag(&self, canonical_email: &str) -> String {
        let mac = hmac::sign(&self.address, canonical_email.as_bytes());
        mac.as_ref()[..ADDRESS_TAG_BYTES]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// Django's reset token for `user`, made at `now`.
    pub fn reset_token(&self, user: &User, now: i64) -> String {
        let timestamp = to_base36(now);
        format!("{timestamp}-{}", hex(&reset_mac(&self.reset[0], user, now)))
    }

    /// Whether `token` is a reset token for `user` as the user is now, made at most `timeout`
    /// seconds before `now`.
    pub fn check_reset_token(&self, user: &User, token: &str, now: i64, timeout: i64) -> bool {
        let Some((timestamp, mac)) = token.split_once('-') else {
            return false;
        };
        let Some(made) = from_base36(timestamp).filter(|made| fresh(*made, now, timeout)) else {
            return false;
        };
        // The timestamp itself must be spelt as we spell it (no leading zeros): one token per MAC.
        timestamp == to_base36(made)
            && self.reset.iter().any(|mac_key| {
                let expected = hex(&reset_mac(mac_key, user, made));
                bool::from(expected.as_bytes().ct_eq(mac.as_bytes()))
            })
    }

    /// allauth-style confirmation key for the user's current address, made at `now`.
    pub fn confirmation_key(&self, user_id: u64, email: &str, now: i64) -> String {
        let mac = URL_SAFE_NO_PAD.encode(confirm_mac(&self.confirm[0], user_id, email, now));
        format!("{}:{}:{mac}", encode_uid(user_id), to_base36(now))
    }

    /// The user id a confirmation key names and when it was made, if it is well formed; the MAC
    /// is checked by [`EmailKeys::check_confirmation_key`] once the user's address is known.
    pub fn read_confirmation_key(key: &str) -> Option<(u64, i64)> {
        let mut parts = key.split(':');
        let (uid, timestamp, _mac, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
            return None;
        };
        let made = from_base36(timestamp)?;
        (to_base36(made) == timestamp).then_some(())?;
        Some((decode_uid(uid)?, made))
    }

    /// Whether `key` confirms `email` of `user_id`, made at most `timeout` seconds before `now`.
    pub fn check_confirmation_key(&self, key: &str, user_id: u64, email: &str, now: i64, timeout: i64) -> bool {
        let Some((named, made)) = Self::read_confirmation_key(key) else {
            return false;
        };
        let Some(mac) = key.rsplit(':').next() else {
            return false;
        };
        named == user_id
            && fresh(made, now, timeout)
            && self.confirm.iter().any(|mac_key| {
                let expected = URL_SAFE_NO_PAD.encode(confirm_mac(mac_key, user_id, email, made));
                bool::from(expected.as_bytes().ct_eq(mac.as_bytes()))
            })
    }
}

fn reset_mac(key: &hmac::Key, user: &User, made: i64) -> [u8; MAC_BYTES] {
    let last_login = user.last_login.as_deref().unwrap_or_default();
    let message = [
        user.id.to_string().as_str(),
        &user.password_hash,
        last_login,
        &made.to_string(),
        &user.email,
    ]
    .join("\u{0}");
    truncate(hmac::sign(key, message.as_bytes()))
}

fn confirm_mac(key: &hmac::Key, user_id: u64, email: &str, made: i64) -> [u8; MAC_BYTES] {
    let message = [user_id.to_string().as_str(), email, &made.to_string()].join("\u{0}");
    truncate(hmac::sign(key, message.as_bytes()))
}

fn fresh(made: i64, now: i64, timeout: i64) -> bool {
    made <= now.saturating_add(FUTURE_SKEW_SECONDS) && now.saturating_sub(made) <= timeout
}

fn truncate(tag: hmac::Tag) -> [u8; MAC_BYTES] {
    let mut mac = [0u8; MAC_BYTES];
    mac.copy_from_slice(&tag.as_ref()[..MAC_BYTES]);
    mac
}

/// Django's `urlsafe_base64_encode(force_bytes(pk))`: the decimal id in URL-safe base64, no padding.
pub fn encode_uid(user_id: u64) -> String {
    URL_SAFE_NO_PAD.encode(user_id.to_string())
}

/// The id of a `uid`, if it is exactly how [`encode_uid`] spells one (padding tolerated, as
/// Django's decoder adds it back).
pub fn decode_uid(uid: &str) -> Option<u64> {
    let trimmed = uid.trim_end_matches('=');
    if trimmed.len() > 28 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(trimmed).ok()?;
    let digits = std::str::from_utf8(&bytes).ok()?;
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let id: u64 = digits.parse().ok()?;
    (id > 0 && encode_uid(id) == trimmed).then_some(id)
}

fn to_base36(value: i64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut value = value.max(0) as u64;
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn from_base36(text: &str) -> Option<i64> {
    if text.is_empty()
        || text.len() > MAX_TIMESTAMP_DIGITS
        || !text.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    {
        return None;
    }
    i64::from_str_radix(text, 36).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 42,
            email: "a@example.com".into(),
            password_hash: "$argon2id$old".into(),
            first_name: String::new(),
            last_name: String::new(),
            gender: String::new(),
            date_of_birth: None,
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: String::new(),
            last_login: Some("2026-11-30T00:00:00Z".into()),
            session_epoch: 0,
            email_verified: false,
            social_links: 0,
        }
    }

    const NOW: i64 = 1_796_000_000;
    const DAY: i64 = 86_400;

    /// A derivation that cannot be made is an error: before, it silently left an all-zero key,
    /// under which anyone could make a valid link.
    #[test]
    fn a_derivation_that_fails_is_an_error_never_a_fixed_key() {
        // HKDF-Expand gives at most 255 blocks of its hash.
        assert_eq!(
            derive_bytes(b"secret", RESET_LABEL, 255 * 32 + 1),
            Err(DerivationFailed)
        );
        let derived = derive_bytes(b"secret", RESET_LABEL, MAC_KEY_BYTES).unwrap();
        assert_ne!(derived, vec![0u8; MAC_KEY_BYTES]);
        assert_ne!(derived, derive_bytes(b"secret", CONFIRM_LABEL, MAC_KEY_BYTES).unwrap());
    }

    #[test]
    fn uids_are_djangos_and_read_back_only_as_written() {
        assert_eq!(encode_uid(1), "MQ");
        assert_eq!(encode_uid(42), "NDI");
        assert_eq!(decode_uid("MQ"), Some(1));
        assert_eq!(decode_uid("MQ=="), Some(1));
        for bad in [
            "",
            "zz",
            "MA",
            "LTE",
            "MDE",
            "eA",
            "%%",
            &"A".repeat(100),
            "MTg0NDY3NDQwNzM3MDk1NTE2MTY",
        ] {
            assert_eq!(decode_uid(bad), None, "{bad}");
        }
        assert_eq!(decode_uid(&encode_uid(u64::MAX)), Some(u64::MAX));
    }

    #[test]
    fn links_made_before_a_key_rotation_still_hold_and_new_ones_use_the_new_key() {
        let old_secret: &[u8] = b"0123456789abcdef0123456789abcdef";
        let new_secret: &[u8] = b"a rotated secret, 32 bytes or more";
        let before = EmailKeys::from_secret(old_secret).unwrap();
        let after = EmailKeys::from_secrets(new_secret, Some(old_secret)).unwrap();
        let user = user();
        let token = before.reset_token(&user, NOW);
        let key = before.confirmation_key(user.id, &user.email, NOW);
        assert!(after.check_reset_token(&user, &token, NOW, 3 * DAY));
        assert!(after.check_confirmation_key(&key, user.id, &user.email, NOW, DAY));
        let new_token = after.reset_token(&user, NOW);
        assert_ne!(new_token, token, "the current key makes links");
        assert!(!before.check_reset_token(&user, &new_token, NOW, 3 * DAY));
        let gone = EmailKeys::from_secret(new_secret).unwrap();
        assert!(
            !gone.check_reset_token(&user, &token, NOW, 3 * DAY),
            "two rotations later"
        );
        assert!(!gone.check_confirmation_key(&key, user.id, &user.email, NOW, DAY));
    }

    #[test]
    fn a_reset_token_dies_with_the_password_a_login_the_clock_or_another_key() {
        let keys = EmailKeys::from_secret(b"0123456789abcdef0123456789abcdef").unwrap();
        let user = user();
        let token = keys.reset_token(&user, NOW);
        assert!(keys.check_reset_token(&user, &token, NOW, 3 * DAY));
        assert!(keys.check_reset_token(&user, &token, NOW + 3 * DAY, 3 * DAY));
        assert!(
            !keys.check_reset_token(&user, &token, NOW + 3 * DAY + 1, 3 * DAY),
            "expired"
        );
        assert!(
            !keys.check_reset_token(&user, &token, NOW - FUTURE_SKEW_SECONDS - 1, 3 * DAY),
            "from the future"
        );
        let mut changed = user.clone();
        changed.password_hash = "$argon2id$new".into();
        assert!(
            !keys.check_reset_token(&changed, &token, NOW, 3 * DAY),
            "password changed"
        );
        let mut logged_in = user.clone();
        logged_in.last_login = Some("2026-11-30T01:00:00Z".into());
        assert!(
            !keys.check_reset_token(&logged_in, &token, NOW, 3 * DAY),
            "logged in since"
        );
        let other = EmailKeys::from_secret(b"another secret, 32 bytes or more...").unwrap();
        assert!(!other.check_reset_token(&user, &token, NOW, 3 * DAY));
        let (timestamp, mac) = token.split_once('-').unwrap();
        for forged in [
            format!("0{timestamp}-{mac}"),
            format!("{}-{mac}", to_base36(NOW + 1)),
            format!("{timestamp}-{}", &mac[1..]),
            format!("{timestamp}-{mac}0"),
            format!("{timestamp}{mac}"),
            String::new(),
            "-".into(),
        ] {
            assert!(!keys.check_reset_token(&user, &forged, NOW, 3 * DAY), "{forged}");
        }
    }

    #[test]
    fn a_confirmation_key_names_its_user_and_holds_only_for_their_address() {
        let keys = EmailKeys::from_secret(b"0123456789abcdef0123456789abcdef").unwrap();
        let key = keys.confirmation_key(42, "a@example.com", NOW);
        assert!(key.starts_with("NDI:"), "{key}");
        assert_eq!(EmailKeys::read_confirmation_key(&key), Some((42, NOW)));
        assert!(keys.check_confirmation_key(&key, 42, "a@example.com", NOW + DAY, 3 * DAY));
        assert!(!keys.check_confirmation_key(&key, 42, "b@example.com", NOW, 3 * DAY));
        assert!(!keys.check_confirmation_key(&key, 43, "a@example.com", NOW, 3 * DAY));
        assert!(!keys.check_confirmation_key(&key, 42, "a@example.com", NOW + 3 * DAY + 1, 3 * DAY));
        // The reset key cannot make a confirmation key, nor the reverse.
        let reset_made = keys.reset_token(&user(), NOW);
        assert!(!keys.check_confirmation_key(&reset_made, 42, "a@example.com", NOW, 3 * DAY));
        for bad in ["", "bad", "NDI:x:y:z", "NDI::", &format!("{key}x")] {
            assert!(
                !keys.check_confirmation_key(bad, 42, "a@example.com", NOW, 3 * DAY),
                "{bad}"
            );
        }
    }
}
