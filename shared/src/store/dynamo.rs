//! The DynamoDB store: one table, no scans, a fixed small number of round trips per call.
//!
//! | item          | PK                | SK                | attributes                                    |
//! |---------------|-------------------|-------------------|-----------------------------------------------|
//! | user          | `USER#<id>`       | `USER`            | the `User` fields                             |
//! | email claim   | `EMAIL#<email>`   | `EMAIL`           | `user_id` — makes the email unique            |
//! | id counter    | `COUNTER`         | `USER`            | `last_user_id` — pk values, never reused      |
//! | session       | `USER#<id>`       | `SESSION#<sid>`   | the `Session` fields; `expires_at` is the TTL |
//!
//! Every attribute named in an expression goes through a `#name`, so no DynamoDB reserved word
//! can break an expression.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes, Put,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use serde::Serialize;

use super::{
    LoginFailures, LoginThrottleStore, NewSession, NewUser, Registration, Session, SessionStore, SessionView,
    StoreError, StoreResult, User, UserStore,
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

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

fn session_sk(session_id: &str) -> String {
    format!("SESSION#{session_id}")
}

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
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            round_trips: AtomicU64::new(0),
        }
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
            put = put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY);
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
        let failed: Vec<bool> = cancelled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code() == Some("ConditionalCheckFailed"))
            .collect();
        if failed.iter().any(|failed| *failed) {
            return Err(TransactOutcome::ConditionFailed(failed));
        }
        // Cancelled for a conflicting transaction or throttling: worth a retry later.
        let message = DisplayErrorContext(&error).to_string();
        Err(TransactOutcome::Failed(StoreError::Unavailable(message)))
    }

    /// An UpdateItem that may fail its condition: `Ok(false)` then.
    async fn conditional_update(&self, request: UpdateItemFluentBuilder) -> StoreResult<bool> {
        self.count();
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if matches!(error.as_service_error(), Some(e) if e.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(error) => Err(classify(error)),
        }
    }

    /// An UpdateItem on the login-throttle record of `email`.
    fn throttle_update(&self, email: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(throttle_pk(email), THROTTLE_SK)))
    }

    fn session_update(&self, user_id: u64, session_id: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), &session_sk(session_id))))
    }
}

enum TransactOutcome {
    /// Which items failed their condition, in request order.
    ConditionFailed(Vec<bool>),
    Failed(StoreError),
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

/// Throttling, timeouts and connection failures are worth a retry later (503); the rest is 500.
fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
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
    let session = Session {
        id: new.id,
        user_id,
        refresh_jti: new.refresh_jti,
        revoked: false,
        epoch,
        expires_at: new.expires_at,
    };
    to_item(&session, user_pk(user_id), &session_sk(&session.id))
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
            Err(TransactOutcome::ConditionFailed(failed)) if failed.first() == Some(&true) => {
                Ok(Registration::EmailTaken)
            }
            Err(TransactOutcome::ConditionFailed(_)) => Err(StoreError::Other("user id already in use".into())),
            // A conflicting transaction on the same email: the other join is winning.
            Err(TransactOutcome::Failed(error)) => match self.email_registered(&user.email).await {
                Ok(true) => Ok(Registration::EmailTaken),
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
        let user_id: u64 = claim
            .get("user_id")
            .and_then(|value| value.as_n().ok())
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| StoreError::Other("email claim without user id".into()))?;
        match self.get(user_pk(user_id), USER_SK).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
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
        let items = vec![
            self.put(session_item(user.id, user.session_epoch, session)?, true)?,
            TransactWriteItem::builder().update(mark_login).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactOutcome::ConditionFailed(failed)) if failed.get(1) == Some(&true) => Ok(false),
            Err(TransactOutcome::ConditionFailed(_)) => Err(StoreError::Other("session id collision".into())),
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
        next_jti: &str,
        expires_at: i64,
    ) -> StoreResult<bool> {
        self.count();
        let outcome = self
            .session_update(user_id, session_id)
            .update_expression("SET #refresh_jti = :next, #expires_at = :expires")
            .condition_expression("#refresh_jti = :presented AND #revoked = :false")
            .expression_attribute_names("#refresh_jti", "refresh_jti")
            .expression_attribute_names("#expires_at", TableDefinition::TTL_ATTRIBUTE)
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_values(":next", s(next_jti))
            .expression_attribute_values(":expires", n(expires_at))
            .expression_attribute_values(":presented", s(presented_jti))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(error) => match error.as_service_error() {
                // The SDK retries a write whose answer was lost: if the item already holds our
                // next token, an earlier attempt of this very call succeeded.
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Ok(failed
                    .item()
                    .and_then(|old| old.get("refresh_jti"))
                    .and_then(|jti| jti.as_s().ok())
                    .is_some_and(|jti| jti == next_jti)),
                _ => Err(classify(error)),
            },
        }
    }

    async fn end_session(&self, user_id: u64, session_id: &str) -> StoreResult<bool> {
        let request = self
            .session_update(user_id, session_id)
            .update_expression("SET #revoked = :true")
            .condition_expression("#revoked = :false")
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        self.conditional_update(request).await
    }

    async fn revoke_session(&self, user_id: u64, session_id: &str) -> StoreResult<()> {
        let request = self
            .session_update(user_id, session_id)
            .update_expression("SET #revoked = :true")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_values(":true", AttributeValue::Bool(true));
        self.conditional_update(request).await.map(|_| ())
    }

    async fn change_password(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        new_password_hash: &str,
    ) -> StoreResult<bool> {
        let next_epoch = expected_epoch + 1;
        let user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), USER_SK)))
            .update_expression("SET #password_hash = :hash, #session_epoch = :next")
            .condition_expression("#session_epoch = :expected")
            .expression_attribute_names("#password_hash", "password_hash")
            .expression_attribute_names("#session_epoch", "session_epoch")
            .expression_attribute_values(":hash", s(new_password_hash))
            .expression_attribute_values(":next", n(next_epoch))
            .expression_attribute_values(":expected", n(expected_epoch))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let session = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), &session_sk(keep_session_id))))
            .update_expression("SET #epoch = :next")
            .condition_expression("#revoked = :false")
            .expression_attribute_names("#epoch", "epoch")
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_values(":next", n(next_epoch))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(user).build(),
            TransactWriteItem::builder().update(session).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactOutcome::ConditionFailed(_)) => Ok(false),
            Err(TransactOutcome::Failed(error)) => Err(error),
        }
    }
}

impl LoginThrottleStore for DynamoStore {
    async fn login_failures(&self, email: &str, now: i64) -> StoreResult<LoginFailures> {
        let Some(item) = self.get(throttle_pk(email), THROTTLE_SK).await? else {
            return Ok(LoginFailures::default());
        };
        // TTL deletes late: an ended window counts nothing, whatever the item still says.
        let in_window = number(&item, "window_ends") > now;
        Ok(LoginFailures {
            count: if in_window {
                number(&item, "failures").clamp(0, u32::MAX as i64) as u32
            } else {
                0
            },
            locked_until: number(&item, "locked_until"),
        })
    }

    async fn add_login_failure(&self, email: &str, now: i64, window: i64, lifetime: i64) -> StoreResult<u32> {
        // ADD counts racing failures one by one; the condition keeps to the current window.
        let counted = self.throttle_update(email)
            .update_expression("ADD #failures :one SET #window_ends = if_not_exists(#window_ends, :window_ends), #expires_at = :expires")
            .condition_expression("attribute_not_exists(#window_ends) OR #window_ends > :now")
            .expression_attribute_names("#failures", "failures")
            .expression_attribute_names("#window_ends", "window_ends")
            .expression_attribute_names("#expires_at", TableDefinition::TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":window_ends", n(now + window))
            .expression_attribute_values(":expires", n(now + lifetime))
            .expression_attribute_values(":now", n(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew);
        self.count();
        match counted.send().await {
            Ok(output) => {
                let failures = output
                    .attributes
                    .as_ref()
                    .map(|item| number(item, "failures"))
                    .unwrap_or(1);
                Ok(failures.clamp(1, u32::MAX as i64) as u32)
            }
            Err(error) if matches!(error.as_service_error(), Some(e) if e.is_conditional_check_failed_exception()) => {
                // The window has ended: a new one starts with this failure.
                let mut item = key(throttle_pk(email), THROTTLE_SK);
                item.insert("failures".to_owned(), n(1));
                item.insert("window_ends".to_owned(), n(now + window));
                item.insert(TableDefinition::TTL_ATTRIBUTE.to_owned(), n(now + lifetime));
                self.count();
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .map_err(classify)?;
                Ok(1)
            }
            Err(error) => Err(classify(error)),
        }
    }

    async fn lock_logins(&self, email: &str, until: i64) -> StoreResult<()> {
        self.count();
        self.throttle_update(email)
            .update_expression("SET #locked_until = :until")
            .expression_attribute_names("#locked_until", "locked_until")
            .expression_attribute_values(":until", n(until))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn clear_login_failures(&self, email: &str) -> StoreResult<()> {
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
