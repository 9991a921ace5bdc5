//! Provider accounts in DynamoDB. A link is two items written together: the claim
//! `SOCIAL#<provider>#<uid>` (which makes a provider account link to one user at most) and the
//! link itself in the user's partition (`LINK#<id>`, so a user's links are one Query). The user
//! item counts its links (`social_links`), moved in the same transaction. Accepted ID tokens
//! are `IDTOKEN#<digest>` items that expire with the token (TTL).

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;

use super::*;
use crate::store::{LinkOutcome, NewSocialLink, SocialLink, SocialRegistration, SocialStore};

const SOCIAL_SK: &str = "SOCIAL";
const LINK_SK_PREFIX: &str = "LINK#";
const LINK_COUNTER_SK: &str = "LINK";
const LINK_COUNTER_ATTRIBUTE: &str = "last_link_id";
const ID_TOKEN_SK: &str = "IDTOKEN";

fn social_pk(provider: &str, uid: &str) -> String {
    format!("SOCIAL#{provider}#{uid}")
}

fn link_sk(link_id: u64) -> String {
    format!("{LINK_SK_PREFIX}{link_id}")
}

fn id_token_pk(digest: &str) -> String {
    format!("IDTOKEN#{digest}")
}

impl DynamoStore {
    async fn next_link_id(&self) -> StoreResult<u64> {
        self.next_in(LINK_COUNTER_SK, LINK_COUNTER_ATTRIBUTE).await
    }

    /// The claim and the link item of a new link (both must be new).
    fn link_items(&self, link: &SocialLink) -> StoreResult<Vec<TransactWriteItem>> {
        let mut claim = key(social_pk(&link.provider, &link.uid), SOCIAL_SK);
        claim.insert("user_id".to_owned(), n(link.user_id));
        claim.insert("link_id".to_owned(), n(link.id));
        Ok(vec![
            self.put(claim, true)?,
            self.put(to_item(link, user_pk(link.user_id), &link_sk(link.id))?, true)?,
        ])
    }

    fn user_update(&self, user_id: u64) -> UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), USER_SK)))
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#links", "social_links")
    }

    fn link_from(&self, claim: &HashMap<String, AttributeValue>) -> Option<(u64, u64)> {
        let number = |name: &str| claim.get(name)?.as_n().ok()?.parse().ok();
        Some((number("user_id")?, number("link_id")?))
    }
}

fn built(update: UpdateBuilder) -> StoreResult<TransactWriteItem> {
    update
        .build()
        .map(|update| TransactWriteItem::builder().update(update).build())
        .map_err(|e| StoreError::Other(e.to_string()))
}

impl SocialStore for DynamoStore {
    async fn find_social_link(&self, provider: &str, uid: &str) -> StoreResult<Option<SocialLink>> {
        let Some(claim) = self.get(social_pk(provider, uid), SOCIAL_SK).await? else {
            return Ok(None);
        };
        let (user_id, link_id) = self
            .link_from(&claim)
            .ok_or_else(|| StoreError::Other("social claim without ids".into()))?;
        match self.get(user_pk(user_id), &link_sk(link_id)).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            // The claim alone: a deletion that removed the user's partition first. The link
            // answers with what the claim says, so the caller sees a link of a gone user.
            None => Ok(Some(SocialLink {
                id: link_id,
                user_id,
                provider: provider.to_owned(),
                uid: uid.to_owned(),
                date_joined: String::new(),
                last_login: String::new(),
            })),
        }
    }

    async fn social_links_of(&self, user_id: u64) -> StoreResult<Vec<SocialLink>> {
        let mut links: Vec<SocialLink> = self.query_user_items(user_id, LINK_SK_PREFIX).await?;
        links.sort_by_key(|link| link.id);
        Ok(links)
    }

    async fn create_social_user(
        &self,
        new: NewUser,
        email_verified: bool,
        link: NewSocialLink,
        first_session: Option<NewSession>,
        events: &[SecurityEvent],
    ) -> StoreResult<SocialRegistration> {
        let (id, link_id) = tokio::try_join!(self.next_user_id(), self.next_link_id())?;
        let mut user = new.into_user(id, first_session.is_some(), email_verified);
        user.social_links = 1;
        let link = link.into_link(link_id, id);
        let mut claim = key(email_pk(&user.email), EMAIL_SK);
        claim.insert("user_id".to_owned(), n(id));
        // In this order: the email claim first, the provider claim second (the outcome is
        // judged by which failed).
        let mut items = vec![self.put(claim, true)?];
        items.extend(self.link_items(&link)?);
        items.push(self.put(user_item(&user)?, true)?);
        if let Some(session) = first_session {
            items.push(self.put(session_item(id, 0, session)?, true)?);
        }
        let items = self.with_events(items, &events_of_new_user(events, id))?;
        let found = match self.transact(items).await {
            Ok(()) => return Ok(SocialRegistration::Created(user, link)),
            Err(TransactOutcome::ConditionFailed(failed)) => failed,
            // No answer: the claim says whether an attempt of ours landed.
            Err(TransactOutcome::Failed(error)) => {
                return match self.get(email_pk(&user.email), EMAIL_SK).await {
                    Ok(Some(claim)) if claim_owner(&claim) == Some(id) => Ok(SocialRegistration::Created(user, link)),
                    Ok(Some(_)) => Ok(SocialRegistration::EmailTaken),
                    _ => Err(error),
                };
            }
        };
        match (found.first(), found.get(1)) {
            // Our own earlier attempt committed (ids are never handed out twice).
            (Some(Some(claim)), _) if claim_owner(claim) == Some(id) => Ok(SocialRegistration::Created(user, link)),
            (Some(Some(_)), _) => Ok(SocialRegistration::EmailTaken),
            (_, Some(Some(_))) => Ok(SocialRegistration::LinkTaken),
            _ => Err(StoreError::Other("new user or link id already in use".into())),
        }
    }

    async fn link_social_account(
        &self,
        user: &User,
        new: NewSocialLink,
        events: &[SecurityEvent],
    ) -> StoreResult<LinkOutcome> {
        let link = new.into_link(self.next_link_id().await?, user.id);
        let mut items = self.link_items(&link)?;
        items.push(built(
            self.user_update(user.id)
                .update_expression("ADD #links :one")
                .condition_expression("attribute_exists(#pk) AND #is_active = :true AND #session_epoch = :epoch")
                .expression_attribute_names("#is_active", "is_active")
                .expression_attribute_names("#session_epoch", "session_epoch")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":epoch", n(user.session_epoch)),
        )?);
        let items = self.with_events(items, events)?;
        let failed = match self.transact(items).await {
            Ok(()) => return Ok(LinkOutcome::Linked(link)),
            Err(TransactOutcome::ConditionFailed(failed)) => failed,
            Err(TransactOutcome::Failed(error)) => {
                // No answer: the claim says who holds the provider account now.
                return match self.get(social_pk(&link.provider, &link.uid), SOCIAL_SK).await {
                    Ok(Some(claim)) => match self.link_from(&claim) {
                        Some((_, link_id)) if link_id == link.id => Ok(LinkOutcome::Linked(link)),
                        Some((owner, _)) if owner == user.id => self.already_linked(&link).await,
                        Some((owner, _)) => Ok(LinkOutcome::TakenBy(owner)),
                        None => Err(error),
                    },
                    _ => Err(error),
                };
            }
        };
        match failed.first() {
            Some(Some(claim)) => match self.link_from(claim) {
                Some((owner, _)) if owner == user.id => self.already_linked(&link).await,
                Some((owner, _)) => Ok(LinkOutcome::TakenBy(owner)),
                None => Err(StoreError::Other("social claim without ids".into())),
            },
            _ => Ok(LinkOutcome::UserChanged),
        }
    }

    async fn unlink_social_account(
        &self,
        user: &User,
        link: &SocialLink,
        events: &[SecurityEvent],
    ) -> StoreResult<bool> {
        let delete = |pk: String, sk: &str| Delete::builder().table_name(&self.table).set_key(Some(key(pk, sk)));
        let deleted = |delete: aws_sdk_dynamodb::types::builders::DeleteBuilder| {
            delete
                .build()
                .map(|delete| TransactWriteItem::builder().delete(delete).build())
                .map_err(|e| StoreError::Other(e.to_string()))
        };
        let items = vec![
            deleted(
                delete(social_pk(&link.provider, &link.uid), SOCIAL_SK)
                    .condition_expression("#user_id = :id")
                    .expression_attribute_names("#user_id", "user_id")
                    .expression_attribute_values(":id", n(user.id)),
            )?,
            deleted(
                delete(user_pk(user.id), &link_sk(link.id))
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY),
            )?,
            // Counted as read: a link or unlink since then fails the whole write.
            built(
                self.user_update(user.id)
                    .update_expression("ADD #links :minus_one")
                    .condition_expression("attribute_exists(#pk) AND (#links = :count OR (attribute_not_exists(#links) AND :count = :zero))")
                    .expression_attribute_values(":minus_one", n(-1))
                    .expression_attribute_values(":count", n(user.social_links))
                    .expression_attribute_values(":zero", n(0)),
            )?,
        ];
        let items = self.with_events(items, events)?;
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TransactOutcome::ConditionFailed(_)) => Ok(false),
            Err(TransactOutcome::Failed(error)) => Err(error),
        }
    }

    async fn forget_stale_link(&self, link: &SocialLink) -> StoreResult<()> {
        // Only while the user is gone and the claim still names them: a link is never lost
        // under a live user, nor a link made since taken away.
        let gone = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(link.user_id), USER_SK)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let claim = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(social_pk(&link.provider, &link.uid), SOCIAL_SK)))
            .condition_expression("#user_id = :id")
            .expression_attribute_names("#user_id", "user_id")
            .expression_attribute_values(":id", n(link.user_id))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let own = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(link.user_id), &link_sk(link.id))))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().condition_check(gone).build(),
            TransactWriteItem::builder().delete(claim).build(),
            TransactWriteItem::builder().delete(own).build(),
        ];
        match self.transact(items).await {
            Ok(()) | Err(TransactOutcome::ConditionFailed(_)) => Ok(()),
            Err(TransactOutcome::Failed(error)) => Err(error),
        }
    }

    async fn record_social_login(&self, link: &SocialLink, at: &str) -> StoreResult<()> {
        self.count();
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(link.user_id), &link_sk(link.id))))
            .update_expression("SET #last_login = :at")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#last_login", "last_login")
            .expression_attribute_values(":at", s(at))
            .send()
            .await;
        written_unless_condition_failed(outcome).map(|_| ())
    }

    async fn claim_id_token(&self, digest: &str, expires_at: i64) -> StoreResult<bool> {
        self.count();
        let mut item = key(id_token_pk(digest), ID_TOKEN_SK);
        item.insert(TableDefinition::TTL_ATTRIBUTE.to_owned(), n(expires_at));
        // An item past its expiry may linger until TTL removes it: it no longer counts.
        let outcome = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #expires_at < :now")
            .expression_attribute_names("#pk", TableDefinition::PARTITION_KEY)
            .expression_attribute_names("#expires_at", TableDefinition::TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(crate::clock::now_unix()))
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(classify(error)),
        }
    }
}

impl DynamoStore {
    async fn already_linked(&self, link: &SocialLink) -> StoreResult<LinkOutcome> {
        match self.find_social_link(&link.provider, &link.uid).await? {
            Some(found) => Ok(LinkOutcome::AlreadyLinked(found)),
            None => Ok(LinkOutcome::UserChanged),
        }
    }
}
