//! What staff (the admin routes) and operators (`account-admin`) may do to a user, and each
//! action with its security event: one set of rules for both doors.
//!
//! Django's admin rules, and ours on top: staff read and edit users; only a superuser changes
//! `is_staff` or `is_superuser` or acts on a superuser; nobody deactivates, demotes or deletes
//! themself here; and the last active superuser stays one (the store refuses, in the write
//! itself). An operator (IAM, `account-admin`) acts as a superuser.

use std::future::Future;

use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

use crate::account::{profile_fields, session_json, sweep_deleted_user};
use crate::app::App;
use crate::auth::authenticate_staff;
use crate::http::input::Fields;
use crate::http::{ApiError, Endpoint, FieldErrors, finish, serve};
use crate::security_log;
use crate::store::{
    AdminChanges, AdminRefusal, AdminStore, EmailStore, EventKind, EventSubject, SecurityEvent, Session,
    SessionListStore, SessionOrigin, SessionStore, SocialStore, User, UserListing, UserQuery,
};

pub const SELF_DEACTIVATION: &str = "You cannot deactivate yourself.";
pub const SELF_DEMOTION: &str = "You cannot remove your own staff or superuser status.";
pub const SELF_DELETION: &str = "You cannot delete yourself here: use the account's own delete route.";
pub const LAST_SUPERUSER: &str = "The last active superuser cannot be demoted, deactivated or deleted.";
/// DRF's `IntegerField` message.
pub const INVALID_PK: &str = "A valid integer is required.";

/// [`serve`] for an admin route: with the admin API off (`ADMIN_API=false`) every request,
/// OPTIONS included, gets the 404 of a path that does not exist.
pub async fn serve_admin<'r, S, F, Fut>(
    app: &App<S>,
    endpoint: &Endpoint,
    request: &'r Request,
    handler: F,
) -> Response<Body>
where
    F: FnOnce(&'r Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    if !app.config.admin_api {
        tracing::info!("the admin API is off (ADMIN_API=false)");
        let mut response = finish(Err(ApiError::NotFound));
        app.config.cors.apply(request, None, &mut response);
        return response;
    }
    serve(&app.config.cors, endpoint, request, handler).await
}

/// The staff member asking (an active staff user, as the store says now) and the user a
/// `{pk}` route names: a malformed pk is 400, an unknown one 404. What every admin route of one
/// user starts with.
pub async fn staff_and_target<S: SessionStore + EmailStore>(
    app: &App<S>,
    endpoint: &Endpoint,
    request: &Request,
) -> Result<(Occasion, User), ApiError> {
    let staff = authenticate_staff(app, request).await?;
    let pk = read_pk(&endpoint.parameter(request, "pk").unwrap_or_default())?;
    let target = app.store.find_by_id(pk).await?.ok_or(ApiError::NotFound)?;
    let occasion = Occasion {
        actor: Actor::Staff(staff.user),
        origin: SessionOrigin::of(request),
        retention_days: app.config.event_retention_days,
    };
    Ok((occasion, target))
}

/// Who acts.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A staff user through the admin routes, as the store has them now.
    Staff(User),
    /// An operator through `account-admin` (their IAM credentials): named, not a user.
    Operator(String),
}

impl Actor {
    /// The pk an event records as its actor (an operator is no user: `None`).
    pub fn id(&self) -> Option<u64> {
        match self {
            Actor::Staff(user) => Some(user.id),
            Actor::Operator(_) => None,
        }
    }

    fn is_superuser(&self) -> bool {
        match self {
            Actor::Staff(user) => user.is_superuser,
            Actor::Operator(_) => true,
        }
    }

    fn is(&self, user: &User) -> bool {
        self.id() == Some(user.id)
    }
}

/// What an actor asks to do to a user.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    Update(&'a AdminChanges),
    SignOut,
    PasswordReset,
    Delete,
}

/// Whether `actor` may do `action` to `target` (the last-superuser rule is the store's).
pub fn permit(actor: &Actor, target: &User, action: Action<'_>) -> Result<(), ApiError> {
    if target.is_superuser && !actor.is_superuser() {
        return Err(ApiError::Forbidden);
    }
    match action {
        Action::Update(changes) => {
            if (changes.is_staff.is_some() || changes.is_superuser.is_some()) && !actor.is_superuser() {
                return Err(ApiError::Forbidden);
            }
            if actor.is(target) {
                let mut errors = FieldErrors::new();
                if changes.is_active == Some(false) {
                    errors.add("is_active", SELF_DEACTIVATION);
                }
                for (name, value) in [("is_staff", changes.is_staff), ("is_superuser", changes.is_superuser)] {
                    if value == Some(false) {
                        errors.add(name, SELF_DEMOTION);
                    }
                }
                errors.into_result()?;
            }
            Ok(())
        }
        Action::Delete if actor.is(target) => Err(ApiError::Refused(SELF_DELETION)),
        Action::SignOut | Action::PasswordReset | Action::Delete => Ok(()),
    }
}

/// A user's pk from a path segment: a malformed one is 400 (the route exists; its input is bad).
pub fn read_pk(segment: &str) -> Result<u64, ApiError> {
    segment
        .trim()
        .parse()
        .map_err(|_| ApiError::Validation(FieldErrors::single("pk", INVALID_PK)))
}

/// The fields an admin PATCH may change, validated as the user's own PATCH validates the
/// profile, the flags as DRF's booleans. Anything else (`pk`, `email`, `password`, ...) is
/// read-only here and ignored, as DRF ignores read-only fields.
pub fn admin_changes(body: &Map<String, Value>, today: time::Date) -> Result<AdminChanges, ApiError> {
    let mut fields = Fields::new(body);
    let profile = profile_fields(&mut fields, today);
    let changes = AdminChanges {
        profile,
        is_active: fields.boolean("is_active"),
        is_staff: fields.boolean("is_staff"),
        is_superuser: fields.boolean("is_superuser"),
        email_verified: fields.boolean("email_verified"),
        password_hash: None,
    };
    fields.errors.into_result()?;
    Ok(changes)
}

/// The admin view of a user: every field but the password hash, their live sessions and their
/// latest events. `session_end` gives a session's absolute end.
pub fn admin_user_json(
    user: &User,
    sessions: &[Session],
    events: &[SecurityEvent],
    session_end: impl Fn(&Session) -> i64,
) -> Value {
    json!({
        "pk": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "gender": user.gender,
        "date_of_birth": user.date_of_birth,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "email_verified": user.email_verified,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        // No session is the caller's here.
        "sessions": sessions.iter().map(|session| session_json(session, "", session_end(session))).collect::<Vec<_>>(),
        "events": events.iter().map(security_log::event_json).collect::<Vec<_>>(),
    })
}

/// Where an admin action comes from, for its event: the request's origin and how long the
/// event is kept.
#[derive(Debug, Clone)]
pub struct Occasion {
    pub actor: Actor,
    pub origin: SessionOrigin,
    pub retention_days: i64,
}

impl Occasion {
    /// An event of `kind` about `target`, by this actor (an operator's name in its detail).
    pub fn event(&self, kind: EventKind, target: &User) -> SecurityEvent {
        let event = security_log::kept_for(
            self.retention_days,
            kind,
            EventSubject::User(target.id),
            self.actor.id(),
            &self.origin,
        );
        match &self.actor {
            Actor::Operator(name) => security_log::with_detail(event, "operator", name),
            Actor::Staff(_) => event,
        }
    }
}

fn refused(refusal: AdminRefusal) -> ApiError {
    match refusal {
        AdminRefusal::Gone => ApiError::NotFound,
        AdminRefusal::Conflict => ApiError::Conflict,
        AdminRefusal::LastSuperuser => ApiError::Refused(LAST_SUPERUSER),
    }
}

/// Changes `target` (as read) by `changes`: the user as stored after it. Nothing changed is no
/// write and no event.
pub async fn update(
    store: &impl AdminStore,
    occasion: &Occasion,
    target: &User,
    changes: &AdminChanges,
) -> Result<User, ApiError> {
    permit(&occasion.actor, target, Action::Update(changes))?;
    let changed = changes.changed_fields(target);
    if changed.is_empty() {
        return Ok(target.clone());
    }
    let event = security_log::with_detail(
        occasion.event(EventKind::AdminUpdate, target),
        "fields",
        &changed.join(","),
    );
    let updated = store
        .admin_update(target, changes, std::slice::from_ref(&event))
        .await?
        .map_err(refused)?;
    security_log::log(&[event]);
    tracing::info!(user_id = target.id, fields = %changed.join(","), "user changed by an admin");
    Ok(updated)
}

/// Replaces `target`'s password with one nobody knows and ends every session (Cognito's
/// AdminResetUserPassword, for `account-admin reset-password`): the user sets a new one through
/// the reset mail. `unknown_hash` is the Argon2 hash of a random secret, so a login against it
/// costs what any login costs.
pub async fn replace_password(
    store: &impl AdminStore,
    occasion: &Occasion,
    target: &User,
    unknown_hash: String,
) -> Result<User, ApiError> {
    permit(&occasion.actor, target, Action::PasswordReset)?;
    let changes = AdminChanges {
        password_hash: Some(unknown_hash),
        ..AdminChanges::default()
    };
    let event = security_log::with_detail(
        occasion.event(EventKind::AdminPasswordReset, target),
        "outcome",
        "password_replaced",
    );
    let updated = store
        .admin_update(target, &changes, std::slice::from_ref(&event))
        .await?
        .map_err(refused)?;
    security_log::log(&[event]);
    tracing::info!(user_id = target.id, "password replaced by an operator");
    Ok(updated)
}

/// The name of the users list a query reads: a cursor is bound to it, so another query's
/// cursor is refused (the admin route and `account-admin list-users` share it).
pub fn user_list_name(query: &UserQuery) -> String {
    let flag = |value: Option<bool>| value.map_or("any", |value| if value { "true" } else { "false" });
    format!(
        "users|q={}|is_active={}|is_staff={}",
        query.email_prefix,
        flag(query.is_active),
        flag(query.is_staff)
    )
}

/// A user as the admin list shows them (no password hash: the index does not hold it).
pub fn listed_user_json(user: &UserListing) -> Value {
    json!({
        "pk": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "email_verified": user.email_verified,
        "date_joined": user.date_joined,
    })
}

/// Ends every session of `target` at once: how many were live.
pub async fn sign_out<S: AdminStore + SessionListStore>(
    store: &S,
    occasion: &Occasion,
    target: &User,
) -> Result<usize, ApiError> {
    permit(&occasion.actor, target, Action::SignOut)?;
    let now = crate::clock::now_unix();
    let live = store
        .list_sessions(target.id)
        .await?
        .iter()
        .filter(|session| session.in_force(Some(target), now))
        .count();
    let event = security_log::with_detail(
        occasion.event(EventKind::AdminSignOut, target),
        "sessions",
        &live.to_string(),
    );
    store
        .admin_sign_out(target, std::slice::from_ref(&event))
        .await?
        .map_err(refused)?;
    security_log::log(&[event]);
    tracing::info!(user_id = target.id, sessions = live, "user signed out by an admin");
    Ok(live)
}

/// Deletes `target` as the user's own delete does: one transaction (user, email claim,
/// throttle record, event), then the sessions (dead already) and the provider links.
pub async fn delete<S: AdminStore + SessionListStore + SocialStore>(
    store: &S,
    occasion: &Occasion,
    target: &User,
) -> Result<(), ApiError> {
    permit(&occasion.actor, target, Action::Delete)?;
    let event = occasion.event(EventKind::AdminDelete, target);
    store
        .admin_delete(target, std::slice::from_ref(&event))
        .await?
        .map_err(refused)?;
    security_log::log(&[event]);
    tracing::info!(user_id = target.id, "user deleted by an admin");
    sweep_deleted_user(store, target.id).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64, staff: bool, superuser: bool) -> User {
        User {
            id,
            email: format!("u{id}@example.com"),
            password_hash: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            gender: String::new(),
            date_of_birth: None,
            is_active: true,
            is_staff: staff,
            is_superuser: superuser,
            date_joined: String::new(),
            last_login: None,
            session_epoch: 0,
            email_verified: false,
            social_links: 0,
        }
    }

    #[test]
    fn staff_edit_users_but_only_a_superuser_touches_flags_or_superusers_and_nobody_themself() {
        let staff = Actor::Staff(user(1, true, false));
        let root = Actor::Staff(user(2, true, true));
        let plain = user(3, false, false);
        let other_root = user(4, true, true);
        let rename = AdminChanges {
            profile: crate::store::ProfileChanges {
                first_name: Some("Ada".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let promote = AdminChanges {
            is_staff: Some(true),
            ..Default::default()
        };
        let deactivate = AdminChanges {
            is_active: Some(false),
            ..Default::default()
        };
        assert!(permit(&staff, &plain, Action::Update(&rename)).is_ok());
        assert!(permit(&staff, &plain, Action::Update(&deactivate)).is_ok());
        assert!(matches!(
            permit(&staff, &plain, Action::Update(&promote)),
            Err(ApiError::Forbidden)
        ));
        assert!(matches!(
            permit(&staff, &other_root, Action::SignOut),
            Err(ApiError::Forbidden)
        ));
        assert!(permit(&root, &plain, Action::Update(&promote)).is_ok());
        assert!(permit(&root, &other_root, Action::Delete).is_ok());
        let me = user(2, true, true);
        assert!(matches!(
            permit(&root, &me, Action::Update(&deactivate)),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            permit(&root, &me, Action::Delete),
            Err(ApiError::Refused(SELF_DELETION))
        ));
        assert!(
            permit(&root, &me, Action::Update(&rename)).is_ok(),
            "their own name is fine"
        );
        let operator = Actor::Operator("ops".into());
        assert!(permit(&operator, &other_root, Action::Update(&deactivate)).is_ok());
    }

    #[test]
    fn a_pk_is_a_whole_number_and_anything_else_is_a_400() {
        assert_eq!(read_pk("42").ok(), Some(42));
        for bad in ["", "x", "-1", "4.2", "99999999999999999999999"] {
            assert!(matches!(read_pk(bad), Err(ApiError::Validation(_))), "{bad}");
        }
    }
}
