//! Deleting an account in DynamoDB: the user, the email claim, the throttle record and the
//! caller's session in one transaction.

use super::*;

impl AccountStore for DynamoStore {
    async fn delete_account(
        &self,
        user: &User,
        session_id: &str,
        events: &[SecurityEvent],
    ) -> StoreResult<Result<(), SessionProblem>> {
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
        let mut items = items;
        if crate::store::is_active_superuser(user) {
            // The set stays true; the last superuser may leave (`account-admin create-superuser`
            // makes another).
            items.push(self.superuser_removed(user.id, false)?);
        }
        // The events stay for their retention period: their partition is not the user's.
        let items = self.with_events(items, events)?;
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
