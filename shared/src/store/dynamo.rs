//! The DynamoDB store: one table, no scans, a fixed small number of round trips per call (but
//! the Query of a user's sessions: one per page, and the sweep of them: one per 25).
//!
//! | item          | PK                | SK                | attributes                                    |
//! |---------------|-------------------|-------------------|-----------------------------------------------|
//! | user          | `USER#<id>`       | `USER`            | the `User` fields                             |
//! | email claim   | `EMAIL#<email>`   | `EMAIL`           | `user_id` — makes the email unique            |
//! | id counter    | `COUNTER`         | `USER`            | `last_user_id` — pk values, never reused      |
//! | session       | `USER#<id>`       | `SESSION#<sid>`   | the `Session` fields; `expires_at` is the TTL |
//! | throttle      | `THROTTLE#<email>`| `LOGIN`           | the `ThrottleRecord` fields; TTL likewise     |
//! | mail quota    | `MAIL#<email>`    | `RESET`/`CONFIRM` | `count`; `expires_at`: window end and TTL     |
//!
//! Every attribute named in an expression goes through a `#name`, so no DynamoDB reserved word
//! can break an expression.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest, KeySchemaElement, KeyType,
    KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update, WriteRequest,
};
use serde::Serialize;

use super::{
    AccountStore, EmailStore, LoginThrottleStore, MAIL_QUOTA_WINDOW_SECONDS, MailPurpose, NewSession, NewUser,
    NextRefresh, ProfileChanges, Registration, Rotation, Session, SessionListStore, SessionProblem, SessionStore,
    SessionView, StoreError, StoreResult, TOUCH_INTERVAL_SECONDS, ThrottleRecord, User, UserStore,
};

/// The table's shape: the one definition used to create it locally and checked against the
/// deploy template.
pub struct TableDefinition;

impl TableDefinition {
    pub const PARTITION_KEY: &'static str = "PK";
    pub const SORT_KEY: &'static str = "SK";
    pub const TTL_ATTRIBUTE: &'static str = "expires_at";

    /// The definition in CloudFormation's words, for `account-admin table-definition`, which
    /// `make test` compares with the table of `template.yaml`.
    pub fn as_cloudformation() -> serde_json::Value {
        serde_json::json!({
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": Self::PARTITION_KEY, "AttributeType": "S"},
                {"AttributeName": Self::SORT_KEY, "AttributeType": "S"},
            ],
            "KeySchema": [
                {"AttributeName": Self::PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": Self::SORT_KEY, "KeyType": "RANGE"},
            ],
            "TimeToLiveSpecification": {"AttributeName": Self::TTL_ATTRIBUTE, "Enabled": true},
        })
    }
}

const USER_SK: &str = "USER";
const EMAIL_SK: &str = "EMAIL";
const COUNTER_PK: &str = "COUNTER";
const COUNTER_ATTRIBUTE: &str = "last_user_id";

fn user_pk(user_id: u64) -> String {
    format!("USER#{user_id}")
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}

/// The throttle record of an email, whether or not a user has it.
fn throttle_pk(email: &str) -> String {
    format!("THROTTLE#{email}")
}
const THROTTLE_SK: &str = "LOGIN";

/// The mails of one purpose sent to an email in the current hour, whether or not a user has it.
fn mail_quota_pk(email: &str) -> String {
    format!("MAIL#{email}")
}

/// The sort key prefix of every session item: a user's sessions are the items of their
/// partition whose sort key begins with it.
const SESSION_SK_PREFIX: &str = "SESSION#";

fn session_sk(session_id: &str) -> String {
    format!("{SESSION_SK_PREFIX}{session_id}")
}

/// DynamoDB's most requests in one BatchWriteItem.
const BATCH_WRITE_LIMIT: usize = 25;
/// How often a batch of deletes is sent again for the items DynamoDB left unprocessed (it does
/// under throttling), with a doubling pause from [`BATCH_RETRY_PAUSE_MS`], before giving up.
const BATCH_WRITE_ATTEMPTS: u32 = 4;
const BATCH_RETRY_PAUSE_MS: u64 = 50;

fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (TableDefinition::PARTITION_KEY.to_owned(), AttributeValue::S(pk)),
        (TableDefinition::SORT_KEY.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

pub struct DynamoStore {
    client: Client,
    table: String,
    round_trips: AtomicU64,
    /// Items per Query page; `None`: DynamoDB's own (1 MB of items).
    page_limit: Option<i32>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            round_trips: AtomicU64::new(0),
            page_limit: None,
        }
    }

    /// Queries read pages of at most `items` items (tests make a user's sessions span pages).
    pub fn with_page_limit(mut self, items: i32) -> Self {
        self.page_limit = Some(items);
        self
    }

    /// A store over a client from the environment (see `crate::aws::sdk_config`).
    pub async fn connect(table: impl Into<String>) -> Self {
        Self::new(Client::new(&crate::aws::sdk_config().await), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Requests sent to DynamoDB so far by this store (retries by the SDK not counted).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// Creates the table (and its TTL) if it does not exist yet.
    pub async fn create_table_if_missing(&self) -> StoreResult<()> {
        let exists = self.client.describe_table().table_name(&self.table).send().await;
        if exists.is_ok() {
            return Ok(());
        }
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))
        };
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute(TableDefinition::PARTITION_KEY)?)
            .attribute_definitions(attribute(TableDefinition::SORT_KEY)?)
            .key_schema(key(TableDefinition::PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(TableDefinition::SORT_KEY, KeyType::Range)?)
            .send()
            .await;
        if let Err(error) = created {
            // Another process may have created it in between.
            if !matches!(error.as_service_error(), Some(e) if e.is_resource_in_use_exception()) {
                return Err(classify(error));
            }
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TableDefinition::TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<HashMap<String, AttributeValue>>> {
        self.count();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item)
    }

    async fn next_user_id(&self) -> StoreResult<u64> {
        self.count();
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(COUNTER_PK.to_owned(), USER_SK)))
            .update_expression("ADD #last :one")
            .expression_attribute_names("#last", COUNTER_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify)?;
        output
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(COUNTER_ATTRIBUTE))
            .and_then(|value| value.as_n().ok())
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| StoreError::Other("counter update returned no number".into()))
    }

    fn put(&self, item: HashMap<String, AttributeValue>, must_be_new: bool) -> StoreResult<TransactWriteItem> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if must_be_new {
            // ALL_OLD: a failed condition shows what is there (join recognises its own retry).
            put = put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        }
        let put = put.build().map_err(|e| StoreError::Other(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactOutcome> {
        self.count();
        let error = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() else {
            return Err(TransactOutcome::Failed(classify(error)));
        };
        let reasons = cancelled.cancellation_reasons();
        if reasons
            .iter()
            .any(|reason| reason.code() == Some("ConditionalCheckFailed"))
        {
            let failed = reasons
                .iter()
                .map(|reason| match reason.code() {
                    Some("ConditionalCheckFailed") => Some(reason.item().cloned().unwrap_or_default()),
                    _ => None,
                })
                .collect();
            return Err(TransactOutcome::ConditionFailed(failed));
        }
        let codes: Vec<&str> = reasons.iter().filter_map(|reason| reason.code()).collect();
        let message = DisplayErrorContext(&error).to_string();
        Err(TransactOutcome::Failed(match cancellation_is_retryable(&codes) {
            true => StoreError::Unavailable(message),
            false => StoreError::Other(message),
        }))
    }

    fn session_update(&self, user_id: u64, session_id: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), &session_sk(session_id))))
    }
}

enum TransactOutcome {
    /// Per item in request order: the item found, for each that failed its condition.
    ConditionFailed(Vec<Option<HashMap<String, AttributeValue>>>),
    Failed(StoreError),
}

/// Whether a transaction cancelled for these reasons (DynamoDB's codes, `None` for the items
/// that were fine) is worth retrying later (503): conflicts and throttling are; a validation
/// error or an item collection over its size limit never goes away by itself (500).
fn cancellation_is_retryable(codes: &[&str]) -> bool {
    codes.iter().all(|code| {
        matches!(
            *code,
            "None"
                | "TransactionConflict"
                | "ThrottlingError"
                | "ProvisionedThroughputExceeded"
                | "RequestLimitExceeded"
        )
    })
}

fn to_item<T: Serialize>(value: &T, pk: String, sk: &str) -> StoreResult<HashMap<String, AttributeValue>> {
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(value).map_err(|e| StoreError::Other(e.to_string()))?;
    item.extend(key(pk, sk));
    Ok(item)
}

fn from_item<T: serde::de::DeserializeOwned>(item: HashMap<String, AttributeValue>) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("malformed item: {e}")))
}

/// A conditional `UpdateItem` whose condition failing is an answer, not an error: true when it
/// wrote, false when its condition held it back.
fn written_unless_condition_failed<R: std::fmt::Debug>(
    outcome: Result<UpdateItemOutput, SdkError<UpdateItemError, R>>,
) -> StoreResult<bool> {
    match outcome {
        Ok(_) => Ok(true),
        Err(error) if matches!(error.as_service_error(), Some(e) if e.is_conditional_check_failed_exception()) => {
            Ok(false)
        }
        Err(error) => Err(classify(error)),
    }
}

/// Throttling, timeouts and connection failures are worth a retry later (503); the rest is 500.
fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(context) if crate::logging::alert_if_access_denied("dynamodb", context.err().code()) => {
            false
        }
        SdkError::ServiceError(context) => matches!(
            context.err().code(),
            Some(
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionConflictException"
            )
        ),
        _ => false,
    };
    let message = DisplayErrorContext(&error).to_string();
    if retryable {
        StoreError::Unavailable(message)
    } else {
        StoreError::Other(message)
    }
}

fn session_item(user_id: u64, epoch: u64, new: NewSession) -> StoreResult<HashMap<String, AttributeValue>> {
    let session = new.start(user_id, epoch);
    to_item(&session, user_pk(user_id), &session_sk(&session.id))
}

/// A session item as a failed condition returned it (`None`: there was none).
fn session_from(item: Option<&HashMap<String, AttributeValue>>) -> StoreResult<Option<Session>> {
    match item {
        Some(item) if !item.is_empty() => from_item(item.clone()).map(Some),
        _ => Ok(None),
    }
}

/// The user id an email claim item names.
fn claim_owner(claim: &HashMap<String, AttributeValue>) -> Option<u64> {
    claim
        .get("user_id")
        .and_then(|value| value.as_n().ok())
        .and_then(|text| text.parse().ok())
}

impl UserStore for DynamoStore {
    async fn email_registered(&self, email: &str) -> StoreResult<bool> {
        Ok(self.get(email_pk(email), EMAIL_SK).await?.is_some())
    }

    async fn create_user(&self, new: NewUser, first_session: Option<NewSession>) -> StoreResult<Registration> {
        let id = self.next_user_id().await?;
        let user = User {
            id,
            email: new.email,
            password_hash: new.password_hash,
            first_name: new.first_name,
            last_name: new.last_name,
            gender: new.gender,
            date_of_birth: new.date_of_birth,
            is_active: true,
            is_staff: new.is_staff,
            is_superuser: new.is_superuser,
            last_login: first_session.as_ref().map(|_| new.joined_at.clone()),
            date_joined: new.joined_at,
            session_epoch: 0,
            email_verified: false,
        };
        let mut claim = key(email_pk(&user.email), EMAIL_SK);
        claim.insert("user_id".to_owned(), n(id));
        let mut items = vec![
            self.put(claim, true)?,
            self.put(to_item(&user, user_pk(id), USER_SK)?, true)?,
        ];
        if let Some(session) = first_session {
            items.push(self.put(session_item(id, 0, session)?, true)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(Registration::Created(user)),
            Err(TransactOutcome::ConditionFailed(failed)) => match failed.first() {
                // The claim is ours: an earlier attempt of this very call committed (its
                // answer was lost), as ids are never handed out twice.
                Some(Some(claim)) if claim_owner(claim) == Some(id) => Ok(Registration::Created(user)),
                Some(Some(_)) => Ok(Registration::EmailTaken),
                _ => Err(StoreError::Other("user id already in use".into())),
            },
            // No answer at all (every attempt timed out or was refused), or a conflicting
            // transaction on the same email: the claim says who won. Ours, when an attempt
            // landed though its answer never came (ids are never handed out twice).
            Err(TransactOutcome::Failed(error)) => match self.get(email_pk(&user.email), EMAIL_SK).await {
                Ok(Some(claim)) if claim_owner(&claim) == Some(id) => Ok(Registration::Created(user)),
                Ok(Some(_)) => Ok(Registration::EmailTaken),
                _ => Err(error),
            },
        }
    }

    async fn find_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let Some(claim) = self.get(email_pk(email), EMAIL_SK).await? else {
            // Read a user that cannot exist (ids start at 1): an unknown email costs the same
            // two round trips as a known one, so login's timing tells nothing.
            self.get(user_pk(0), USER_SK).await?;
            return Ok(None);
        };
        let user_id = claim_owner(&claim).ok_or_else(|| StoreError::Other("email claim without user id".into()))?;
        match self.get(user_pk(user_id), USER_SK).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    async fn update_profile(
        &self,
        user_id: u64,
        expected_epoch: u64,
        changes: &ProfileChanges,
    ) -> StoreResult<Result<User, SessionProblem>> {
        self.count();
        // Attribute names are the `User` fields, as serde_dynamo stores them (a cleared date is NULL).
        let mut values: Vec<(&str, AttributeValue)> = Vec::new();
        if let Some(first_name) = &changes.first_name {
            values.push(("first_name", s(first_name)));
        }
        if let Some(last_name) = &changes.last_name {
            values.push(("last_name", s(last_name)));
        }
        if let Some(gender) = &changes.gender {
            values.push(("gender", s(gender)));
        }
        if let Some(date_of_birth) = &changes.date_of_birth {
            values.push((
                "date_of_birth",
                date_of_birth.as_deref().map_or(AttributeValue::Null(true), s),
            ));
        }
        if values.is_empty() {
            // Nothing to change: the epoch is set to itself, so the call still checks its
            // condition and reads the user back in its one write.
            values.push(("session_epoch", n(expected_epoch)));
        }
        let assignments: Vec<String> = values.iter().map(|(name, _)| format!("#{name} = :{name}")).collect();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), USER_SK)))
            .update_expression(format!("SET {}", assignments.join(", ")))
            .condition_expression("attribute_exists(#pk) AND #is_active = :true AND #session_epoch = :epoch")
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#is_active", "is_active")
            .expression_attribute_names("#session_epoch", "session_epoch")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":epoch", n(expected_epoch))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in values {
            request = request
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), value);
        }
        let error = match request.send().await {
            Ok(output) => {
                let item = output
                    .attributes
                    .ok_or_else(|| StoreError::Other("profile update returned no item".into()))?;
                return Ok(Ok(from_item(item)?));
            }
            Err(error) => error,
        };
        let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = error.as_service_error() else {
            return Err(classify(error));
        };
        // What the write found decides the answer, as `SessionView::live` would: a moved
        // epoch (password changed) before the user's state.
        let found: Option<User> = match failed.item() {
            Some(item) if !item.is_empty() => Some(from_item(item.clone())?),
            _ => None,
        };
        Ok(Err(match found {
            Some(user) if user.session_epoch != expected_epoch => SessionProblem::Revoked,
            _ => SessionProblem::NoActiveUser,
        }))
    }
}

impl SessionStore for DynamoStore {
    async fn start_session(&self, user: &User, session: NewSession, logged_in_at: &str) -> StoreResult<bool> {
        // The user must still be active and at the epoch its password was checked under.
        let mark_login = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user.id), USER_SK)))
            .update_expression("SET #last_login = :at")
            .condition_expression("#session_epoch = :epoch AND #is_active = :true")
            .expression_attribute_names("#last_login", "last_login")
            .expression_attribute_names("#session_epoch", "session_epoch")
            .expression_attribute_names("#is_active", "is_active")
            .expression_attribute_values(":at", s(logged_in_at))
            .expression_attribute_values(":epoch", n(user.session_epoch))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let refresh_jti = session.refresh_jti.clone();
        let items = vec![
            self.put(session_item(user.id, user.session_epoch, session)?, true)?,
            TransactWriteItem::builder().update(mark_login).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactOutcome::ConditionFailed(failed)) if matches!(failed.get(1), Some(Some(_))) => Ok(false),
            Err(TransactOutcome::ConditionFailed(failed)) => {
                match session_from(failed.first().and_then(Option::as_ref))? {
                    // The session is there with our refresh token (random 128-bit ids): an earlier
                    // attempt of this very call committed and its answer was lost. DynamoDB's
                    // ClientRequestToken covers this too; a server without it (moto) does not.
                    Some(found) if found.refresh_jti == refresh_jti => Ok(true),
                    _ => Err(StoreError::Other("session id collision".into())),
                }
            }
            Err(TransactOutcome::Failed(error)) => Err(error),
        }
    }

    async fn load(&self, user_id: u64, session_id: &str) -> StoreResult<SessionView> {
        self.count();
        let keys = KeysAndAttributes::builder()
            .keys(key(user_pk(user_id), USER_SK))
            .keys(key(user_pk(user_id), &session_sk(session_id)))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let output = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys)
            .send()
            .await
            .map_err(classify)?;
        if output.unprocessed_keys.as_ref().is_some_and(|keys| !keys.is_empty()) {
            // Only under throttling: answer 503 rather than guess.
            return Err(StoreError::Unavailable("batch read left keys unprocessed".into()));
        }
        let mut view = SessionView::default();
        let items = output
            .responses
            .and_then(|mut tables| tables.remove(&self.table))
            .unwrap_or_default();
        for item in items {
            match item
                .get(TableDefinition::SORT_KEY)
                .and_then(|sk| sk.as_s().ok())
                .map(String::as_str)
            {
                Some(USER_SK) => view.user = Some(from_item(item)?),
                Some(_) => view.session = Some(from_item(item)?),
                None => {}
            }
        }
        Ok(view)
    }

    async fn rotate_refresh(
        &self,
        user_id: u64,
        session_id: &str,
        presented_jti: &str,
        expected_epoch: u64,
        next: &NextRefresh,
    ) -> StoreResult<Rotation> {
        // One transaction: the session's token is spent only if the user is still as the refresh
        // read them. A password change, revoke-others, deactivation or deletion landing between
        // our read and this write makes the write fail, so no fresh token comes out of it.
        let session = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), &session_sk(session_id))))
            .update_expression(
                "SET #refresh_jti = :next, #refresh_issued_at = :issued, #last_used_at = :issued, #previous_jti = :presented, #expires_at = :expires",
            )
            .condition_expression("#refresh_jti = :presented AND #revoked = :false")
            .expression_attribute_names("#refresh_jti", "refresh_jti")
            .expression_attribute_names("#refresh_issued_at", "refresh_issued_at")
            .expression_attribute_names("#last_used_at", "last_used_at")
            .expression_attribute_names("#previous_jti", "previous_jti")
            .expression_attribute_names("#expires_at", TableDefinition::TTL_ATTRIBUTE)
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_values(":next", s(&next.jti))
            .expression_attribute_values(":issued", n(next.issued_at))
            .expression_attribute_values(":expires", n(next.session_expires_at))
            .expression_attribute_values(":presented", s(presented_jti))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let user = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), USER_SK)))
            .condition_expression("attribute_exists(#pk) AND #is_active = :true AND #session_epoch = :epoch")
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#is_active", "is_active")
            .expression_attribute_names("#session_epoch", "session_epoch")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":epoch", n(expected_epoch))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(session).build(),
            TransactWriteItem::builder().condition_check(user).build(),
        ];
        let failed = match self.transact(items).await {
            Ok(()) => return Ok(Rotation::Rotated),
            Err(TransactOutcome::ConditionFailed(failed)) => failed,
            Err(TransactOutcome::Failed(error)) => return Err(error),
        };
        if let Some(Some(found)) = failed.first() {
            let current = session_from(Some(found))?;
            // The SDK retries a write whose answer was lost: if the item already holds our next
            // token, an earlier attempt of this very call succeeded (the user held then).
            if current.as_ref().is_some_and(|session| session.refresh_jti == next.jti) {
                return Ok(Rotation::Rotated);
            }
            return Ok(Rotation::Overtaken(current));
        }
        let user = match failed.get(1) {
            Some(Some(found)) => found_user(found)?,
            _ => None,
        };
        Ok(Rotation::UserChanged(match user {
            Some(user) if user.is_active => SessionProblem::Revoked,
            _ => SessionProblem::NoActiveUser,
        }))
    }

    async fn end_session(&self, user_id: u64, session_id: &str) -> StoreResult<bool> {
        self.count();
        let outcome = self
            .session_update(user_id, session_id)
            .update_expression("SET #revoked = :true")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        // Revoking is idempotent, so a retried or racing logout finds what it wanted; only a
        // session that is gone (expired and removed by TTL) fails the condition.
        written_unless_condition_failed(outcome)
    }

    async fn change_password(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        new_password_hash: &str,
    ) -> StoreResult<bool> {
        self.bump_epoch(user_id, keep_session_id, expected_epoch, Some(new_password_hash))
            .await
    }

    async fn touch_session(&self, user_id: u64, session_id: &str, at: i64) -> StoreResult<bool> {
        self.count();
        let outcome = self
            .session_update(user_id, session_id)
            .update_expression("SET #last_used_at = :at")
            // Sessions from before `last_used_at` have none: their first touch writes it.
            .condition_expression(
                "attribute_exists(#pk) AND #revoked = :false AND (attribute_not_exists(#last_used_at) OR #last_used_at <= :due)",
            )
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_names("#last_used_at", "last_used_at")
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":due", n(at - TOUCH_INTERVAL_SECONDS))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        // Touched within the minute (a racing refresh did it), ended or gone: nothing to do.
        written_unless_condition_failed(outcome)
    }
}

impl DynamoStore {
    /// Password change's transaction, and revoke-others' without a new hash: the user moves to
    /// the next epoch (revoking every session started under an older one) and the kept session
    /// is carried over, if the user is still at `expected_epoch` and the kept session is live
    /// at it. `false` otherwise — but for a retry of this very call whose first answer was lost
    /// (the SDK retries such writes): the items as that attempt left them are recognised, as
    /// DynamoDB's ClientRequestToken would, which moto does not honour.
    async fn bump_epoch(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        new_password_hash: Option<&str>,
    ) -> StoreResult<bool> {
        let next_epoch = expected_epoch + 1;
        let mut user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), USER_SK)))
            .condition_expression("#session_epoch = :expected")
            .expression_attribute_names("#session_epoch", "session_epoch")
            .expression_attribute_values(":next", n(next_epoch))
            .expression_attribute_values(":expected", n(expected_epoch))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        user = match new_password_hash {
            Some(hash) => user
                .update_expression("SET #password_hash = :hash, #session_epoch = :next")
                .expression_attribute_names("#password_hash", "password_hash")
                .expression_attribute_values(":hash", s(hash)),
            None => user.update_expression("SET #session_epoch = :next"),
        };
        let user = user.build().map_err(|e| StoreError::Other(e.to_string()))?;
        let session = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), &session_sk(keep_session_id))))
            .update_expression("SET #epoch = :next")
            .condition_expression("#revoked = :false AND #epoch = :expected")
            .expression_attribute_names("#epoch", "epoch")
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_values(":next", n(next_epoch))
            .expression_attribute_values(":expected", n(expected_epoch))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(user).build(),
            TransactWriteItem::builder().update(session).build(),
        ];
        let failed = match self.transact(items).await {
            Ok(()) => return Ok(true),
            Err(TransactOutcome::ConditionFailed(failed)) => failed,
            Err(TransactOutcome::Failed(error)) => return Err(error),
        };
        // Done already: the user is at the next epoch (with our hash: Argon2 salts are random,
        // so no other write stores the same one) and the kept session was carried over to it.
        let (Some(Some(user)), Some(Some(session))) = (failed.first(), failed.get(1)) else {
            return Ok(false);
        };
        let (Some(user), Some(session)) = (found_user(user)?, session_from(Some(session))?) else {
            return Ok(false);
        };
        let ours = user.session_epoch == next_epoch
            && session.epoch == next_epoch
            && !session.revoked
            && new_password_hash.is_none_or(|hash| user.password_hash == hash);
        Ok(ours)
    }
}

impl SessionListStore for DynamoStore {
    async fn list_sessions(&self, user_id: u64) -> StoreResult<Vec<Session>> {
        let mut sessions = Vec::new();
        let mut start = None;
        loop {
            self.count();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :sessions)")
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                .expression_attribute_names("#sk", TableDefinition::SORT_KEY)
                .expression_attribute_values(":pk", s(&user_pk(user_id)))
                .expression_attribute_values(":sessions", s(SESSION_SK_PREFIX))
                .consistent_read(true)
                .set_limit(self.page_limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in output.items.unwrap_or_default() {
                sessions.push(from_item(item)?);
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(sessions),
            }
        }
    }

    async fn revoke_other_sessions(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
    ) -> StoreResult<bool> {
        self.bump_epoch(user_id, keep_session_id, expected_epoch, None).await
    }

    async fn delete_sessions(&self, user_id: u64, session_ids: &[String]) -> StoreResult<()> {
        for chunk in session_ids.chunks(BATCH_WRITE_LIMIT) {
            let mut requests = chunk
                .iter()
                .map(|id| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key(user_pk(user_id), &session_sk(id))))
                        .build()
                        .map_err(|e| StoreError::Other(e.to_string()))?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let mut pause = std::time::Duration::from_millis(BATCH_RETRY_PAUSE_MS);
            for attempt in 1..=BATCH_WRITE_ATTEMPTS {
                self.count();
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(classify)?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut tables| tables.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt < BATCH_WRITE_ATTEMPTS {
                    // DynamoDB leaves items unprocessed only under throttling: back off first.
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
            if !requests.is_empty() {
                return Err(StoreError::Unavailable("batch delete left items unprocessed".into()));
            }
        }
        Ok(())
    }
}

impl AccountStore for DynamoStore {
    async fn delete_account(&self, user: &User, session_id: &str) -> StoreResult<Result<(), SessionProblem>> {
        let delete = |pk: String, sk: &str| Delete::builder().table_name(&self.table).set_key(Some(key(pk, sk)));
        // A failed condition shows the item it found (ALL_OLD): the outcome is judged from it.
        let conditional = |delete: aws_sdk_dynamodb::types::builders::DeleteBuilder, condition: &str| {
            delete
                .condition_expression(condition)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        };
        let built = |delete: aws_sdk_dynamodb::types::builders::DeleteBuilder| {
            delete
                .build()
                .map(|delete| TransactWriteItem::builder().delete(delete).build())
                .map_err(|e| StoreError::Other(e.to_string()))
        };
        // In this order: the outcome is judged by the first item whose condition failed.
        let items = vec![
            // The user, as authenticated: still there, active, at the same epoch.
            built(
                conditional(
                    delete(user_pk(user.id), USER_SK),
                    "attribute_exists(#pk) AND #is_active = :true AND #session_epoch = :epoch",
                )
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                .expression_attribute_names("#is_active", "is_active")
                .expression_attribute_names("#session_epoch", "session_epoch")
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":epoch", n(user.session_epoch)),
            )?,
            // The email claim, never another user's.
            built(
                conditional(
                    delete(email_pk(&user.email), EMAIL_SK),
                    "attribute_not_exists(#pk) OR #user_id = :id",
                )
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                .expression_attribute_names("#user_id", "user_id")
                .expression_attribute_values(":id", n(user.id)),
            )?,
            // The email's wrong guesses: the address starts afresh.
            built(delete(throttle_pk(&user.email), THROTTLE_SK))?,
            // The session asking for the deletion, which must not have ended meanwhile.
            built(
                conditional(delete(user_pk(user.id), &session_sk(session_id)), "#revoked = :false")
                    .expression_attribute_names("#revoked", "revoked")
                    .expression_attribute_values(":false", AttributeValue::Bool(false)),
            )?,
        ];
        let failed = match self.transact(items).await {
            Ok(()) => return Ok(Ok(())),
            Err(TransactOutcome::ConditionFailed(failed)) => failed,
            Err(TransactOutcome::Failed(error)) => return Err(error),
        };
        match failed.as_slice() {
            // The user failed its condition: gone (an earlier attempt of this very call, whose
            // answer was lost, or another deletion: either way what was asked for), or changed.
            [Some(found), ..] => match found_user(found)? {
                None => Ok(Ok(())),
                Some(found) if found.session_epoch != user.session_epoch => Ok(Err(SessionProblem::Revoked)),
                Some(_) => Ok(Err(SessionProblem::NoActiveUser)),
            },
            [None, Some(_), ..] => Err(StoreError::Other("email claim held by another user".into())),
            // The session was logged out, or expired and removed, since authentication.
            _ => Ok(Err(SessionProblem::Revoked)),
        }
    }
}

/// A user item as a failed condition returned it (`None`: there was none).
fn found_user(item: &HashMap<String, AttributeValue>) -> StoreResult<Option<User>> {
    match item.is_empty() {
        true => Ok(None),
        false => from_item(item.clone()).map(Some),
    }
}

impl LoginThrottleStore for DynamoStore {
    async fn throttle_record(&self, email: &str) -> StoreResult<ThrottleRecord> {
        match self.get(throttle_pk(email), THROTTLE_SK).await? {
            Some(item) => from_item(item),
            None => Ok(ThrottleRecord::default()),
        }
    }

    async fn replace_throttle_record(
        &self,
        email: &str,
        expected_version: u64,
        next: &ThrottleRecord,
    ) -> StoreResult<Result<(), ThrottleRecord>> {
        self.count();
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(next, throttle_pk(email), THROTTLE_SK)?))
            .expression_attribute_names("#version", "version")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match expected_version {
            // No record, or one written before records had versions.
            0 => request
                .condition_expression("attribute_not_exists(#pk) OR attribute_not_exists(#version)")
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY),
            version => request
                .condition_expression("#version = :expected")
                .expression_attribute_values(":expected", n(version)),
        };
        let error = match request.send().await {
            Ok(_) => return Ok(Ok(())),
            Err(error) => error,
        };
        match error.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(failed)) => match failed.item() {
                Some(item) if !item.is_empty() => Ok(Err(from_item(item.clone())?)),
                // Cleared in between.
                _ => Ok(Err(ThrottleRecord::default())),
            },
            _ => Err(classify(error)),
        }
    }

    async fn clear_throttle_record(&self, email: &str) -> StoreResult<()> {
        self.count();
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(throttle_pk(email), THROTTLE_SK)))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

impl EmailStore for DynamoStore {
    async fn find_by_id(&self, user_id: u64) -> StoreResult<Option<User>> {
        match self.get(user_pk(user_id), USER_SK).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    async fn reset_password(&self, user: &User, new_password_hash: &str) -> StoreResult<bool> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user.id), USER_SK)))
            .update_expression("SET #password_hash = :new_hash, #session_epoch = :next, #email_verified = :true")
            .condition_expression("#password_hash = :old_hash AND #session_epoch = :epoch AND #is_active = :true")
            .expression_attribute_names("#password_hash", "password_hash")
            .expression_attribute_names("#session_epoch", "session_epoch")
            .expression_attribute_names("#email_verified", "email_verified")
            .expression_attribute_names("#is_active", "is_active")
            .expression_attribute_values(":new_hash", s(new_password_hash))
            .expression_attribute_values(":old_hash", s(&user.password_hash))
            .expression_attribute_values(":epoch", n(user.session_epoch))
            .expression_attribute_values(":next", n(user.session_epoch + 1))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let forget_guesses = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(throttle_pk(&user.email), THROTTLE_SK)))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            TransactWriteItem::builder().delete(forget_guesses).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            // Ours already when the user holds our new hash (Argon2 salts are random: no other
            // write stores the same one): an earlier attempt of this call landed unanswered.
            Err(TransactOutcome::ConditionFailed(failed)) => match failed.first() {
                Some(Some(found)) => {
                    Ok(found_user(found)?.is_some_and(|found| found.password_hash == new_password_hash))
                }
                _ => Ok(false),
            },
            Err(TransactOutcome::Failed(error)) => Err(error),
        }
    }

    async fn mark_email_verified(&self, user_id: u64, email: &str) -> StoreResult<bool> {
        self.count();
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), USER_SK)))
            .update_expression("SET #email_verified = :true")
            .condition_expression(
                "attribute_exists(#pk) AND #email = :email AND (attribute_not_exists(#email_verified) OR #email_verified = :false)",
            )
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#email", "email")
            .expression_attribute_names("#email_verified", "email_verified")
            .expression_attribute_values(":email", s(email))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        written_unless_condition_failed(outcome)
    }

    async fn take_mail_quota(&self, email: &str, purpose: MailPurpose, limit: u32, now: i64) -> StoreResult<bool> {
        let sort_key = super::memory::quota_sort_key(purpose);
        // Counted in the current window; a window that has ended (TTL deletes late) is started
        // afresh by a write conditional on the end it had, so two racing restarts count twice.
        for _ in 0..3 {
            self.count();
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(mail_quota_pk(email), sort_key)))
                .update_expression("SET #expires_at = if_not_exists(#expires_at, :window_end) ADD #count :one")
                .condition_expression("attribute_not_exists(#pk) OR (#expires_at > :now AND #count < :limit)")
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                .expression_attribute_names("#expires_at", TableDefinition::TTL_ATTRIBUTE)
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":window_end", n(now + MAIL_QUOTA_WINDOW_SECONDS))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":limit", n(limit))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let error = match counted {
                Ok(_) => return Ok(true),
                Err(error) => error,
            };
            let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = error.as_service_error() else {
                return Err(classify(error));
            };
            let window_end = failed
                .item()
                .and_then(|item| item.get(TableDefinition::TTL_ATTRIBUTE))
                .and_then(|value| value.as_n().ok())
                .and_then(|text| text.parse::<i64>().ok());
            let Some(window_end) = window_end.filter(|end| *end <= now) else {
                return Ok(false); // the limit is reached in this window
            };
            self.count();
            let restarted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(mail_quota_pk(email), sort_key)))
                .update_expression("SET #expires_at = :window_end, #count = :one")
                .condition_expression("#expires_at = :old_end")
                .expression_attribute_names("#expires_at", TableDefinition::TTL_ATTRIBUTE)
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":window_end", n(now + MAIL_QUOTA_WINDOW_SECONDS))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":old_end", n(window_end))
                .send()
                .await;
            if written_unless_condition_failed(restarted)? {
                return Ok(true);
            }
            // Another request restarted the window first: count in it.
        }
        Err(StoreError::Unavailable("mail quota contended".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::cancellation_is_retryable;

    #[test]
    fn only_conflicts_and_throttling_cancel_a_transaction_for_a_retry() {
        assert!(cancellation_is_retryable(&["None", "TransactionConflict"]));
        assert!(cancellation_is_retryable(&["ThrottlingError", "None"]));
        assert!(cancellation_is_retryable(&["ProvisionedThroughputExceeded"]));
        assert!(!cancellation_is_retryable(&["None", "ValidationError"]));
        assert!(!cancellation_is_retryable(&["ItemCollectionSizeLimitExceeded", "None"]));
        assert!(!cancellation_is_retryable(&["TransactionConflict", "ValidationError"]));
        assert!(
            !cancellation_is_retryable(&["SomethingNew"]),
            "unknown reasons are not retried"
        );
    }
}
