//! Request bodies: JSON or HTML-form bodies become one JSON object; fields are read from it
//! with the rules (and messages) of the reference's serializer fields.

use std::net::IpAddr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use lambda_http::Request;
use lambda_http::http::header;
use secrecy::SecretString;
use serde_json::{Map, Value};
use time::{Date, OffsetDateTime};

use super::error::{ApiError, FieldErrors, NON_FIELD_ERRORS};

/// Bodies larger than this are refused with 413 before any parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const REQUIRED: &str = "This field is required.";
pub const BLANK: &str = "This field may not be blank.";
pub const NULL: &str = "This field may not be null.";
pub const NOT_A_STRING: &str = "Not a valid string.";
pub const INVALID_EMAIL: &str = "Enter a valid email address.";

/// The request body as a JSON object. An empty body is an empty object whatever its type
/// (as the reference does); a body without `Content-Type` is refused with 415.
pub fn body_object(request: &Request) -> Result<Map<String, Value>, ApiError> {
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge);
    }
    if body.is_empty() {
        return Ok(Map::new());
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media_type.as_str() {
        "application/json" => json_object(body),
        "application/x-www-form-urlencoded" => form_object(body),
        _ => Err(ApiError::UnsupportedMediaType(content_type)),
    }
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| ApiError::JsonParse(error.to_string()))?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Err(ApiError::Validation(FieldErrors::single(
            NON_FIELD_ERRORS,
            "No data provided",
        ))),
        other => Err(ApiError::NotAnObject(python_type_name(&other))),
    }
}

/// The name the reference (Python) gives the type of a JSON value.
fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn form_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| ApiError::Validation(FieldErrors::single(NON_FIELD_ERRORS, "Invalid form data.")))?;
    // A repeated key keeps its last value, as Django's QueryDict.get does.
    Ok(pairs
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect())
}

/// Reads the fields of one request, collecting every field error before answering.
pub struct Fields<'a> {
    body: &'a Map<String, Value>,
    pub errors: FieldErrors,
}

/// What a field holds, seen as text.
enum FieldValue {
    Missing,
    Null,
    NotText,
    Text(String),
}

impl<'a> Fields<'a> {
    pub fn new(body: &'a Map<String, Value>) -> Self {
        Fields {
            body,
            errors: FieldErrors::new(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.body.contains_key(name)
    }

    /// Numbers count as text (the reference's `str(value)`); booleans, lists and objects do not.
    fn text(&self, name: &str) -> FieldValue {
        match self.body.get(name) {
            None => FieldValue::Missing,
            Some(Value::Null) => FieldValue::Null,
            Some(Value::String(text)) => FieldValue::Text(text.clone()),
            Some(Value::Number(number)) => FieldValue::Text(number.to_string()),
            Some(_) => FieldValue::NotText,
        }
    }

    /// A text field, trimmed. Absent: `None` (with "required" if `required`). Blank: an error
    /// unless `allow_blank`. Longer than `max_chars`: an error.
    pub fn string(
        &mut self,
        name: &str,
        required: bool,
        allow_blank: bool,
        max_chars: Option<usize>,
    ) -> Option<String> {
        let text = match self.text(name) {
            FieldValue::Missing => {
                if required {
                    self.errors.add(name, REQUIRED);
                }
                return None;
            }
            FieldValue::Null => {
                self.errors.add(name, NULL);
                return None;
            }
            FieldValue::NotText => {
                self.errors.add(name, NOT_A_STRING);
                return None;
            }
            FieldValue::Text(text) => text.trim().to_owned(),
        };
        if text.is_empty() && !allow_blank {
            self.errors.add(name, BLANK);
            return None;
        }
        if let Some(max) = max_chars
            && text.chars().count() > max
        {
            self.errors
                .add(name, format!("Ensure this field has no more than {max} characters."));
            return None;
        }
        Some(text)
    }

    /// A password field: a required string, kept in a secret from here on.
    pub fn password(&mut self, name: &str, max_chars: Option<usize>) -> Option<SecretString> {
        self.string(name, true, false, max_chars).map(SecretString::from)
    }

    /// An email field, in the form [`normalise_email`] gives it. Any non-text value is simply
    /// not an email.
    pub fn email(&mut self, name: &str, required: bool, allow_blank: bool) -> Option<String> {
        let text = match self.text(name) {
            FieldValue::NotText => {
                self.errors.add(name, INVALID_EMAIL);
                return None;
            }
            _ => self.string(name, required, allow_blank, None)?,
        };
        if text.is_empty() {
            return Some(text);
        }
        let email = normalise_email(&text);
        if email.is_none() {
            self.errors.add(name, INVALID_EMAIL);
        }
        email
    }

    /// An optional choice among `choices`; blank allowed (and returned as "").
    pub fn choice(&mut self, name: &str, choices: &[&str]) -> Option<String> {
        let shown = match self.text(name) {
            FieldValue::Missing => return None,
            FieldValue::Null => {
                self.errors.add(name, NULL);
                return None;
            }
            FieldValue::Text(text) if text.is_empty() || choices.contains(&text.as_str()) => {
                return Some(text);
            }
            FieldValue::Text(text) => text,
            FieldValue::NotText => self.body.get(name).map(Value::to_string).unwrap_or_default(),
        };
        self.errors.add(name, format!("\"{shown}\" is not a valid choice."));
        None
    }

    /// An optional boolean, as DRF's `BooleanField` reads one: JSON `true`/`false`, `1`/`0`, or
    /// the words `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0` in any case.
    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        let word = match self.body.get(name)? {
            Value::Bool(value) => return Some(*value),
            Value::Null => {
                self.errors.add(name, NULL);
                return None;
            }
            Value::Number(number) => number.to_string(),
            Value::String(text) => text.trim().to_ascii_lowercase(),
            _ => String::new(),
        };
        match word.as_str() {
            "true" | "yes" | "on" | "1" | "t" | "y" => Some(true),
            "false" | "no" | "off" | "0" | "f" | "n" => Some(false),
            _ => {
                self.errors.add(name, "Must be a valid boolean.");
                None
            }
        }
    }

    /// An optional `YYYY-MM-DD` date of birth: null or blank means none; the future is refused.
    pub fn date_of_birth(&mut self, name: &str, today: Date) -> Option<Date> {
        let text = match self.text(name) {
            FieldValue::Missing | FieldValue::Null => return None,
            FieldValue::Text(text) if text.trim().is_empty() => return None,
            FieldValue::Text(text) => text,
            FieldValue::NotText => String::new(),
        };
        let format = time::macros::format_description!("[year]-[month]-[day]");
        match Date::parse(text.trim(), &format) {
            Ok(date) if date > today => {
                self.errors.add(name, "Date of birth cannot be in the future.");
                None
            }
            Ok(date) => Some(date),
            Err(_) => {
                self.errors.add(
                    name,
                    "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
                );
                None
            }
        }
    }
}

/// RFC 5321's limits (§4.5.3.1), which the service has always applied: the stored form is at
/// most 320 characters, Django's limit for a whole address.
const MAX_LOCAL_CHARS: usize = 64;
const MAX_DOMAIN_CHARS: usize = 255;

/// The one form of an email address under which it is stored, looked up and compared: the
/// local part lower-cased, the domain in its IDNA (UTS 46) ASCII form, so that every spelling
/// of a mailbox (`Ｘ@ｅｘａｍｐｌｅ.com`, a soft hyphen, `bücher.de` or `xn--bcher-kva.de`) is
/// one account. `None` if Django's `EmailValidator` refuses the address as sent, or would
/// refuse its normal form. Join, login and the admin tool all go through here.
pub fn normalise_email(text: &str) -> Option<String> {
    let (local, domain) = text.trim().rsplit_once('@')?;
    // Django also accepts quoted and (through its case-insensitive pattern) a few non-ASCII
    // local parts; the service never has, and does not start now.
    if local.chars().count() > MAX_LOCAL_CHARS || !is_dot_atom(local) {
        return None;
    }
    if domain.chars().count() > MAX_DOMAIN_CHARS {
        return None;
    }
    let domain = normal_domain(domain)?;
    (domain.len() <= MAX_DOMAIN_CHARS).then(|| format!("{}@{domain}", local.to_ascii_lowercase()))
}

/// Django's `user_regex` (dot-atom form): atoms of RFC 5322 `atext`, joined by single dots.
fn is_dot_atom(local: &str) -> bool {
    local.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b))
    })
}

fn normal_domain(domain: &str) -> Option<String> {
    // Django's `domain_allowlist`, compared as sent ("LOCALHOST" is refused).
    if domain == "localhost" {
        return Some(domain.to_owned());
    }
    if let Some(literal) = domain.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        return address_literal(literal);
    }
    if !is_django_domain(domain) {
        return None;
    }
    // Hyphens are allowed anywhere UTS 46 allows them, as Django does (`ab--cd.com`); the STD3
    // rules refuse whatever maps to ASCII outside letters, digits and the hyphen.
    let ascii = Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Allow,
            DnsLength::Ignore,
        )
        .ok()?;
    // The stored form must itself be an address Django accepts: this refuses what mapping
    // empties or turns into digits, and punycode labels longer than DNS allows.
    is_django_domain(&ascii).then(|| ascii.into_owned())
}

/// Django's `literal_regex` and `validate_ipv46_address`, kept in the address's canonical
/// spelling (`[0:0:0:0:0:0:0:1]` is `[::1]`).
fn address_literal(literal: &str) -> Option<String> {
    if literal.is_empty() || !literal.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
        return None;
    }
    literal.parse::<IpAddr>().ok().map(|ip| format!("[{ip}]"))
}

/// Django's `domain_regex`: at least two labels of letters, digits and inner hyphens, at most
/// 63 characters each; the last one at least two long and without ASCII digits, or a punycode
/// label. Any character from U+00A1 to U+FFFF counts as a letter, as in Django's pattern.
fn is_django_domain(domain: &str) -> bool {
    let mut labels: Vec<&str> = domain.split('.').collect();
    let Some(top) = labels.pop() else {
        return false;
    };
    !labels.is_empty()
        && labels.iter().all(|label| is_label(label, 1, true))
        && (is_label(top, 2, false) || is_punycode_top_label(top))
}

fn is_label(label: &str, min_chars: usize, digits: bool) -> bool {
    let allowed = |c: char| {
        c.is_ascii_alphabetic() || c == '-' || (digits && c.is_ascii_digit()) || ('\u{a1}'..='\u{ffff}').contains(&c)
    };
    (min_chars..=63).contains(&label.chars().count())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(allowed)
}

/// `xn--` and 1 to 59 ASCII letters or digits (e.g. `xn--p1ai`).
fn is_punycode_top_label(label: &str) -> bool {
    label.len() <= 63
        && label.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("xn--"))
        && label.len() > 4
        && label.bytes().skip(4).all(|b| b.is_ascii_alphanumeric())
}

/// Today's date in UTC, for date-of-birth checks.
pub fn today_utc() -> Date {
    OffsetDateTime::now_utc().date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;
    use lambda_http::http::Request as HttpRequest;
    use serde_json::json;

    fn post(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = HttpRequest::builder().method("POST");
        if let Some(content_type) = content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        builder.body(Body::Text(body.to_owned())).unwrap()
    }

    fn refused(request: &Request) -> Value {
        let response = body_object(request).unwrap_err().into_response();
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn json_and_form_bodies_become_objects() {
        let json = body_object(&post(Some("application/json; charset=utf-8"), r#"{"a":"1"}"#)).unwrap();
        assert_eq!(json["a"], "1");
        let form = body_object(&post(Some("application/x-www-form-urlencoded"), "a=1&b=%ED%95%9C&a=2")).unwrap();
        assert_eq!(form["a"], "2");
        assert_eq!(form["b"], "한");
        assert!(body_object(&post(Some("text/plain"), "")).unwrap().is_empty());
    }

    #[test]
    fn bad_bodies_get_the_contract_answers() {
        assert_eq!(
            refused(&post(Some("text/plain"), "hi")),
            json!({"detail": "Unsupported media type \"text/plain\" in request."})
        );
        assert_eq!(
            refused(&post(None, "hi")),
            json!({"detail": "Unsupported media type \"\" in request."})
        );
        let parse = refused(&post(Some("application/json"), "{\"a\":"));
        assert!(parse["detail"].as_str().unwrap().starts_with("JSON parse error - "));
        for (body, name) in [
            ("[]", "list"),
            ("\"x\"", "str"),
            ("1", "int"),
            ("1.5", "float"),
            ("true", "bool"),
        ] {
            assert_eq!(
                refused(&post(Some("application/json"), body)),
                json!({"non_field_errors": [format!("Invalid data. Expected a dictionary, but got {name}.")]})
            );
        }
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            refused(&post(Some("application/json"), &big)),
            json!({"detail": "Request body too large."})
        );
    }

    #[test]
    fn text_fields_follow_drf_char_field() {
        let body = json!({"blank": "  ", "num": 12345678, "flag": true, "null": null, "padded": " pw "});
        let body = body.as_object().unwrap();
        let mut fields = Fields::new(body);
        assert_eq!(fields.string("missing", true, false, None), None);
        assert_eq!(fields.string("blank", true, false, None), None);
        assert_eq!(fields.string("num", true, false, None).as_deref(), Some("12345678"));
        assert_eq!(fields.string("flag", true, false, None), None);
        assert_eq!(fields.string("null", true, false, None), None);
        assert_eq!(fields.string("padded", true, false, Some(2)).as_deref(), Some("pw"));
        let errors = ApiError::Validation(fields.errors).into_response();
        let errors: Value = serde_json::from_slice(errors.body().as_ref()).unwrap();
        assert_eq!(
            errors,
            json!({"missing": [REQUIRED], "blank": [BLANK], "flag": [NOT_A_STRING], "null": [NULL]})
        );
    }

    #[test]
    fn emails_are_trimmed_lowercased_and_validated() {
        let body = json!({"a": "  Mixed.Case@Example.COM ", "b": "not-an-email", "c": 5, "d": ""});
        let body = body.as_object().unwrap();
        let mut fields = Fields::new(body);
        assert_eq!(
            fields.email("a", true, false).as_deref(),
            Some("mixed.case@example.com")
        );
        assert_eq!(fields.email("b", true, false), None);
        assert_eq!(fields.email("c", true, false), None);
        assert_eq!(fields.email("d", false, true).as_deref(), Some(""));
        assert!(fields.errors.has("b") && fields.errors.has("c") && !fields.errors.has("d"));
    }

    /// What `Fields::email` makes of `text`: the form it stores, or the field's error body.
    fn email_field(text: &str) -> Result<String, Value> {
        let body = json!({ "email": text });
        let body = body.as_object().unwrap();
        let mut fields = Fields::new(body);
        match fields.email("email", true, false) {
            Some(email) if fields.errors.is_empty() => Ok(email),
            _ => {
                let response = ApiError::Validation(fields.errors).into_response();
                Err(serde_json::from_slice(response.body().as_ref()).unwrap())
            }
        }
    }

    #[test]
    fn every_spelling_of_a_mailbox_is_one_email() {
        for (sent, stored) in [
            ("victim@ｅｘａｍｐｌｅ.com", "victim@example.com"),
            ("victim@exam\u{ad}ple.com", "victim@example.com"),
            ("Victim@EXAMPLE.com", "victim@example.com"),
            ("a@bücher.de", "a@xn--bcher-kva.de"),
            ("a@BÜCHER.de", "a@xn--bcher-kva.de"),
            ("a@xn--bcher-kva.de", "a@xn--bcher-kva.de"),
            ("A@XN--BCHER-KVA.DE", "a@xn--bcher-kva.de"),
            // U+3002 is a dot to IDNA but a letter to Django, which sees the labels
            // "ex" and "example。com".
            ("a@ex.example\u{3002}com", "a@ex.example.com"),
            ("a@[0:0:0:0:0:0:0:1]", "a@[::1]"),
            ("a@[::FFFF:1.2.3.4]", "a@[::ffff:1.2.3.4]"),
            ("a@[192.0.2.1]", "a@[192.0.2.1]"),
            ("x@localhost", "x@localhost"),
            ("a@ab--cd.com", "a@ab--cd.com"),
            (
                "O'Brien+tag/x=y@sub.example.museum",
                "o'brien+tag/x=y@sub.example.museum",
            ),
        ] {
            assert_eq!(email_field(sent).as_deref(), Ok(stored), "{sent:?}");
            assert_eq!(email_field(stored).as_deref(), Ok(stored), "{stored:?} is its own form");
        }
    }

    #[test]
    fn emails_django_refuses_get_its_message() {
        let refused = json!({ "email": [INVALID_EMAIL] });
        for bad in [
            "a..b@example.com",
            ".ab@example.com",
            "ab.@example.com",
            "a@example",
            // The allowlist holds "localhost" as written.
            "x@LOCALHOST",
            "x@ｌｏｃａｌｈｏｓｔ",
            "a@1.2.3.4",
            "a@example.c0m",
            "a@example.x",
            "a@-ab.com",
            "a@ab-.com",
            "a@example.com.",
            "a@exa_mple.com",
            "a@example\u{3002}com",
            // Beyond U+FFFF is not a letter to Django's domain pattern.
            "a@\u{1d41e}xample.com",
            "a@[01.2.3.4]",
            "a@[1.2.3]",
            "a@[::g]",
            "\"john doe\"@example.com",
        ] {
            assert_eq!(email_field(bad), Err(refused.clone()), "{bad:?}");
        }
    }

    #[test]
    fn an_email_whose_normal_form_is_not_an_email_is_refused() {
        let refused = json!({ "email": [INVALID_EMAIL] });
        for bad in [
            // The reference accepts and stores these as sent; their IDNA form is invalid.
            "a@example.１２３",
            "a@\u{ad}.example.com",
            "a@xn--zz.com",
            "a@ü\u{200d}.com",
            // A 60-letter label whose punycode is longer than 63.
            &format!("a@{}.com", "ü".repeat(60)),
            // Quoted and non-ASCII local parts: the reference takes them, we keep refusing.
            "\"johndoe\"@example.com",
            "\u{17f}@example.com",
        ] {
            assert_eq!(email_field(bad), Err(refused.clone()), "{bad:?}");
        }
    }

    #[test]
    fn email_lengths_keep_their_limits() {
        let label = "d".repeat(63);
        let domain = format!("{label}.{label}.{label}.{}.com", "d".repeat(59));
        assert_eq!(domain.len(), 255);
        let longest = format!("{}@{domain}", "l".repeat(64));
        assert_eq!(email_field(&longest), Ok(longest.clone()));
        assert!(email_field(&format!("{}@{domain}", "l".repeat(65))).is_err());
        assert!(email_field(&format!("l@d{domain}")).is_err());
        // Short as sent, too long once in ASCII ("ü" is "xn--tda").
        let unicode = format!("{}com", "ü.".repeat(40));
        assert!(email_field(&format!("l@{}com", "u.".repeat(40))).is_ok());
        assert!(email_field(&format!("l@{unicode}")).is_err());
    }

    #[test]
    fn gender_and_date_of_birth_are_checked() {
        let today = Date::from_calendar_date(2026, time::Month::November, 26).unwrap();
        let body = json!({"g1": "female", "g2": "robot", "g3": "", "d1": "1990-02-03", "d2": "03/02/1990", "d3": "2030-01-01"});
        let body = body.as_object().unwrap();
        let mut fields = Fields::new(body);
        assert_eq!(fields.choice("g1", &["male", "female"]).as_deref(), Some("female"));
        assert_eq!(fields.choice("g2", &["male", "female"]), None);
        assert_eq!(fields.choice("g3", &["male", "female"]).as_deref(), Some(""));
        assert_eq!(
            fields.date_of_birth("d1", today).map(|d| d.to_string()).as_deref(),
            Some("1990-02-03")
        );
        assert_eq!(fields.date_of_birth("d2", today), None);
        assert_eq!(fields.date_of_birth("d3", today), None);
        assert_eq!(fields.date_of_birth("absent", today), None);
        let response = ApiError::Validation(fields.errors).into_response();
        let errors: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(errors["g2"], json!(["\"robot\" is not a valid choice."]));
        assert_eq!(
            errors["d2"],
            json!(["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."])
        );
        assert_eq!(errors["d3"], json!(["Date of birth cannot be in the future."]));
    }
}
