//! Passwords: Argon2id hashing, and Django's four password validators with their messages.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use icu_properties::CodePointMapData;
use icu_properties::props::NumericType;
use secrecy::{ExposeSecret, SecretString};

/// The longest password any route sets (Django's `max_length` of its password fields): join,
/// password change, reset confirmation and the admin tool alike, so a password set anywhere
/// can be given back everywhere it is asked for again (password change, account deletion).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Argon2id at the OWASP floor the contract requires: 19 MiB, two passes, one lane.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The constants are valid parameters; `Params::DEFAULT` is the same set.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

/// Hashes a password into a PHC string with a fresh random salt.
pub fn hash_password(password: &SecretString) -> Result<String, HashError> {
    argon2()
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| HashError)
}

/// Whether `password` matches the stored PHC string. A malformed hash — an unusable password
/// (`!…`, a user who joined through a provider) — matches nothing, after the time of one
/// verification: a login cannot tell such an account from one with a password by its speed.
pub fn verify_password(password: &SecretString, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => argon2()
            .verify_password(password.expose_secret().as_bytes(), &hash)
            .is_ok(),
        Err(_) => verify_against_stand_in(password),
    }
}

/// Random salt and output bytes in PHC form, with the parameters above: no password is known to
/// match it. Login verifies against it when the email is unknown, so that unknown and known
/// emails cost the same time.
const STAND_IN_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$wM1Yv7jQkF0v9gq1mQ0yWw$3d9yVq2mL2D8bQe5k3O3m2Jz0qg5QmW0w0r0y4G6oJk";

/// Spends the time of one verification and answers `false`.
pub fn verify_against_stand_in(password: &SecretString) -> bool {
    verify_password(password, STAND_IN_HASH);
    false
}

pub const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
pub const TOO_COMMON: &str = "This password is too common.";
pub const ENTIRELY_NUMERIC: &str = "This password is entirely numeric.";

const MIN_LENGTH: usize = 8;
const MAX_SIMILARITY: f64 = 0.7;

/// Django's list of common passwords (see `data/README.md`), loaded on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../../data/common-passwords.txt").lines().collect());

/// The length, common and numeric rules, in Django's order.
pub fn strength_problems(password: &str) -> Vec<&'static str> {
    let mut problems = Vec::new();
    if password.chars().count() < MIN_LENGTH {
        problems.push(TOO_SHORT);
    }
    if COMMON_PASSWORDS.contains(password.to_lowercase().trim()) {
        problems.push(TOO_COMMON);
    }
    // Python's str.isdigit: every character a digit, and at least one.
    if !password.is_empty() && password.chars().all(is_python_digit) {
        problems.push(ENTIRELY_NUMERIC);
    }
    problems
}

/// A digit to Python's `str.isdigit`: Numeric_Type Decimal or Digit, so `٣` and `²` are
/// digits while `Ⅻ` and `½` (Numeric) are not, unlike `char::is_numeric`.
fn is_python_digit(c: char) -> bool {
    matches!(
        CodePointMapData::<NumericType>::new().get(c),
        NumericType::Decimal | NumericType::Digit
    )
}

/// A user attribute the password must not resemble: its Django verbose name and its value.
pub struct Attribute<'a> {
    pub verbose_name: &'static str,
    pub value: &'a str,
}

/// Django's `UserAttributeSimilarityValidator`: the message for the first attribute that the
/// password resembles (the whole value or any of its `\W+`-separated parts).
pub fn similarity_problem(password: &str, attributes: &[Attribute<'_>]) -> Option<String> {
    let password = password.to_lowercase();
    let password_chars = password.chars().count();
    for attribute in attributes.iter().filter(|attribute| !attribute.value.is_empty()) {
        let value = attribute.value.to_lowercase();
        let parts = value
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .chain(std::iter::once(value.as_str()));
        for part in parts {
            if far_longer(password_chars, part.chars().count()) {
                continue;
            }
            if quick_ratio(&password, part) >= MAX_SIMILARITY {
                return Some(format!(
                    "The password is too similar to the {}.",
                    attribute.verbose_name
                ));
            }
        }
    }
    None
}

/// Django's `exceeds_maximum_length_ratio`: a password ten times longer cannot be similar.
fn far_longer(password_chars: usize, value_chars: usize) -> bool {
    let bound = MAX_SIMILARITY / 2.0 * password_chars as f64;
    password_chars >= 10 * value_chars && (value_chars as f64) < bound
}

/// Python's `SequenceMatcher.quick_ratio`: 2·(shared characters, as multisets) / total length.
fn quick_ratio(a: &str, b: &str) -> f64 {
    let total = a.chars().count() + b.chars().count();
    if total == 0 {
        return 1.0;
    }
    let mut available: HashMap<char, usize> = HashMap::new();
    for c in b.chars() {
        *available.entry(c).or_default() += 1;
    }
    let mut shared = 0usize;
    for c in a.chars() {
        if let Some(count) = available.get_mut(&c)
            && *count > 0
        {
            *count -= 1;
            shared += 1;
        }
    }
    2.0 * shared as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let password = SecretString::from("Tutorial-Pw!7319");
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(&SecretString::from("Tutorial-Pw!7318"), &hash));
        assert!(!verify_password(&password, "not a phc string"));
        assert_ne!(hash, hash_password(&password).unwrap(), "salts must differ");
    }

    #[test]
    fn the_stand_in_hash_is_well_formed_and_uses_the_same_parameters() {
        let parsed = PasswordHash::new(STAND_IN_HASH).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (MEMORY_KIB, ITERATIONS, PARALLELISM)
        );
        assert!(!verify_against_stand_in(&SecretString::from("anything")));
    }

    #[test]
    fn strength_rules_match_django_in_order() {
        assert_eq!(
            strength_problems("1234567"),
            vec![TOO_SHORT, TOO_COMMON, ENTIRELY_NUMERIC]
        );
        assert_eq!(strength_problems("12345678"), vec![TOO_COMMON, ENTIRELY_NUMERIC]);
        assert_eq!(strength_problems("PassWord"), vec![TOO_COMMON]);
        assert_eq!(strength_problems("short"), vec![TOO_SHORT]);
        assert_eq!(strength_problems("83920174625"), vec![ENTIRELY_NUMERIC]);
        assert!(strength_problems("Tutorial-Pw!7319").is_empty());
        assert!(COMMON_PASSWORDS.len() >= 19_000);
    }

    /// "Entirely numeric" is Python's `str.isdigit`, as the reference (Python 3.11) answers:
    /// Numeric_Type Decimal and Digit count, Numeric (Roman numerals, fractions, CJK numerals)
    /// does not.
    #[test]
    fn entirely_numeric_means_python_isdigit() {
        let numeric = |c: char| strength_problems(&c.to_string().repeat(8)).contains(&ENTIRELY_NUMERIC);
        let decimal = "09０٣३𝟘";
        let digit = "²¹⁴①⑴⒈⓪🄁፩";
        for c in decimal.chars().chain(digit.chars()) {
            assert!(numeric(c), "{c:?} is a digit");
        }
        for c in "ⅫⅠ〇½¼⅐零一a".chars() {
            assert!(!numeric(c), "{c:?} is not a digit");
        }
        assert_eq!(strength_problems("²٣①𝟘0123"), vec![ENTIRELY_NUMERIC]);
        assert!(strength_problems("²٣①𝟘012½").is_empty());
    }

    #[test]
    fn similarity_matches_django_examples() {
        let email = [Attribute {
            verbose_name: "email",
            value: "johnsmithers@example.com",
        }];
        assert_eq!(
            similarity_problem("johnsmithers1", &email).as_deref(),
            Some("The password is too similar to the email.")
        );
        assert_eq!(similarity_problem("Tutorial-Pw!7319", &email), None);
        let names = [
            Attribute {
                verbose_name: "first name",
                value: "Bartholomew",
            },
            Attribute {
                verbose_name: "email",
                value: "b@example.com",
            },
        ];
        assert_eq!(
            similarity_problem("bartholomew9x", &names).as_deref(),
            Some("The password is too similar to the first name.")
        );
        // Python: SequenceMatcher(a="abcd", b="abce").quick_ratio() == 0.75
        assert!((quick_ratio("abcd", "abce") - 0.75).abs() < 1e-9);
    }
}
