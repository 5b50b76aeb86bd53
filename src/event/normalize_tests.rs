//! Out-of-order and duplicate delivery of message events, applied in memory.

use super::*;
use crate::event::payload::{ContentFields, Person};

fn event(action: Action, kind: Option<Kind>, body: &str, modified: Option<i64>) -> MessageEvent {
    MessageEvent {
        action,
        kind,
        id: "m1".into(),
        space: None,
        parent_id: None,
        sender: Some(Person {
            id: "u1".into(),
            ..Person::default()
        }),
        created: Some(100),
        modified,
        like_count: None,
        chat_count: None,
        content: ContentFields {
            html: Some(format!("<p>{body}</p>")),
            text: Some(body.to_string()),
            ..ContentFields::default()
        },
        assignee_people: Vec::new(),
    }
}

fn create(body: &str) -> MessageEvent {
    event(Action::Create, Some(Kind::Chat), body, Some(100))
}

fn update(body: &str, at: i64) -> MessageEvent {
    event(Action::Update, None, body, Some(at))
}

fn remove() -> MessageEvent {
    let mut e = event(Action::Remove, None, "", None);
    e.content = ContentFields::default();
    e
}

fn run(events: &[MessageEvent]) -> (MessageState, usize) {
    let mut state = None;
    let mut versions = 0;
    for (i, e) in events.iter().enumerate() {
        let applied = apply(state, e, 1_000 + i as i64);
        versions += usize::from(applied.version.is_some());
        state = Some(applied.state);
    }
    (state.unwrap(), versions)
}

#[test]
fn create_then_update_in_order() {
    let (s, n) = run(&[create("a"), update("b", 200)]);
    assert_eq!((s.current.text.as_str(), n, s.current_vno), ("b", 2, 2));
    assert_eq!(s.modified, Some(200));
}

#[test]
fn update_before_create() {
    let (s, n) = run(&[update("b", 200), create("a")]);
    assert_eq!((s.current.text.as_str(), n), ("b", 2));
    assert_eq!(
        (s.kind, s.kind_known, s.created),
        (Kind::Chat, true, Some(100))
    );
}

#[test]
fn older_update_after_newer() {
    let (s, n) = run(&[create("a"), update("c", 300), update("b", 200)]);
    assert_eq!((s.current.text.as_str(), n, s.current_vno), ("c", 3, 2));
}

#[test]
fn removal_before_create_keeps_it_removed() {
    let (s, n) = run(&[remove(), create("a")]);
    assert_eq!(s.removed_at, Some(1_000));
    assert_eq!(s.removed_by.as_deref(), Some("u1"));
    assert_eq!(n, 2);
}

#[test]
fn create_after_removal_does_not_resurrect() {
    let (s, n) = run(&[create("a"), remove(), create("a")]);
    assert!(s.removed_at.is_some());
    assert_eq!((s.current.text.as_str(), n), ("a", 2));
}

#[test]
fn removal_keeps_content_and_is_a_version() {
    let (s, n) = run(&[create("a"), update("b", 200), remove()]);
    // The removal carried no content: it is the third version, the edit stays current.
    assert_eq!((s.current.text.as_str(), n, s.current_vno), ("b", 3, 2));
    assert_eq!(s.removed_at, Some(1_002));
}

#[test]
fn a_removal_without_content_ends_the_same_whatever_arrives_first() {
    let events = [create("a"), update("b", 200), remove()];
    let (in_order, _) = run(&events);
    for order in [[2, 0, 1], [0, 2, 1], [2, 1, 0], [1, 2, 0]] {
        let (s, n) = run(&order.map(|i| events[i].clone()));
        assert_eq!((s.current.text.as_str(), n), ("b", 3), "{order:?}");
        assert_eq!(s.current, in_order.current, "{order:?}");
        assert!(s.removed_at.is_some());
    }
}

#[test]
fn a_removal_with_content_is_the_current_state() {
    let mut removal = remove();
    removal.content.text = Some("final".into());
    removal.content.html = Some("<p>final</p>".into());
    let (s, n) = run(&[removal, create("a")]);
    assert_eq!((s.current.text.as_str(), n, s.current_vno), ("final", 2, 1));
}

#[test]
fn repeated_states_add_no_version() {
    let (s, n) = run(&[
        create("a"),
        create("a"),
        update("b", 200),
        update("b", 200),
        remove(),
        remove(),
    ]);
    assert_eq!((n, s.versions.len()), (3, 3));
}

#[test]
fn absent_fields_are_inherited_and_kind_inferred() {
    let mut task_update = update("t", 200);
    task_update.content.task_status = Some("pending".into());
    task_update.content.assignees = Some(vec!["u2".into()]);
    let (s, _) = run(&[task_update.clone()]);
    assert_eq!((s.kind, s.kind_known), (Kind::Task, false));
    let mut status_only = update("", 300);
    status_only.content = ContentFields {
        task_status: Some("complete".into()),
        ..ContentFields::default()
    };
    let (s, _) = run(&[task_update, status_only]);
    assert_eq!(s.current.text, "t");
    assert_eq!(s.current.task_status.as_deref(), Some("complete"));
    assert_eq!(s.current.assignees, vec!["u2".to_string()]);
}

#[test]
fn a_late_create_still_gives_the_counts() {
    let mut created = create("a");
    created.like_count = Some(3);
    created.chat_count = Some(1);
    for events in [
        [created.clone(), update("b", 200)],
        [update("b", 200), created.clone()],
    ] {
        let (s, _) = run(&events);
        assert_eq!(
            (s.current.text.as_str(), s.like_count, s.chat_count),
            ("b", Some(3), Some(1))
        );
    }
}

#[test]
fn edits_of_the_same_time_end_the_same_whatever_arrives_first() {
    let events = [create("a"), update("b", 200), update("c", 200)];
    let (first, n) = run(&events);
    let (second, _) = run(&[events[0].clone(), events[2].clone(), events[1].clone()]);
    assert_eq!(n, 3);
    assert_eq!(first.current, second.current);
    assert!(["b", "c"].contains(&first.current.text.as_str()));
}
