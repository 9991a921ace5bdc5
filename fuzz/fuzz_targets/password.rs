//! Any password against Django's validators (length, common, numeric, similarity to the
//! user's attributes, split at the first NUL): a list of problems for every input, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::auth::password::{Attribute, similarity_problem, strength_problems};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (password, attribute) = text.split_once('\0').unwrap_or((text, "ada.lovelace@example.com"));
    let _ = strength_problems(password);
    let attributes = [
        Attribute {
            verbose_name: "email address",
            value: attribute,
        },
        Attribute {
            verbose_name: "first name",
            value: "Ada",
        },
    ];
    let _ = similarity_problem(password, &attributes);
});
