//! The user verbs of `account-admin`, for operators who work through IAM (Cognito's admin API):
//! the same rules and events as the admin routes (`shared::admin`), the operator as the actor.
//!
//! `list-users [PREFIX] [--active BOOL] [--staff BOOL] [--limit N] [--cursor NEXT]`,
//! `get-user USER`, `disable-user USER`, `enable-user USER`, `sign-out-user USER`,
//! `reset-password USER`, `delete-user USER`, `set-staff USER BOOL`, `set-superuser USER BOOL`;
//! USER is an email or a pk. Lists and users print as JSON; actions print one line.

use serde_json::{Value, json};

use shared::admin::{self, Actor, Occasion, admin_user_json, listed_user_json, user_list_name};
use shared::auth::password::hash_password;
use shared::http::ApiError;
use shared::http::input::normalise_email;
use shared::http::pages;
use shared::ids::random_id;
use shared::security_log::retained_since_days;
use shared::store::{
    AdminChanges, DynamoStore, EmailStore, EventStore, EventSubject, SessionListStore, SessionOrigin, User,
    UserDirectory, UserPosition, UserQuery, UserStore,
};

pub const USAGE: &str = "list-users [PREFIX] [--active BOOL] [--staff BOOL] [--limit N] [--cursor NEXT] | get-user USER | disable-user USER | enable-user USER | sign-out-user USER | reset-password USER | delete-user USER | set-staff USER BOOL | set-superuser USER BOOL  (USER: an email or a pk; the actor recorded: ACCOUNT_ADMIN_OPERATOR, else USER)";

/// Whether `command` is one of this module's verbs.
pub fn owns(command: &str) -> bool {
    matches!(
        command,
        "list-users"
            | "get-user"
            | "disable-user"
            | "enable-user"
            | "sign-out-user"
            | "reset-password"
            | "delete-user"
            | "set-staff"
            | "set-superuser"
    )
}

/// Runs one verb: what to print, or why not.
pub async fn run(store: &DynamoStore, args: &[&str]) -> Result<String, String> {
    let occasion = Occasion {
        actor: Actor::Operator(operator()),
        origin: SessionOrigin {
            device: "account-admin".to_owned(),
            ip: None,
        },
        retention_days: retention_days()?,
    };
    match args {
        ["list-users", rest @ ..] => list_users(store, rest).await,
        ["get-user", user] => {
            let user = find(store, user).await?;
            let sessions = store.list_sessions(user.id).await.map_err(|e| e.to_string())?;
            let now = shared::now_unix();
            let live: Vec<_> = sessions.into_iter().filter(|s| s.in_force(Some(&user), now)).collect();
            let events = store
                .events_of(
                    &EventSubject::User(user.id),
                    retained_since_days(occasion.retention_days),
                    None,
                    20,
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(pretty(&admin_user_json(&user, &live, &events.events, |s| s.expires_at)))
        }
        ["disable-user" | "enable-user", user] => {
            let active = args[0] == "enable-user";
            let changes = AdminChanges {
                is_active: Some(active),
                ..AdminChanges::default()
            };
            let user = find(store, user).await?;
            let updated = admin::update(store, &occasion, &user, &changes)
                .await
                .map_err(explain)?;
            Ok(format!(
                "user {} is {}",
                updated.id,
                if active {
                    "active"
                } else {
                    "inactive; every session ended"
                }
            ))
        }
        ["set-staff" | "set-superuser", user, value] => {
            let value = parse_bool(value)?;
            let changes = match args[0] {
                "set-staff" => AdminChanges {
                    is_staff: Some(value),
                    ..AdminChanges::default()
                },
                _ => AdminChanges {
                    is_superuser: Some(value),
                    // A superuser is staff (Django's createsuperuser makes both).
                    is_staff: value.then_some(true),
                    ..AdminChanges::default()
                },
            };
            let user = find(store, user).await?;
            let updated = admin::update(store, &occasion, &user, &changes)
                .await
                .map_err(explain)?;
            Ok(format!(
                "user {}: is_staff {}, is_superuser {}",
                updated.id, updated.is_staff, updated.is_superuser
            ))
        }
        ["sign-out-user", user] => {
            let user = find(store, user).await?;
            let revoked = admin::sign_out(store, &occasion, &user).await.map_err(explain)?;
            Ok(format!("user {}: {revoked} sessions ended", user.id))
        }
        ["reset-password", user] => {
            let user = find(store, user).await?;
            let unknown = secrecy::SecretString::from(random_id());
            let hash = hash_password(&unknown).map_err(|_| "password hashing failed".to_owned())?;
            admin::replace_password(store, &occasion, &user, hash)
                .await
                .map_err(explain)?;
            Ok(format!(
                "user {}: the password is replaced by one nobody knows and every session ended; they set a new one through \"Forgot your password?\"",
                user.id
            ))
        }
        ["delete-user", user] => {
            let user = find(store, user).await?;
            admin::delete(store, &occasion, &user).await.map_err(explain)?;
            Ok(format!("user {} deleted", user.id))
        }
        _ => Err(USAGE.to_owned()),
    }
}

async fn list_users(store: &DynamoStore, args: &[&str]) -> Result<String, String> {
    let mut query = UserQuery::default();
    let mut limit = 50;
    let mut cursor = None;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let mut value = || words.next().copied().ok_or_else(|| USAGE.to_owned());
        match *word {
            "--active" => query.is_active = Some(parse_bool(value()?)?),
            "--staff" => query.is_staff = Some(parse_bool(value()?)?),
            "--limit" => {
                limit = value()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=pages::MAX_LIMIT).contains(n))
                    .ok_or_else(|| pages::INVALID_LIMIT.to_owned())?;
            }
            "--cursor" => cursor = Some(value()?),
            prefix if !prefix.starts_with("--") && query.email_prefix.is_empty() => {
                query.email_prefix = prefix.trim().to_lowercase();
            }
            _ => return Err(USAGE.to_owned()),
        }
    }
    let list = user_list_name(&query);
    let after = match cursor {
        None => None,
        Some(cursor) => match pages::read_cursor(&list, cursor).as_deref() {
            Some([email, id]) => Some(UserPosition {
                email: email.clone(),
                id: id.parse().map_err(|_| pages::INVALID_CURSOR.to_owned())?,
            }),
            _ => return Err(pages::INVALID_CURSOR.to_owned()),
        },
    };
    let page = store
        .list_users(&query, after.as_ref(), limit)
        .await
        .map_err(|e| e.to_string())?;
    let results: Vec<Value> = page.users.iter().map(listed_user_json).collect();
    let next = page
        .next
        .map(|position| pages::cursor(&list, &[position.email, position.id.to_string()]));
    Ok(pretty(&json!({"results": results, "next": next})))
}

/// The user an operator names: a pk, or an email in the form login gives it.
async fn find(store: &DynamoStore, named: &str) -> Result<User, String> {
    let found = match named.parse::<u64>() {
        Ok(pk) => store.find_by_id(pk).await,
        Err(_) => {
            let email = normalise_email(named).ok_or_else(|| format!("{named}: neither a pk nor an email address"))?;
            store.find_by_email(&email).await
        }
    };
    found
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{named}: no such user"))
}

/// What the operator is told when the rules or the store refuse.
fn explain(error: ApiError) -> String {
    match error {
        ApiError::Refused(detail) => detail.to_owned(),
        ApiError::Conflict => "the user changed meanwhile: run the command again".to_owned(),
        ApiError::NotFound => "the user is gone".to_owned(),
        ApiError::Validation(errors) => format!("{errors:?}"),
        other => other.to_string(),
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{text}: true or false")),
    }
}

/// Who the events record as acting: `ACCOUNT_ADMIN_OPERATOR`, else the login name. It is what
/// the operator says; CloudTrail holds the IAM principal of each DynamoDB call.
fn operator() -> String {
    std::env::var("ACCOUNT_ADMIN_OPERATOR")
        .or_else(|_| std::env::var("USER"))
        .ok()
        .map(|name| {
            name.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "operator".to_owned())
}

/// The stack's `EVENT_RETENTION_DAYS` (90 unless the environment says otherwise).
fn retention_days() -> Result<i64, String> {
    match std::env::var("EVENT_RETENTION_DAYS") {
        Err(_) => Ok(90),
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|days| (1..=shared::config::MAX_EVENT_RETENTION_DAYS).contains(days))
            .ok_or_else(|| "EVENT_RETENTION_DAYS: a number of days from 1 to 3650".to_owned()),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
