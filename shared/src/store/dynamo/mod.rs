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
//! | event         | `EVENTS#<subject>`| `EVENT#<ms>#<id>` | the `SecurityEvent` fields; `expires_at` TTL  |
//! | superusers    | `SUPERUSERS`      | `SET`             | `ids`: the active superusers (a number set)   |
//!
//! Two global secondary indexes: `users-by-email` (`TableDefinition::USER_INDEX`): user items
//! carry `user_list = USERS`, so the admin list is a Query of them in email order; and
//! `events-by-day` (`TableDefinition::EVENT_INDEX`): event items carry their UTC day, so the
//! staff's event log is a Query of a day's events in time order.
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
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update, WriteRequest,
};
use serde::Serialize;

mod accounts;
mod admin;
mod directory;
mod events;
mod mail;
mod sessions;
mod social;
mod throttle;
mod users;

use super::event::events_of_new_user;

use super::{
    AccountStore, EmailStore, LoginThrottleStore, MAIL_QUOTA_WINDOW_SECONDS, MailPurpose, NewSession, NewUser,
    NextRefresh, ProfileChanges, Registration, Rotation, SecurityEvent, Session, SessionListStore, SessionProblem,
    SessionStore, SessionView, StoreError, StoreResult, TOUCH_INTERVAL_SECONDS, ThrottleRecord, User, UserStore,
};

/// The table's shape: the one definition used to create it locally and checked against the
/// deploy template.
pub struct TableDefinition;

impl TableDefinition {
    pub const PARTITION_KEY: &'static str = "PK";
    pub const SORT_KEY: &'static str = "SK";
    pub const TTL_ATTRIBUTE: &'static str = "expires_at";
    /// The admin list's index: every user item in one index partition, sorted by email, so a
    /// prefix of an email is one Query (`begins_with`) and the whole list pages in email order.
    pub const USER_INDEX: &'static str = "users-by-email";
    /// Its partition key, on user items only (`USERS`): other items stay out of the index.
    pub const USER_INDEX_PARTITION: &'static str = "user_list";
    pub const USER_INDEX_PARTITION_VALUE: &'static str = "USERS";
    pub const USER_INDEX_SORT: &'static str = "email";
    /// What the index holds beside the keys: what the list shows. Never the password hash, and
    /// nothing a login or a refresh writes (`last_login`, `session_epoch`), so those writes do
    /// not touch the index.
    pub const USER_INDEX_ATTRIBUTES: [&'static str; 8] = [
        "id",
        "first_name",
        "last_name",
        "is_active",
        "is_staff",
        "is_superuser",
        "email_verified",
        "date_joined",
    ];

    /// The staff's event log across users: event items carry their UTC day (`event_day`), so
    /// a day's events are one index partition in time order (the table's sort key).
    pub const EVENT_INDEX: &'static str = "events-by-day";
    pub const EVENT_INDEX_PARTITION: &'static str = "event_day";

    /// The definition in CloudFormation's words, for `account-admin table-definition`, which
    /// `make test` compares with the table of `template.yaml`.
    pub fn as_cloudformation() -> serde_json::Value {
        serde_json::json!({
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": Self::PARTITION_KEY, "AttributeType": "S"},
                {"AttributeName": Self::SORT_KEY, "AttributeType": "S"},
                {"AttributeName": Self::USER_INDEX_PARTITION, "AttributeType": "S"},
                {"AttributeName": Self::USER_INDEX_SORT, "AttributeType": "S"},
                {"AttributeName": Self::EVENT_INDEX_PARTITION, "AttributeType": "S"},
            ],
            "KeySchema": [
                {"AttributeName": Self::PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": Self::SORT_KEY, "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [{
                "IndexName": Self::USER_INDEX,
                "KeySchema": [
                    {"AttributeName": Self::USER_INDEX_PARTITION, "KeyType": "HASH"},
                    {"AttributeName": Self::USER_INDEX_SORT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": Self::USER_INDEX_ATTRIBUTES},
            }, {
                "IndexName": Self::EVENT_INDEX,
                "KeySchema": [
                    {"AttributeName": Self::EVENT_INDEX_PARTITION, "KeyType": "HASH"},
                    {"AttributeName": Self::SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }],
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
            .attribute_definitions(attribute(TableDefinition::USER_INDEX_PARTITION)?)
            .attribute_definitions(attribute(TableDefinition::USER_INDEX_SORT)?)
            .attribute_definitions(attribute(TableDefinition::EVENT_INDEX_PARTITION)?)
            .key_schema(key(TableDefinition::PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(TableDefinition::SORT_KEY, KeyType::Range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(TableDefinition::USER_INDEX)
                    .key_schema(key(TableDefinition::USER_INDEX_PARTITION, KeyType::Hash)?)
                    .key_schema(key(TableDefinition::USER_INDEX_SORT, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::Include)
                            .set_non_key_attributes(Some(
                                TableDefinition::USER_INDEX_ATTRIBUTES.map(str::to_owned).to_vec(),
                            ))
                            .build(),
                    )
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?,
            )
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(TableDefinition::EVENT_INDEX)
                    .key_schema(key(TableDefinition::EVENT_INDEX_PARTITION, KeyType::Hash)?)
                    .key_schema(key(TableDefinition::SORT_KEY, KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?,
            )
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
        self.next_in(USER_SK, COUNTER_ATTRIBUTE).await
    }

    /// The next number of the counter `COUNTER`/`sort_key` (ids, never handed out twice).
    async fn next_in(&self, sort_key: &str, attribute: &str) -> StoreResult<u64> {
        self.count();
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(COUNTER_PK.to_owned(), sort_key)))
            .update_expression("ADD #last :one")
            .expression_attribute_names("#last", attribute)
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify)?;
        output
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(attribute))
            .and_then(|value| value.as_n().ok())
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| StoreError::Other(format!("counter {sort_key} returned no number")))
    }

    /// Every item of the user's partition whose sort key begins with `prefix`, read
    /// consistently, page after page (a user's sessions, their provider links).
    async fn query_user_items<T: serde::de::DeserializeOwned>(
        &self,
        user_id: u64,
        prefix: &str,
    ) -> StoreResult<Vec<T>> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            self.count();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                .expression_attribute_names("#sk", TableDefinition::SORT_KEY)
                .expression_attribute_values(":pk", s(&user_pk(user_id)))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_limit(self.page_limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in output.items.unwrap_or_default() {
                found.push(from_item(item)?);
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(found),
            }
        }
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

/// A user item: the user's fields, and the key of the admin list's index.
fn user_item(user: &User) -> StoreResult<HashMap<String, AttributeValue>> {
    let mut item = to_item(user, user_pk(user.id), USER_SK)?;
    item.insert(
        TableDefinition::USER_INDEX_PARTITION.to_owned(),
        s(TableDefinition::USER_INDEX_PARTITION_VALUE),
    );
    Ok(item)
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

/// A user item as a failed condition returned it (`None`: there was none).
fn found_user(item: &HashMap<String, AttributeValue>) -> StoreResult<Option<User>> {
    match item.is_empty() {
        true => Ok(None),
        false => from_item(item.clone()).map(Some),
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
