//! The login throttle's records in DynamoDB, written only by compare-and-swap.

use super::*;

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
