//! Sessions in DynamoDB: started, read with their user in one round trip, rotated (with a
//! condition on the user), revoked, listed by a Query of the user's partition, swept 25 a
//! request; and the epoch transaction of password change and revoke-others.

use super::*;

impl SessionStore for DynamoStore {
    async fn start_session(
        &self,
        user: &User,
        session: NewSession,
        logged_in_at: &str,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
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
        let items = self.with_events(items, events)?;
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
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        self.bump_epoch(
            user_id,
            keep_session_id,
            expected_epoch,
            Some(new_password_hash),
            events,
        )
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
        events: &[SecurityEvent],
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
        let items = self.with_events(items, events)?;
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
        self.query_user_items(user_id, SESSION_SK_PREFIX).await
    }

    async fn revoke_other_sessions(
        &self,
        user_id: u64,
        keep_session_id: &str,
        expected_epoch: u64,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        self.bump_epoch(user_id, keep_session_id, expected_epoch, None, events)
            .await
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
