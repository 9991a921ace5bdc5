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

pub(super) fn events_pk(subject: &EventSubject) -> String {
    format!("EVENTS#{}", subject.key())
}

/// Zero-padded milliseconds (13 digits last until the year 2286), so the string order of the
/// sort keys is the time order.
pub(super) fn event_sk(at_ms: i64, id: &str) -> String {
    format!("{EVENT_SK_PREFIX}{at_ms:013}#{id}")
}

/// The time a sort key names.
pub(super) fn at_ms_of(sk: &str) -> Option<i64> {
    sk.strip_prefix(EVENT_SK_PREFIX)?.split('#').next()?.parse().ok()
}

const MILLIS_PER_DAY: i64 = 86_400_000;

/// The `events-by-day` index partition of a time: its UTC day, `YYYY-MM-DD`.
pub(super) fn event_day(at_ms: i64) -> String {
    let day = time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .map_or(time::Date::MIN, time::OffsetDateTime::date);
    format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}

/// The first millisecond of the UTC day of `at_ms`.
pub(super) fn day_start_ms(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(MILLIS_PER_DAY)
}

/// An event item: its subject's partition, and the day partition of the staff's log index.
fn event_item(event: &SecurityEvent) -> StoreResult<HashMap<String, AttributeValue>> {
    let mut item = to_item(event, events_pk(&event.user), &event_sk(event.at_ms, &event.id))?;
    item.insert(
        TableDefinition::EVENT_INDEX_PARTITION.to_owned(),
        s(&event_day(event.at_ms)),
    );
    Ok(item)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_partition_is_the_utc_day_and_a_sort_key_reads_back_its_time() {
        // 2025-12-05T10:20:00.123Z
        let at = 1_764_930_000_123;
        assert_eq!(event_day(at), "2025-12-05");
        assert_eq!(event_day(day_start_ms(at)), "2025-12-05");
        assert_eq!(event_day(day_start_ms(at) - 1), "2025-12-04");
        assert_eq!(at_ms_of(&event_sk(at, "abc")), Some(at));
        assert_eq!(at_ms_of(&event_sk(at, "")), Some(at));
        assert!(
            event_sk(at, "") < event_sk(at, "0"),
            "an empty id sorts before every event of its millisecond"
        );
    }
}
