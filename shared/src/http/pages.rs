//! Lists answered a page at a time: `?limit=` and an opaque `?cursor=`, the `next` of the page
//! before, bound to the query it continues (a cursor of another list — another user's, another
//! filter — is refused, not followed), and the other query parameters lists take.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::{Request, RequestExt};

use super::FieldErrors;

pub const MAX_LIMIT: usize = 100;
pub const INVALID_LIMIT: &str = "Ensure this value is a whole number from 1 to 100.";
pub const INVALID_CURSOR: &str = "Invalid cursor.";
pub const INVALID_BOOLEAN: &str = "Must be a valid boolean.";

const CURSOR_VERSION: u64 = 1;

/// The first value of the query parameter `name`, as API Gateway decoded it.
pub fn query_parameter<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .query_string_parameters_ref()
        .and_then(|parameters| parameters.first(name))
}

/// `?limit=`: 1 to [`MAX_LIMIT`], `default` when absent; anything else is a field error.
pub fn limit(request: &Request, default: usize, errors: &mut FieldErrors) -> usize {
    match query_parameter(request, "limit") {
        None => default,
        Some(text) => match text.trim().parse() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => {
                errors.add("limit", INVALID_LIMIT);
                default
            }
        },
    }
}

/// `?cursor=` of the list `query`: the position it names, `None` when there is none; a
/// malformed cursor or one of another list is a field error.
pub fn after(request: &Request, query: &str, errors: &mut FieldErrors) -> Option<Vec<String>> {
    let cursor = query_parameter(request, "cursor")?;
    let position = read_cursor(query, cursor);
    if position.is_none() {
        errors.add("cursor", INVALID_CURSOR);
    }
    position
}

/// A yes/no filter (`?is_active=true`): DRF's boolean words; absent is `None`.
pub fn flag(request: &Request, name: &str, errors: &mut FieldErrors) -> Option<bool> {
    let text = query_parameter(request, name)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => {
            errors.add(name, INVALID_BOOLEAN);
            None
        }
    }
}

/// The `next` of a page of the list `query` that ended at `position`: opaque to clients.
pub fn cursor(query: &str, position: &[String]) -> String {
    let value = serde_json::json!([CURSOR_VERSION, query, position]);
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The position a cursor of the list `query` names; `None` if malformed or of another list.
pub fn read_cursor(query: &str, cursor: &str) -> Option<Vec<String>> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let (version, of, position): (u64, String, Vec<String>) = serde_json::from_slice(&bytes).ok()?;
    (version == CURSOR_VERSION && of == query).then_some(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_for_its_own_list() {
        let position = vec!["ada|x@example.com".to_owned(), "7".to_owned()];
        let next = cursor("users|q=ad", &position);
        assert_eq!(read_cursor("users|q=ad", &next), Some(position));
        assert_eq!(read_cursor("users|q=a", &next), None, "another filter");
        assert!(!next.contains("ada"), "opaque: {next}");
        for malformed in [
            "",
            "!!!",
            "e30",
            &URL_SAFE_NO_PAD.encode("[2,\"users|q=ad\",[]]"),
            &next[1..],
        ] {
            assert_eq!(read_cursor("users|q=ad", malformed), None, "{malformed}");
        }
    }
}
