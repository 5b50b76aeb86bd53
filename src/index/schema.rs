//! The index schema: one document per message. Text fields use the `folded`
//! analyzer (words and CJK characters, lower-cased, ASCII-folded so `café` finds
//! `cafe`) with positions for phrases. Only the id is stored: snippets and results
//! are built from SQLite, the source of truth.

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, STORED,
    STRING,
};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, TextAnalyzer};
use tantivy::Index;

use super::tokenizer::WordTokenizer;

/// Name of the analyzer for message text.
pub const FOLDED: &str = "folded";

/// The fields, by role.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Message id (raw, stored).
    pub id: Field,
    /// Space id (raw).
    pub space_id: Field,
    /// Space title (text).
    pub space: Field,
    /// Sender id (raw).
    pub sender_id: Field,
    /// Sender name (text).
    pub sender: Field,
    /// chat, post, task (raw).
    pub kind: Field,
    /// Creation time, UTC ms (fast, range-queryable).
    pub created: Field,
    /// Modification time, UTC ms (fast, range-queryable).
    pub modified: Field,
    /// 1 when removed (fast).
    pub removed: Field,
    /// Everything the message shows and showed: body text, description and
    /// attachment names, then the text of earlier versions that the current text
    /// does not contain (one field, so a default query is one term per word; each
    /// value is its own run of positions, so a phrase never spans two versions).
    pub text: Field,
    /// What the message currently shows, only for messages with such earlier text:
    /// with `edited`, lets a query skip earlier versions without indexing every
    /// message twice.
    pub current: Field,
    /// 1 when the message has earlier text its current text does not contain.
    pub edited: Field,
    /// Current description.
    pub description: Field,
    /// Attachment names.
    pub attachment: Field,
    /// Text of earlier versions.
    pub history: Field,
}

/// The schema and its fields.
pub fn build() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(FOLDED)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let time = NumericOptions::default().set_indexed().set_fast();
    // Only sorted by and shown, never looked up: fast, not indexed (saves ~1% of the index).
    let fast_only = NumericOptions::default().set_fast();
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        space_id: builder.add_text_field("space_id", STRING),
        space: builder.add_text_field("space", text.clone()),
        sender_id: builder.add_text_field("sender_id", STRING),
        sender: builder.add_text_field("sender", text.clone()),
        kind: builder.add_text_field("kind", STRING),
        created: builder.add_i64_field("created", time.clone()),
        modified: builder.add_i64_field("modified", fast_only),
        removed: builder.add_u64_field("removed", time),
        text: builder.add_text_field("text", text.clone()),
        current: builder.add_text_field("current", text.clone()),
        edited: builder.add_u64_field("edited", NumericOptions::default().set_indexed()),
        description: builder.add_text_field("description", text.clone()),
        attachment: builder.add_text_field("attachment", text.clone()),
        history: builder.add_text_field("history", text),
    };
    (builder.build(), fields)
}

/// Registers the analyzers an index of this schema needs.
pub fn register_analyzers(index: &Index) {
    let analyzer = TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    index.tokenizers().register(FOLDED, analyzer);
}

/// The fields of an existing index's schema.
pub fn fields_of(schema: &Schema) -> tantivy::Result<Fields> {
    let get = |name: &str| schema.get_field(name);
    Ok(Fields {
        id: get("id")?,
        space_id: get("space_id")?,
        space: get("space")?,
        sender_id: get("sender_id")?,
        sender: get("sender")?,
        kind: get("kind")?,
        created: get("created")?,
        modified: get("modified")?,
        removed: get("removed")?,
        text: get("text")?,
        current: get("current")?,
        edited: get("edited")?,
        description: get("description")?,
        attachment: get("attachment")?,
        history: get("history")?,
    })
}
