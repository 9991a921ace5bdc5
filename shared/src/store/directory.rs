//! The users as staff list them: by email, a prefix and two flags to filter by, a page at a
//! time. Never a scan: DynamoDB reads the `users-by-email` index, the memory store its map.

use serde::Deserialize;

/// What a list asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// The start of the canonical (lower-case) email; empty for every user.
    pub email_prefix: String,
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
}

impl UserQuery {
    /// Whether `user` is one this query lists (the memory store's filter; DynamoDB applies the
    /// same rules in the Query).
    pub fn matches(&self, user: &UserListing) -> bool {
        user.email.starts_with(&self.email_prefix)
            && self.is_active.is_none_or(|active| user.is_active == active)
            && self.is_staff.is_none_or(|staff| user.is_staff == staff)
    }
}

/// A user as the list shows them: what the index holds (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserListing {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    #[serde(default)]
    pub email_verified: bool,
    pub date_joined: String,
}

impl From<&super::User> for UserListing {
    fn from(user: &super::User) -> Self {
        UserListing {
            id: user.id,
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            is_active: user.is_active,
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
            email_verified: user.email_verified,
            date_joined: user.date_joined.clone(),
        }
    }
}

/// Where a list stands: the last user of a page (emails are unique, so the email alone orders;
/// the id completes the index's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPosition {
    pub email: String,
    pub id: u64,
}

/// One page of users in email order, and where the next one starts (`None`: the last page).
/// A page holds fewer than asked when the flags filter many out: the store reads a bounded
/// number of index pages per call, then answers what it found and where to go on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPage {
    pub users: Vec<UserListing>,
    pub next: Option<UserPosition>,
}
