//! Space changes made while nobody listened: after each (re)listing, a listed space
//! whose title, type, archive status or members differ from the archive is updated
//! from its listing item, stored as a `topic.updated` payload (the item as its
//! `content`, source `backfill`), so joins and leaves noticed this way are recorded
//! as seen then. A listed space the archive does not hold at all (one created while
//! nobody listened, with no message yet) is stored the same way. Only what the item
//! carries is compared: a listing without members says nothing about them.

use std::collections::BTreeSet;

use super::backfill::to_item;
use super::rest::SpaceInfo;
use crate::event::Payload;
use crate::store::reconcile::{space_states, SpaceState};
use crate::store::{Archive, Item, Source, StoreError};

/// Items for the writer: one `topic.updated` payload per listed space that differs
/// from what the archive holds of it, or that it does not hold yet.
pub async fn listing_changes(
    archive: &Archive,
    listed: &[SpaceInfo],
) -> Result<Vec<Item>, StoreError> {
    let ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
    let stored = space_states(archive, &ids).await?;
    let mut items = Vec::new();
    for space in listed.iter().filter(|s| s.item.is_object()) {
        let payload = serde_json::json!({ "category": "topic.updated", "content": space.item });
        let text = payload.to_string();
        let item = to_item(&text, Source::Backfill);
        let Item::Event(event) = &item else {
            continue;
        };
        let Payload::Space(listed) = &event.decoded.payload else {
            continue;
        };
        // A space the archive does not hold yet is kept when the listing says
        // something of it: one without messages has nothing else to bring it.
        let news = match stored.get(&space.id) {
            Some(state) => differs(state, listed),
            None => differs(&SpaceState::default(), listed),
        };
        if news {
            tracing::info!(
                space = space.id,
                "space changed while not listening: updated from the listing"
            );
            items.push(item);
        }
    }
    Ok(items)
}

/// Whether what a listing says of a space differs from what is stored.
fn differs(stored: &SpaceState, listed: &crate::event::payload::SpaceEvent) -> bool {
    let title = listed.title.is_some() && listed.title != stored.title;
    let kind = listed.kind.is_some() && listed.kind != stored.kind;
    let status = listed.status.is_some() && listed.status != stored.status;
    let members = listed.members.as_ref().is_some_and(|members| {
        let ids: BTreeSet<String> = members.iter().map(|m| m.person.id.clone()).collect();
        ids != stored.members
    });
    title || kind || status || members
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::decode::{decode_json, Decoded};

    fn listed(content: serde_json::Value) -> crate::event::payload::SpaceEvent {
        let text =
            serde_json::json!({ "category": "topic.updated", "content": content }).to_string();
        let Ok(Decoded::Payload { payload, .. }) = decode_json(&text) else {
            panic!("not a payload: {text}");
        };
        match payload.payload {
            Payload::Space(s) => *s,
            other => panic!("not a space: {other:?}"),
        }
    }

    #[test]
    fn compares_only_what_the_listing_carries() {
        let stored = SpaceState {
            title: Some("Sales".into()),
            kind: Some("group".into()),
            status: Some(0),
            members: ["u1".to_string()].into_iter().collect(),
        };
        assert!(!differs(
            &stored,
            &listed(serde_json::json!({"_id": "s1", "title": "Sales"}))
        ));
        assert!(differs(
            &stored,
            &listed(serde_json::json!({"_id": "s1", "title": "Sales EMEA"}))
        ));
        assert!(differs(
            &stored,
            &listed(serde_json::json!({"_id": "s1", "status": 1}))
        ));
        let members = serde_json::json!({"_id": "s1", "members": [
            {"member": "u1", "memberType": "userId"}, {"member": "u2", "memberType": "userId"}]});
        assert!(differs(&stored, &listed(members)));
        let same =
            serde_json::json!({"_id": "s1", "members": [{"member": "u1", "memberType": "userId"}]});
        assert!(!differs(&stored, &listed(same)));
    }
}
