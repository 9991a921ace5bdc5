//! Users in DynamoDB: the email claim that makes an address unique, the id counter, a profile
//! change conditional on the user's epoch.

use super::*;

impl UserStore for DynamoStore {
    async fn email_registered(&self, email: &str) -> StoreResult<bool> {
        Ok(self.get(email_pk(email), EMAIL_SK).await?.is_some())
    }

    async fn create_user(
        &self,
        new: NewUser,
        first_session: Option<NewSession>,
        events: &[SecurityEvent],
    ) -> StoreResult<Registration> {
        let id = self.next_user_id().await?;
        let user = new.into_user(id, first_session.is_some(), false);
        let mut claim = key(email_pk(&user.email), EMAIL_SK);
        claim.insert("user_id".to_owned(), n(id));
        let mut items = vec![self.put(claim, true)?, self.put(user_item(&user)?, true)?];
        if let Some(session) = first_session {
            items.push(self.put(session_item(id, 0, session)?, true)?);
        }
        if crate::store::is_active_superuser(&user) {
            items.push(self.superuser_added(id)?);
        }
        let items = self.with_events(items, &events_of_new_user(events, id))?;
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
