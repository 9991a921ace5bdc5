//! Admin writes in DynamoDB: each a transaction conditional on what the request read, with the
//! active-superuser set (one item, `SUPERUSERS`/`SET`, attribute `ids`, a number set) kept in
//! step; and the staff's event log, a Query of a subject's partition or of the `events-by-day`
//! index.

use aws_sdk_dynamodb::types::builders::UpdateBuilder;

use super::events::{event_day, event_sk, events_pk};
use super::*;
use crate::store::{
    AdminChanges, AdminRefusal, AdminStore, EventFilter, EventPage, EventPosition, SecurityEvent, is_active_superuser,
};

const SUPERUSERS_PK: &str = "SUPERUSERS";
const SUPERUSERS_SK: &str = "SET";
const SUPERUSER_IDS: &str = "ids";
/// Queries per call of the event log at most: days without events, or a filter that matches
/// few, make a short page (with `next`), never a slow one.
const MAX_EVENT_READS: usize = 5;

impl DynamoStore {
    fn superusers_update(&self) -> UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(SUPERUSERS_PK.to_owned(), SUPERUSERS_SK)))
            .expression_attribute_names("#ids", SUPERUSER_IDS)
    }

    /// Adds the user to the active superusers.
    pub(super) fn superuser_added(&self, user_id: u64) -> StoreResult<TransactWriteItem> {
        let update = self
            .superusers_update()
            .update_expression("ADD #ids :me")
            .expression_attribute_values(":me", AttributeValue::Ns(vec![user_id.to_string()]))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Takes the user out of the active superusers; when `keep_one`, only if another remains.
    /// A set without the user (one written before the set existed) lets it pass: it cannot
    /// tell, and `account-admin backfill` rebuilds it.
    pub(super) fn superuser_removed(&self, user_id: u64, keep_one: bool) -> StoreResult<TransactWriteItem> {
        let mut update = self
            .superusers_update()
            .update_expression("DELETE #ids :me")
            .expression_attribute_values(":me", AttributeValue::Ns(vec![user_id.to_string()]));
        if keep_one {
            update = update
                .condition_expression("size(#ids) > :one OR NOT contains(#ids, :id)")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":id", n(user_id));
        }
        let update = update.build().map_err(|e| StoreError::Other(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The items that keep the set in step as a user goes from `before` to `after`.
    fn superuser_set_change(&self, before: &User, after: &User) -> StoreResult<Option<TransactWriteItem>> {
        match (is_active_superuser(before), is_active_superuser(after)) {
            (true, false) => self.superuser_removed(before.id, true).map(Some),
            (false, true) => self.superuser_added(before.id).map(Some),
            _ => Ok(None),
        }
    }

    /// Judges a refused admin transaction: the user item first (index 0), then the set (1).
    fn admin_refusal(failed: &[Option<HashMap<String, AttributeValue>>]) -> AdminRefusal {
        match failed {
            [Some(found), ..] if found.is_empty() => AdminRefusal::Gone,
            [Some(_), ..] => AdminRefusal::Conflict,
            [None, Some(_), ..] => AdminRefusal::LastSuperuser,
            _ => AdminRefusal::Conflict,
        }
    }

    async fn admin_transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<Result<(), AdminRefusal>> {
        match self.transact(items).await {
            Ok(()) => Ok(Ok(())),
            Err(TransactOutcome::ConditionFailed(failed)) => Ok(Err(Self::admin_refusal(&failed))),
            Err(TransactOutcome::Failed(error)) => Err(error),
        }
    }
}

/// A condition that `name` still holds `value` (a missing attribute counts as NULL: items
/// written before a field existed).
fn unchanged(name: &str, value: AttributeValue, conditions: &mut Vec<String>, update: UpdateBuilder) -> UpdateBuilder {
    let condition = match value {
        AttributeValue::Null(_) => format!("(attribute_not_exists(#{name}) OR #{name} = :was_{name})"),
        _ => format!("#{name} = :was_{name}"),
    };
    conditions.push(condition);
    update
        .expression_attribute_names(format!("#{name}"), name)
        .expression_attribute_values(format!(":was_{name}"), value)
}

fn optional(text: Option<&str>) -> AttributeValue {
    text.map_or(AttributeValue::Null(true), s)
}

impl AdminStore for DynamoStore {
    async fn admin_update(
        &self,
        user: &User,
        changes: &AdminChanges,
        events: &[SecurityEvent],
    ) -> StoreResult<Result<User, AdminRefusal>> {
        let mut after = user.clone();
        changes.apply_to(&mut after);
        // Attribute names are the `User` fields, as serde_dynamo stores them.
        let mut sets: Vec<(&str, AttributeValue, AttributeValue)> = Vec::new();
        let profile = &changes.profile;
        if profile.first_name.is_some() {
            sets.push(("first_name", s(&user.first_name), s(&after.first_name)));
        }
        if profile.last_name.is_some() {
            sets.push(("last_name", s(&user.last_name), s(&after.last_name)));
        }
        if profile.gender.is_some() {
            sets.push(("gender", s(&user.gender), s(&after.gender)));
        }
        if profile.date_of_birth.is_some() {
            sets.push((
                "date_of_birth",
                optional(user.date_of_birth.as_deref()),
                optional(after.date_of_birth.as_deref()),
            ));
        }
        if changes.password_hash.is_some() {
            sets.push(("password_hash", s(&user.password_hash), s(&after.password_hash)));
        }
        let flags = [
            ("is_active", changes.is_active, user.is_active),
            ("is_staff", changes.is_staff, user.is_staff),
            ("is_superuser", changes.is_superuser, user.is_superuser),
            ("email_verified", changes.email_verified, user.email_verified),
        ];
        for (name, change, was) in flags {
            if let Some(value) = change {
                sets.push((name, AttributeValue::Bool(was), AttributeValue::Bool(value)));
            }
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user.id), USER_SK)))
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#session_epoch", "session_epoch")
            .expression_attribute_values(":epoch", n(user.session_epoch))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut conditions = vec!["attribute_exists(#pk)".to_owned(), "#session_epoch = :epoch".to_owned()];
        let mut assignments = Vec::new();
        for (name, was, value) in sets {
            update =
                unchanged(name, was, &mut conditions, update).expression_attribute_values(format!(":{name}"), value);
            assignments.push(format!("#{name} = :{name}"));
        }
        let mut expression = match assignments.is_empty() {
            // Nothing to change: the epoch is set to itself, so the write still checks.
            true => "SET #session_epoch = :epoch".to_owned(),
            false => format!("SET {}", assignments.join(", ")),
        };
        if after.session_epoch != user.session_epoch {
            // A deactivation: every session of the old epoch ends with it.
            expression = format!("{expression} ADD #session_epoch :one");
            update = update.expression_attribute_values(":one", n(1));
        }
        let update = update
            .update_expression(expression)
            .condition_expression(conditions.join(" AND "))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(self.superuser_set_change(user, &after)?);
        let items = self.with_events(items, events)?;
        if let Err(refusal) = self.admin_transact(items).await? {
            return Ok(Err(refusal));
        }
        match self.get(user_pk(user.id), USER_SK).await? {
            Some(item) => Ok(Ok(from_item(item)?)),
            // Deleted a moment after the change.
            None => Ok(Err(AdminRefusal::Gone)),
        }
    }

    async fn admin_sign_out(&self, user: &User, events: &[SecurityEvent]) -> StoreResult<Result<(), AdminRefusal>> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user.id), USER_SK)))
            .update_expression("ADD #session_epoch :one")
            .condition_expression("attribute_exists(#pk) AND #session_epoch = :epoch")
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#session_epoch", "session_epoch")
            .expression_attribute_values(":epoch", n(user.session_epoch))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let items = self.with_events(vec![TransactWriteItem::builder().update(update).build()], events)?;
        self.admin_transact(items).await
    }

    async fn admin_delete(&self, user: &User, events: &[SecurityEvent]) -> StoreResult<Result<(), AdminRefusal>> {
        let delete = |pk: String, sk: &str| Delete::builder().table_name(&self.table).set_key(Some(key(pk, sk)));
        let built = |delete: aws_sdk_dynamodb::types::builders::DeleteBuilder| {
            delete
                .build()
                .map(|delete| TransactWriteItem::builder().delete(delete).build())
                .map_err(|e| StoreError::Other(e.to_string()))
        };
        // In this order: the refusal is judged by the first item whose condition failed.
        let mut items = vec![
            // The user as read: there, same epoch, same standing (the superuser rule judged it).
            built(
                delete(user_pk(user.id), USER_SK)
                    .condition_expression(
                        "attribute_exists(#pk) AND #session_epoch = :epoch AND #is_active = :active AND #is_superuser = :superuser",
                    )
                    .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                    .expression_attribute_names("#session_epoch", "session_epoch")
                    .expression_attribute_names("#is_active", "is_active")
                    .expression_attribute_names("#is_superuser", "is_superuser")
                    .expression_attribute_values(":epoch", n(user.session_epoch))
                    .expression_attribute_values(":active", AttributeValue::Bool(user.is_active))
                    .expression_attribute_values(":superuser", AttributeValue::Bool(user.is_superuser))
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld),
            )?,
        ];
        if is_active_superuser(user) {
            items.push(self.superuser_removed(user.id, true)?);
        }
        // The email claim, never another user's, and the address's wrong guesses.
        items.push(built(
            delete(email_pk(&user.email), EMAIL_SK)
                .condition_expression("attribute_not_exists(#pk) OR #user_id = :id")
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                .expression_attribute_names("#user_id", "user_id")
                .expression_attribute_values(":id", n(user.id)),
        )?);
        items.push(built(delete(throttle_pk(&user.email), THROTTLE_SK))?);
        let items = self.with_events(items, events)?;
        self.admin_transact(items).await
    }

    async fn event_feed(
        &self,
        filter: &EventFilter,
        since_ms: i64,
        before: Option<&EventPosition>,
        limit: usize,
    ) -> StoreResult<EventPage> {
        let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        // Where the reading stands: strictly before this sort key, in this partition.
        let mut upto_ms = before.map_or(now_ms + 1, |position| position.at_ms);
        let mut upto = before.map_or_else(|| event_sk(now_ms + 1, ""), |p| event_sk(p.at_ms, &p.id));
        let mut events: Vec<SecurityEvent> = Vec::new();
        for _ in 0..MAX_EVENT_READS {
            // One subject: its partition. Everyone's: the index partition of one day.
            let (partition_name, partition, index) = match &filter.subject {
                Some(subject) => (TableDefinition::PARTITION_KEY, events_pk(subject), None),
                None => (
                    TableDefinition::EVENT_INDEX_PARTITION,
                    event_day(upto_ms - 1),
                    Some(TableDefinition::EVENT_INDEX),
                ),
            };
            let wanted = i32::try_from(limit + 1 - events.len()).unwrap_or(i32::MAX);
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression("#partition = :partition AND #sk BETWEEN :first AND :upto")
                .expression_attribute_names("#partition", partition_name)
                .expression_attribute_names("#sk", TableDefinition::SORT_KEY)
                .expression_attribute_values(":partition", s(&partition))
                .expression_attribute_values(":first", s(&event_sk(since_ms.max(0), "")))
                // BETWEEN is inclusive: the position itself is dropped below.
                .expression_attribute_values(":upto", s(&upto))
                .scan_index_forward(false)
                .limit(wanted);
            if let Some(kind) = filter.kind {
                request = request
                    .filter_expression("#type = :type")
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":type", s(kind.name()));
            }
            self.count();
            let output = request.send().await.map_err(classify)?;
            for item in output.items.unwrap_or_default() {
                let event: SecurityEvent = from_item(item)?;
                if event_sk(event.at_ms, &event.id) < upto {
                    events.push(event);
                }
            }
            if events.len() > limit {
                events.truncate(limit);
                let next = events.last().map(SecurityEvent::position);
                return Ok(EventPage { events, next });
            }
            match output.last_evaluated_key {
                // More in this partition: go on from the last item read.
                Some(last) if !last.is_empty() => {
                    if let Some(sk) = last.get(TableDefinition::SORT_KEY).and_then(|value| value.as_s().ok()) {
                        upto.clone_from(sk);
                        upto_ms = super::events::at_ms_of(sk).unwrap_or(upto_ms);
                    }
                }
                // The partition is read to its start: a subject's list ends; the log goes on
                // with the day before, if the retention period reaches it.
                _ => {
                    let day_start = super::events::day_start_ms(upto_ms - 1);
                    if filter.subject.is_some() || day_start <= since_ms {
                        return Ok(EventPage { events, next: None });
                    }
                    upto_ms = day_start;
                    upto = event_sk(day_start, "");
                }
            }
        }
        // Read enough for one call: the page is short, and the log goes on from here.
        let next = Some(EventPosition {
            at_ms: upto_ms,
            id: upto.rsplit('#').next().unwrap_or_default().to_owned(),
        });
        Ok(EventPage { events, next })
    }
}

impl DynamoStore {
    /// Brings a table written before the admin indexes up to date, for `account-admin
    /// backfill`: every user item gets the users list's key, every event its day, and the set of
    /// active superusers is written from the users. A Scan of the whole table, once, by an
    /// operator (never a route); writes that land meanwhile keep the set themselves. Answers
    /// the users and the active superusers found.
    pub async fn backfill_admin_indexes(&self) -> StoreResult<(usize, usize)> {
        let mut users = 0;
        let mut superusers: Vec<String> = Vec::new();
        let mut start = None;
        loop {
            self.count();
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "(#sk = :user AND begins_with(#pk, :users)) OR (begins_with(#pk, :events) AND attribute_not_exists(#day))",
                )
                .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                .expression_attribute_names("#sk", TableDefinition::SORT_KEY)
                .expression_attribute_names("#day", TableDefinition::EVENT_INDEX_PARTITION)
                .expression_attribute_values(":user", s(USER_SK))
                .expression_attribute_values(":users", s("USER#"))
                .expression_attribute_values(":events", s("EVENTS#"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for item in output.items.unwrap_or_default() {
                let (Some(pk), Some(sk)) = (
                    item.get(TableDefinition::PARTITION_KEY)
                        .and_then(|v| v.as_s().ok())
                        .cloned(),
                    item.get(TableDefinition::SORT_KEY).and_then(|v| v.as_s().ok()).cloned(),
                ) else {
                    continue;
                };
                let (name, value) = if sk == USER_SK {
                    let user: User = from_item(item.clone())?;
                    users += 1;
                    if is_active_superuser(&user) {
                        superusers.push(user.id.to_string());
                    }
                    if item.contains_key(TableDefinition::USER_INDEX_PARTITION) {
                        continue;
                    }
                    (
                        TableDefinition::USER_INDEX_PARTITION,
                        s(TableDefinition::USER_INDEX_PARTITION_VALUE),
                    )
                } else {
                    let Some(at_ms) = super::events::at_ms_of(&sk) else {
                        continue;
                    };
                    (TableDefinition::EVENT_INDEX_PARTITION, s(&event_day(at_ms)))
                };
                self.count();
                let written = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, &sk)))
                    .update_expression("SET #name = :value")
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#name", name)
                    .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
                    .expression_attribute_values(":value", value)
                    .send()
                    .await;
                // Deleted meanwhile: nothing to bring up to date.
                written_unless_condition_failed(written)?;
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        let found = superusers.len();
        self.count();
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(SUPERUSERS_PK.to_owned(), SUPERUSERS_SK)))
            .expression_attribute_names("#ids", SUPERUSER_IDS);
        let update = match superusers.is_empty() {
            true => update.update_expression("REMOVE #ids"),
            false => update
                .update_expression("SET #ids = :ids")
                .expression_attribute_values(":ids", AttributeValue::Ns(superusers)),
        };
        update.send().await.map_err(classify)?;
        Ok((users, found))
    }
}
