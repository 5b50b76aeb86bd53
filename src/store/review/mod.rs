//! Read queries behind `serve`'s pages: a conversation around a message with its
//! replies and attachments ([`conversation`]), a message's versions and payloads
//! and a space's title and membership history ([`history`]). Read-only; each page
//! costs a few indexed range scans, whatever the archive's size.

pub mod conversation;
pub mod history;

pub use conversation::{AttachmentView, Conversation, ConversationMessage, Page};
pub use history::{MembershipRow, MessageHistory, SpaceAbout, TitleChange, VersionRow};
