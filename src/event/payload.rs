//! Typed reading of one `MESSAGE_SENT` payload: what the normalizer needs from each
//! category, read leniently (see [`super::fields`]). The payload itself stays raw in
//! the event log; these types only carry what the normalized tables hold.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::category::{Category, Kind};
use super::fields::Fields;
use super::html::html_to_text;

/// A person as seen in a sender, a member list or an assignee list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    /// Avaya user id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// User name (often empty on the wire, then `None`).
    pub username: Option<String>,
    /// `user`, `guest`, … as sent.
    pub kind: Option<String>,
    /// Picture URL.
    pub picture_url: Option<String>,
}

/// What a message event says about the message's space.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpaceRef {
    /// Space (topic) id.
    pub id: String,
    /// `topicTitle`.
    pub title: Option<String>,
    /// `topicType` (group, direct, …).
    pub kind: Option<String>,
    /// Archive status (0 active, 1 archived).
    pub status: Option<i64>,
}

/// One attachment (`content.data[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attachment {
    /// `fileId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// File name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `fileType`: image, video, audio, document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    /// `providerFileType`: the MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// Size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Storage provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// URL of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `thumbnailFile` key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_file: Option<String>,
    /// `previewUrl`: a URL of the file (for images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<String>,
    /// `thumbnailUrl`: a URL of the thumbnail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// What a message event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `chat`, `idea`, `task`: the message was created.
    Create,
    /// One of the `…updated` categories.
    Update,
    /// `app.event.message.removed` (or a backfilled item marked deleted).
    Remove,
}

/// The content fields of a message event. `None` means the event did not carry the
/// field, so the message keeps what it had.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContentFields {
    /// `content.bodyText` (HTML).
    pub html: Option<String>,
    /// Plain text of `html`.
    pub text: Option<String>,
    /// `content.description` (HTML).
    pub description_html: Option<String>,
    /// Plain text of `description_html`.
    pub description_text: Option<String>,
    /// Task status (`pending`, `complete`).
    pub task_status: Option<String>,
    /// Task due date, UTC ms.
    pub due: Option<i64>,
    /// Attachments, when `content.data` was present.
    pub attachments: Option<Vec<Attachment>>,
    /// Task assignees' ids, when present.
    pub assignees: Option<Vec<String>>,
}

/// A chat, post or task event.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageEvent {
    /// Create, update or remove.
    pub action: Action,
    /// The kind the category states (none for message.updated/removed).
    pub kind: Option<Kind>,
    /// `_id` (or `messageId`).
    pub id: String,
    /// The message's space.
    pub space: Option<SpaceRef>,
    /// `parentMsg`: the post or task this chat replies in.
    pub parent_id: Option<String>,
    /// The sender (author on create, actor on update and removal).
    pub sender: Option<Person>,
    /// Creation time, UTC ms.
    pub created: Option<i64>,
    /// Modification time, UTC ms.
    pub modified: Option<i64>,
    /// `likeCount`.
    pub like_count: Option<i64>,
    /// `chatCount`.
    pub chat_count: Option<i64>,
    /// Content carried by the event.
    pub content: ContentFields,
    /// Assignees as people (ids, sometimes names).
    pub assignee_people: Vec<Person>,
}

/// A member in a space's membership snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The person.
    pub person: Person,
    /// `role`: admin, member, guest…
    pub role: Option<String>,
    /// `joinTime`, UTC ms.
    pub joined: Option<i64>,
}

/// `topic.updated` or `app.event.topic.new`: the state of a space.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceEvent {
    /// Space id.
    pub id: String,
    /// Title.
    pub title: Option<String>,
    /// Type (group, direct, …).
    pub kind: Option<String>,
    /// Archive status (0 active, 1 archived).
    pub status: Option<i64>,
    /// Description (HTML).
    pub description: Option<String>,
    /// `settings`, as compact JSON.
    pub settings: Option<String>,
    /// `msgRetention`, as compact JSON.
    pub retention: Option<String>,
    /// Space creation time.
    pub created: Option<i64>,
    /// Time of this state of the space.
    pub modified: Option<i64>,
    /// Membership snapshot, when the event carried one.
    pub members: Option<Vec<Member>>,
    /// Who made the change.
    pub sender: Option<Person>,
}

/// `topic.markread`: a person has read a space up to a time.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadMarker {
    /// Space id.
    pub space_id: String,
    /// Reader.
    pub person: Person,
    /// Read up to this time (the event's own time when it carries one).
    pub at: Option<i64>,
    /// The last message read, when given.
    pub message_id: Option<String>,
}

/// `app.event.user.topic.preference.updated`.
#[derive(Debug, Clone, PartialEq)]
pub struct Preference {
    /// Space id.
    pub space_id: String,
    /// Whose preference.
    pub person: Person,
    /// `isPinned`.
    pub pinned: Option<bool>,
    /// `notification`.
    pub notification: Option<bool>,
}

/// A payload read by category.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A message was created, updated or removed.
    Message(Box<MessageEvent>),
    /// A space's state.
    Space(Box<SpaceEvent>),
    /// A read marker.
    ReadMarker(ReadMarker),
    /// A preference.
    Preference(Preference),
    /// A category the archive does not normalize.
    Unknown,
}

/// Why a payload object cannot be archived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// No `category` field.
    #[error("payload has no \"category\" field")]
    NoCategory,
    /// `category` is not a string.
    #[error("payload \"category\" is {0}, not a string")]
    CategoryNotString(&'static str),
    /// A message event without `_id` or `messageId`.
    #[error("{0} payload has no message id (\"_id\" or \"messageId\")")]
    NoMessageId(String),
    /// A space, read-marker or preference event without a space id.
    #[error("{0} payload has no space id (\"topicId\" or \"content._id\")")]
    NoSpaceId(String),
}

/// Reads a payload object. `warnings` receives one line per coerced or ignored field.
pub fn read_payload(
    obj: &Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<(String, Payload), PayloadError> {
    let category = match obj.get("category") {
        None | Some(Value::Null) => return Err(PayloadError::NoCategory),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(PayloadError::CategoryNotString(super::fields::type_name(
                other,
            )))
        }
    };
    let payload = match Category::parse(&category) {
        Category::Chat => message(obj, Action::Create, Some(Kind::Chat), &category, warnings)?,
        Category::Idea => message(obj, Action::Create, Some(Kind::Post), &category, warnings)?,
        Category::Task => message(obj, Action::Create, Some(Kind::Task), &category, warnings)?,
        Category::MessageUpdated => message(obj, Action::Update, None, &category, warnings)?,
        Category::IdeaUpdated => {
            message(obj, Action::Update, Some(Kind::Post), &category, warnings)?
        }
        Category::TaskUpdated => {
            message(obj, Action::Update, Some(Kind::Task), &category, warnings)?
        }
        Category::MessageRemoved => message(obj, Action::Remove, None, &category, warnings)?,
        Category::TopicUpdated | Category::TopicNew => space(obj, &category, warnings)?,
        Category::TopicMarkRead => read_marker(obj, &category, warnings)?,
        Category::PreferenceUpdated => preference(obj, &category, warnings)?,
        Category::Unknown => Payload::Unknown,
    };
    Ok((category, payload))
}

/// Reads a person object (`sender`, a member, an assignee).
fn person(
    obj: &Map<String, Value>,
    id_keys: &[&str],
    warnings: &mut Vec<String>,
) -> Option<Person> {
    let mut f = Fields::new(obj, "person.", warnings);
    Some(Person {
        id: f.first_string(id_keys)?,
        display_name: f.first_string(&["displayname", "displayName", "name"]),
        username: f.string("username"),
        kind: f.string("type"),
        picture_url: f.string("picture_url"),
    })
}

fn sender(f: &mut Fields) -> Option<Person> {
    let obj = f.object("sender")?;
    person(obj, &["_id", "id"], f.warnings())
}

fn message(
    obj: &Map<String, Value>,
    mut action: Action,
    kind: Option<Kind>,
    category: &str,
    warnings: &mut Vec<String>,
) -> Result<Payload, PayloadError> {
    let mut w = Vec::new();
    let mut f = Fields::new(obj, "", &mut w);
    let id = f
        .first_string(&["_id", "messageId"])
        .ok_or_else(|| PayloadError::NoMessageId(category.to_string()))?;
    if f.boolean("deleted") == Some(true) || f.boolean("isDeleted") == Some(true) {
        action = Action::Remove;
    }
    let space = f.string("topicId").map(|id| SpaceRef {
        id,
        title: f.string("topicTitle"),
        kind: f.string("topicType"),
        status: f.integer("status"),
    });
    let parent_id = f.string("parentMsg");
    let created = f.time("created");
    let modified = f.time("modified");
    let like_count = f.integer("likeCount");
    let chat_count = f.integer("chatCount");
    let content_obj = f.object("content");
    let sender = sender(&mut f);
    let (content, assignee_people) = match content_obj {
        Some(c) => content(c, &mut w),
        None => (ContentFields::default(), Vec::new()),
    };
    warnings.append(&mut w);
    Ok(Payload::Message(Box::new(MessageEvent {
        action,
        kind,
        id,
        space,
        parent_id,
        sender,
        created,
        modified,
        like_count,
        chat_count,
        content,
        assignee_people,
    })))
}

fn content(obj: &Map<String, Value>, warnings: &mut Vec<String>) -> (ContentFields, Vec<Person>) {
    let mut w = Vec::new();
    let mut f = Fields::new(obj, "content.", &mut w);
    let html = f
        .value("bodyText")
        .map(|_| f.string("bodyText").unwrap_or_default());
    let description_html = f
        .value("description")
        .map(|_| f.string("description").unwrap_or_default());
    let task_status = f.string("status");
    let due = f.time("dueDate");
    let data = f.array("data");
    let assignee_values = f.array("assignees");
    let attachments =
        data.map(|items| items.iter().filter_map(|v| attachment(v, &mut w)).collect());
    let assignee_people: Vec<Person> = assignee_values
        .unwrap_or_default()
        .iter()
        .filter_map(|v| match v {
            Value::Object(o) => person(o, &["_id", "id", "member"], &mut w),
            Value::String(s) if !s.is_empty() => Some(Person {
                id: s.clone(),
                ..Person::default()
            }),
            other => {
                w.push(format!(
                    "field content.assignees[]: {} is not a person; ignored",
                    super::fields::type_name(other)
                ));
                None
            }
        })
        .collect();
    let assignees = assignee_values.map(|_| assignee_people.iter().map(|p| p.id.clone()).collect());
    warnings.append(&mut w);
    let fields = ContentFields {
        text: plain(&html),
        description_text: plain(&description_html),
        html,
        description_html,
        task_status,
        due,
        attachments,
        assignees,
    };
    (fields, assignee_people)
}

/// `content.bodyText` and `content.description` as the archive reads them (a present
/// field of the wrong type is coerced or read as empty). Stored versions rely on this
/// to find their HTML in the raw payload rather than store it twice.
pub fn content_html(content: &mut Fields) -> (Option<String>, Option<String>) {
    let mut html_of = |key: &str| {
        content
            .value(key)
            .map(|_| content.string(key).unwrap_or_default())
    };
    (html_of("bodyText"), html_of("description"))
}

/// [`content_html`] of a whole payload object.
pub fn payload_html(obj: &Map<String, Value>) -> (Option<String>, Option<String>) {
    match obj.get("content") {
        Some(Value::Object(content)) => {
            content_html(&mut Fields::new(content, "content.", &mut Vec::new()))
        }
        _ => (None, None),
    }
}

fn attachment(value: &Value, warnings: &mut Vec<String>) -> Option<Attachment> {
    let Value::Object(obj) = value else {
        warnings.push(format!(
            "field content.data[]: {} is not an attachment; ignored",
            super::fields::type_name(value)
        ));
        return None;
    };
    let mut f = Fields::new(obj, "content.data[].", warnings);
    Some(Attachment {
        file_id: f.string("fileId"),
        name: f.string("name"),
        file_type: f.string("fileType"),
        mime: f.string("providerFileType"),
        size: f.integer("fileSize"),
        provider: f.string("provider"),
        path: f.string("path"),
        thumbnail_file: f.string("thumbnailFile"),
        preview_url: f.string("previewUrl"),
        thumbnail_url: f.string("thumbnailUrl"),
    })
}

fn compact(value: Option<&Value>) -> Option<String> {
    value.map(|v| v.to_string())
}

fn space(
    obj: &Map<String, Value>,
    category: &str,
    warnings: &mut Vec<String>,
) -> Result<Payload, PayloadError> {
    let mut w = Vec::new();
    let mut top = Fields::new(obj, "", &mut w);
    let topic_id = top.string("topicId");
    let content = top.object("content");
    let sender = sender(&mut top);
    let empty = Map::new();
    let mut c = Fields::new(content.unwrap_or(&empty), "content.", &mut w);
    let id = c
        .string("_id")
        .or(topic_id)
        .ok_or_else(|| PayloadError::NoSpaceId(category.to_string()))?;
    let members_raw = c.array("members");
    let event = SpaceEvent {
        id,
        title: c.string("title"),
        kind: c.string("type"),
        status: c.integer("status"),
        description: c
            .value("description")
            .map(|_| c.string("description").unwrap_or_default()),
        settings: compact(c.value("settings")),
        retention: compact(c.value("msgRetention")),
        created: c.time("created"),
        modified: c.time("modified"),
        members: None,
        sender,
    };
    let members = members_raw.map(|items| items.iter().filter_map(|m| member(m, &mut w)).collect());
    warnings.append(&mut w);
    Ok(Payload::Space(Box::new(SpaceEvent { members, ..event })))
}

fn member(value: &Value, warnings: &mut Vec<String>) -> Option<Member> {
    let Value::Object(obj) = value else {
        warnings.push(format!(
            "field content.members[]: {} is not a member; ignored",
            super::fields::type_name(value)
        ));
        return None;
    };
    let person = person(obj, &["member", "_id", "id"], warnings)?;
    let mut f = Fields::new(obj, "content.members[].", warnings);
    Some(Member {
        person,
        role: f.string("role"),
        joined: f.time("joinTime"),
    })
}

fn read_marker(
    obj: &Map<String, Value>,
    category: &str,
    warnings: &mut Vec<String>,
) -> Result<Payload, PayloadError> {
    let mut w = Vec::new();
    let mut top = Fields::new(obj, "", &mut w);
    let empty = Map::new();
    let content = top.object("content").unwrap_or(&empty);
    let topic_id = top.string("topicId");
    let sender = sender(&mut top);
    let top_time = top.time("modified").or_else(|| top.time("created"));
    let top_message = top.string("messageId");
    let mut c = Fields::new(content, "content.", &mut w);
    let space_id = topic_id
        .or_else(|| c.first_string(&["topicId", "_id"]))
        .ok_or_else(|| PayloadError::NoSpaceId(category.to_string()))?;
    let person = sender.or_else(|| {
        c.first_string(&["userId", "user", "member"])
            .map(|id| Person {
                id,
                ..Person::default()
            })
    });
    let at = ["lastRead", "readTime", "time", "modified"]
        .iter()
        .find_map(|k| c.time(k))
        .or(top_time);
    let message_id = c
        .first_string(&["messageId", "lastReadMessage", "lastMessageId"])
        .or(top_message);
    warnings.append(&mut w);
    match person {
        Some(person) => Ok(Payload::ReadMarker(ReadMarker {
            space_id,
            person,
            at,
            message_id,
        })),
        None => {
            warnings.push(format!(
                "{category} payload names no reader (\"sender._id\"); kept raw only"
            ));
            Ok(Payload::Unknown)
        }
    }
}

fn preference(
    obj: &Map<String, Value>,
    category: &str,
    warnings: &mut Vec<String>,
) -> Result<Payload, PayloadError> {
    let mut w = Vec::new();
    let mut top = Fields::new(obj, "", &mut w);
    let empty = Map::new();
    let content = top.object("content").unwrap_or(&empty);
    let topic_id = top.string("topicId");
    let sender = sender(&mut top);
    let mut c = Fields::new(content, "content.", &mut w);
    let space_id = topic_id
        .or_else(|| c.string("_id"))
        .ok_or_else(|| PayloadError::NoSpaceId(category.to_string()))?;
    let pinned = c.boolean("isPinned");
    let notification = c.boolean("notification");
    warnings.append(&mut w);
    match sender {
        Some(person) => Ok(Payload::Preference(Preference {
            space_id,
            person,
            pinned,
            notification,
        })),
        None => {
            warnings.push(format!(
                "{category} payload names no user (\"sender._id\"); kept raw only"
            ));
            Ok(Payload::Unknown)
        }
    }
}

/// The plain-text rendering of optional HTML.
pub fn plain(html: &Option<String>) -> Option<String> {
    html.as_deref().map(html_to_text)
}
