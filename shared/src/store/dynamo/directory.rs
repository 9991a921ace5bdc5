//! The admin list in DynamoDB: a Query of the `users-by-email` index, every user in one index
//! partition sorted by email, a prefix by `begins_with`, the flags by a filter.

use super::*;
use crate::store::{UserDirectory, UserListing, UserPage, UserPosition, UserQuery};

/// Index pages read per call at most: with flags that match few users a page may come back
/// short (DynamoDB's `Limit` counts the items read, before the filter), but never slowly.
const MAX_INDEX_READS: usize = 5;

impl DynamoStore {
    /// The index's key of a user: what `ExclusiveStartKey` takes to continue after them.
    fn user_index_key(position: &UserPosition) -> HashMap<String, AttributeValue> {
        let mut key = key(user_pk(position.id), USER_SK);
        key.insert(
            TableDefinition::USER_INDEX_PARTITION.to_owned(),
            s(TableDefinition::USER_INDEX_PARTITION_VALUE),
        );
        key.insert(TableDefinition::USER_INDEX_SORT.to_owned(), s(&position.email));
        key
    }
}

/// The position of an index key DynamoDB answered as `LastEvaluatedKey`.
fn position_of(key: &HashMap<String, AttributeValue>) -> Option<UserPosition> {
    let email = key.get(TableDefinition::USER_INDEX_SORT)?.as_s().ok()?.clone();
    let id = key
        .get(TableDefinition::PARTITION_KEY)?
        .as_s()
        .ok()?
        .strip_prefix("USER#")?
        .parse()
        .ok()?;
    Some(UserPosition { email, id })
}

impl UserDirectory for DynamoStore {
    async fn list_users(&self, query: &UserQuery, after: Option<&UserPosition>, limit: usize) -> StoreResult<UserPage> {
        let mut condition = "#list = :list".to_owned();
        if !query.email_prefix.is_empty() {
            condition.push_str(" AND begins_with(#email, :prefix)");
        }
        let mut filters = Vec::new();
        if query.is_active.is_some() {
            filters.push("#is_active = :is_active");
        }
        if query.is_staff.is_some() {
            filters.push("#is_staff = :is_staff");
        }
        let mut users: Vec<UserListing> = Vec::new();
        let mut start = after.map(Self::user_index_key);
        for _ in 0..MAX_INDEX_READS {
            let wanted = i32::try_from(limit + 1 - users.len()).unwrap_or(i32::MAX);
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(TableDefinition::USER_INDEX)
                .key_condition_expression(&condition)
                .expression_attribute_names("#list", TableDefinition::USER_INDEX_PARTITION)
                .expression_attribute_values(":list", s(TableDefinition::USER_INDEX_PARTITION_VALUE))
                .limit(wanted)
                .set_exclusive_start_key(start.take());
            if !query.email_prefix.is_empty() {
                request = request
                    .expression_attribute_names("#email", TableDefinition::USER_INDEX_SORT)
                    .expression_attribute_values(":prefix", s(&query.email_prefix));
            }
            if let Some(active) = query.is_active {
                request = request
                    .expression_attribute_names("#is_active", "is_active")
                    .expression_attribute_values(":is_active", AttributeValue::Bool(active));
            }
            if let Some(staff) = query.is_staff {
                request = request
                    .expression_attribute_names("#is_staff", "is_staff")
                    .expression_attribute_values(":is_staff", AttributeValue::Bool(staff));
            }
            if !filters.is_empty() {
                request = request.filter_expression(filters.join(" AND "));
            }
            self.count();
            let output = request.send().await.map_err(classify)?;
            for item in output.items.unwrap_or_default() {
                users.push(from_item(item)?);
            }
            if users.len() > limit {
                users.truncate(limit);
                let next = users.last().map(|user| UserPosition {
                    email: user.email.clone(),
                    id: user.id,
                });
                return Ok(UserPage { users, next });
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(UserPage { users, next: None }),
            }
        }
        // Read enough for one call: the page is short, and the list goes on from there.
        let next = start.as_ref().and_then(position_of);
        Ok(UserPage { users, next })
    }
}
