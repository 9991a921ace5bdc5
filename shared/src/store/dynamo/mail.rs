//! Password reset and address verification in DynamoDB: the reset's transaction, the
//! verified address, and each address's hourly mail quota.

use super::*;

impl EmailStore for DynamoStore {
    async fn find_by_id(&self, user_id: u64) -> StoreResult<Option<User>> {
        match self.get(user_pk(user_id), USER_SK).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    async fn reset_password(
        &self,
        user: &User,
        new_password_hash: &str,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
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
        let items = self.with_events(items, events)?;
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
        let sort_key = purpose.sort_key();
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
