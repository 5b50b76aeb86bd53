//! Paging `GET /users/me/messages` without trusting the server's paging. A server
//! may page by offset over a list that changes while it is read (an update moves a
//! message to the end of the list ordered by `modified`, every later offset shifts,
//! and one item is skipped), so `nextPageUrl` is used only as "there is more": the
//! next request asks again from the newest `modified` seen, minus 1 ms, so equal
//! times at a page boundary are not skipped (what comes twice is a duplicate and
//! changes nothing). Only when a whole page shares one millisecond, so that asking
//! again cannot advance, is `nextPageUrl` followed for one step.

use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

use super::rest::{Priority, RestClient, RestError};
use crate::event::time::parse_iso_millis;

/// What the pager needs of one item: its change time and whether it is a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemKey {
    /// `_id`.
    pub id: Option<String>,
    /// `modified`, else `created` (UTC ms).
    pub time: Option<i64>,
    /// Marked removed (`deleted`, `isDeleted`, or the removal category).
    pub deleted: bool,
}

impl ItemKey {
    /// Reads an item's key fields; anything unreadable is left empty.
    pub fn of(item: &RawValue) -> ItemKey {
        // Leniently, as the payload itself is read: a lone surrogate is no reason to
        // lose the item's key.
        let value = crate::event::surrogates::from_str_lenient(item.get())
            .map_or(Value::Null, |(value, _)| value);
        let time = |v: &Value| match v {
            Value::String(s) => parse_iso_millis(s),
            Value::Number(n) => n.as_i64(),
            _ => None,
        };
        let truthy = |v: &Value| v.as_bool() == Some(true);
        ItemKey {
            id: value["_id"].as_str().map(str::to_string),
            time: time(&value["modified"]).or_else(|| time(&value["created"])),
            deleted: truthy(&value["deleted"])
                || truthy(&value["isDeleted"])
                || value["category"].as_str() == Some("app.event.message.removed"),
        }
    }
}

/// Pages of the messages of some spaces changed after a time, by keyset.
pub struct KeysetPager<'a> {
    client: &'a RestClient,
    spaces: Vec<String>,
    priority: Priority,
    /// The next request: from a time, or one step of `nextPageUrl`.
    next: Option<Next>,
    /// The newest change time seen so far.
    newest: Option<i64>,
    /// Requests made.
    requests: u64,
}

enum Next {
    After(i64),
    Url(Url),
}

/// One page, with each item's key.
pub struct KeyedPage {
    /// The items as sent, with their keys.
    pub items: Vec<(Box<RawValue>, ItemKey)>,
}

impl<'a> KeysetPager<'a> {
    /// Messages of `spaces` (at most 15) changed after `after` (UTC ms).
    pub fn new(
        client: &'a RestClient,
        spaces: Vec<String>,
        after: i64,
        priority: Priority,
    ) -> KeysetPager<'a> {
        KeysetPager {
            client,
            spaces,
            priority,
            next: Some(Next::After(after.max(0))),
            newest: None,
            requests: 0,
        }
    }

    /// The newest change time among the items so far.
    pub fn newest(&self) -> Option<i64> {
        self.newest
    }

    /// Requests made so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The next page, `None` once the server has nothing more.
    pub async fn next_page(&mut self) -> Result<Option<KeyedPage>, RestError> {
        let Some(next) = self.next.take() else {
            return Ok(None);
        };
        let (url, after) = match next {
            Next::After(after) => (self.client.messages_url(&self.spaces, after), Some(after)),
            Next::Url(url) => (url, None),
        };
        self.requests += 1;
        let page = self.client.page(&url, self.priority).await?;
        let items: Vec<(Box<RawValue>, ItemKey)> = page
            .items
            .into_iter()
            .map(|item| {
                let key = ItemKey::of(&item);
                (item, key)
            })
            .collect();
        let page_newest = items.iter().filter_map(|(_, k)| k.time).max();
        self.newest = self.newest.max(page_newest);
        self.next = match (page.next, page_newest) {
            // The server says it has no more, or sent nothing: done.
            (None, _) | (_, None) => None,
            (Some(next_url), Some(newest)) => {
                let from = after.unwrap_or(i64::MIN);
                if newest - 1 > from {
                    Some(Next::After(newest - 1))
                } else {
                    // A whole page at one millisecond: asking again cannot advance.
                    tracing::debug!(
                        "a page of items all changed at {newest} ms: following nextPageUrl"
                    );
                    Some(Next::Url(next_url))
                }
            }
        };
        Ok(Some(KeyedPage { items }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ItemKey {
        ItemKey::of(&serde_json::value::RawValue::from_string(text.into()).unwrap())
    }

    #[test]
    fn reads_times_and_removals_leniently() {
        let k = key(
            r#"{"_id":"m1","modified":"2024-01-01T00:00:01.000Z","created":"2024-01-01T00:00:00.000Z"}"#,
        );
        assert_eq!(k.id.as_deref(), Some("m1"));
        assert_eq!(k.time, Some(1_704_067_201_000));
        assert!(!k.deleted);
        let k = key(r#"{"_id":"m2","created":"2024-01-01T00:00:00.000Z","isDeleted":true}"#);
        assert_eq!(k.time, Some(1_704_067_200_000));
        assert!(k.deleted);
        assert!(key(r#"{"category":"app.event.message.removed","modified":5}"#).deleted);
        assert_eq!(key(r#"{"modified":5}"#).time, Some(5));
        assert_eq!(key("[1]").id, None);
    }
}
