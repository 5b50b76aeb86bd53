//! The `category` of a `MESSAGE_SENT` payload and what it means for the archive.

/// Every category the archive understands, plus `Unknown` for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// A new chat message, or a comment inside a post or task.
    Chat,
    /// A new post (Avaya calls it an idea).
    Idea,
    /// A new task.
    Task,
    /// A chat message was updated.
    MessageUpdated,
    /// A post was updated.
    IdeaUpdated,
    /// A task was updated.
    TaskUpdated,
    /// A chat, post or task was removed.
    MessageRemoved,
    /// Space settings, title, archive status or members changed.
    TopicUpdated,
    /// The user joined a new space.
    TopicNew,
    /// The user has been shown the latest message of a space.
    TopicMarkRead,
    /// A per-user space preference (pinned, notifications) changed.
    PreferenceUpdated,
    /// Any other category: kept raw and counted.
    Unknown,
}

impl Category {
    /// Maps a wire category to its meaning.
    pub fn parse(name: &str) -> Category {
        match name {
            "chat" => Category::Chat,
            "idea" => Category::Idea,
            "task" => Category::Task,
            "app.event.message.updated" => Category::MessageUpdated,
            "app.event.idea.updated" => Category::IdeaUpdated,
            "app.event.task.updated" => Category::TaskUpdated,
            "app.event.message.removed" => Category::MessageRemoved,
            "topic.updated" => Category::TopicUpdated,
            "app.event.topic.new" => Category::TopicNew,
            "topic.markread" => Category::TopicMarkRead,
            "app.event.user.topic.preference.updated" => Category::PreferenceUpdated,
            _ => Category::Unknown,
        }
    }

    /// Whether the archive normalizes this category beyond the raw event log.
    pub fn is_known(self) -> bool {
        self != Category::Unknown
    }
}

/// The kind of a message as the archive names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A chat message.
    Chat,
    /// A post (`idea` on the wire).
    Post,
    /// A task.
    Task,
}

impl Kind {
    /// The name stored in SQLite and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Post => "post",
            Kind::Task => "task",
        }
    }

    /// Parses a stored or user-given kind name.
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "chat" => Some(Kind::Chat),
            "post" | "idea" => Some(Kind::Post),
            "task" => Some(Kind::Task),
            _ => None,
        }
    }
}
