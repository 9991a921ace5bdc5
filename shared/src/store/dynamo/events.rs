//! Security events in DynamoDB: a subject's events are one partition (`EVENTS#<subject>`),
//! sorted by time (`EVENT#<ms>#<id>`), so a page is one Query read backwards from the newest;
//! the TTL removes them after the retention period. Events ride in the transactions of the
//! writes that are transactions already ([`DynamoStore::with_events`]); the others are put on
//! their own.

use super::*;
use crate::store::{EventPage, EventPosition, EventStore, EventSubject, SecurityEvent};

const EVENT_SK_PREFIX: &str = "EVENT#";
/// Above every digit: the upper end of a subject's sort keys.
const EVENT_SK_END: &str = "EVENT#~";

fn events_pk(subject: &EventSubject) -> String {
    format!("EVENTS#{}", subject.key())
}

/// Zero-padded milliseconds (13 digits last until the year 2286), so the string order of the
/// sort keys is the time order.
fn event_sk(at_ms: i64, id: &str) -> String {
    format!("{EVENT_SK_PREFIX}{at_ms:013}#{id}")
}

fn event_item(event: &SecurityEvent) -> StoreResult<HashMap<String, AttributeValue>> {
    to_item(event, events_pk(&event.user), &event_sk(event.at_ms, &event.id))
}

impl DynamoStore {
    /// `items` (an action's transaction) with a Put of each event after them: the items'
    /// positions, which a failed condition's answer is read by, do not move.
    pub(super) fn with_events(
        &self,
        mut items: Vec<TransactWriteItem>,
        events: &[SecurityEvent],
    ) -> StoreResult<Vec<TransactWriteItem>> {
        for event in events {
            items.push(self.put(event_item(event)?, false)?);
        }
        Ok(items)
    }
}

impl EventStore for DynamoStore {
    async fn record_events(&self, events: &[SecurityEvent]) -> StoreResult<()> {
        let puts = events.iter().map(|event| async move {
            self.count();
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(event_item(event)?))
                .send()
                .await
                .map_err(classify)?;
            Ok::<(), StoreError>(())
        });
        futures::future::try_join_all(puts).await?;
        Ok(())
    }

    async fn events_of(
        &self,
        subject: &EventSubject,
        since_ms: i64,
        after: Option<&EventPosition>,
        limit: usize,
    ) -> StoreResult<EventPage> {
        let pk = events_pk(subject);
        // One more than the page: whether a next page exists is known without a second Query.
        let wanted = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
        let start = after.map(|position| key(pk.clone(), &event_sk(position.at_ms, &position.id)));
        self.count();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :oldest AND :end")
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#sk", TableDefinition::SORT_KEY)
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":oldest", s(&event_sk(since_ms.max(0), "")))
            .expression_attribute_values(":end", s(EVENT_SK_END))
            // Newest first; eventually consistent reads cost half (an event written a moment
            // ago may show on the next read).
            .scan_index_forward(false)
            .limit(wanted)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let mut events = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<StoreResult<Vec<SecurityEvent>>>()?;
        let next = match events.len() > limit {
            true => {
                events.truncate(limit);
                events.last().map(SecurityEvent::position)
            }
            false => None,
        };
        Ok(EventPage { events, next })
    }
}
