//! HTML bodies to plain text, with html5ever's tokenizer: tags stripped, entities
//! decoded, block elements turned into line breaks, `<mention>` tags into the
//! mentioned name, and runs of white space collapsed.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

/// Renders an HTML fragment (a `bodyText` or `description`) as plain text.
pub fn html_to_text(html: &str) -> String {
    if !html.contains(['<', '&']) {
        let mut text = TextBuilder::default();
        text.push_str(html);
        return text.finish();
    }
    let sink = TextSink::default();
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.state.into_inner().text.finish()
}

/// Collects text with white space collapsed: one space between words, one newline
/// between blocks, nothing leading or trailing.
#[derive(Default)]
struct TextBuilder {
    out: String,
    pending_space: bool,
    pending_newline: bool,
}

impl TextBuilder {
    fn push_str(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.pending_space = true;
            } else if c != '\0' {
                self.flush_separator();
                self.out.push(c);
            }
        }
    }

    fn line_break(&mut self) {
        self.pending_newline = true;
    }

    fn flush_separator(&mut self) {
        if !self.out.is_empty() {
            if self.pending_newline {
                self.out.push('\n');
            } else if self.pending_space {
                self.out.push(' ');
            }
        }
        self.pending_space = false;
        self.pending_newline = false;
    }

    fn finish(self) -> String {
        self.out
    }
}

#[derive(Default)]
struct SinkState {
    text: TextBuilder,
    /// Inside a `<mention>` whose name was taken from its `value` attribute.
    in_mention: bool,
    /// Inside `<script>` or `<style>`, whose content is not text.
    in_raw: bool,
}

#[derive(Default)]
struct TextSink {
    state: RefCell<SinkState>,
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "br"
            | "li"
            | "ul"
            | "ol"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "pre"
            | "tr"
            | "table"
            | "hr"
    )
}

impl SinkState {
    fn tag(&mut self, tag: &Tag) {
        let name: &str = &tag.name;
        match (tag.kind, name) {
            (TagKind::StartTag, "mention") => {
                let value = tag.attrs.iter().find(|a| &*a.name.local == "value");
                if let Some(value) = value.filter(|v| !v.value.trim().is_empty()) {
                    self.text.push_str(&value.value);
                    self.in_mention = !tag.self_closing;
                }
            }
            (TagKind::EndTag, "mention") => self.in_mention = false,
            (TagKind::StartTag, "script" | "style") => self.in_raw = !tag.self_closing,
            (TagKind::EndTag, "script" | "style") => self.in_raw = false,
            (_, name) if is_block(name) => self.text.line_break(),
            _ => {}
        }
    }
}

impl TokenSink for TextSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line_number: u64) -> TokenSinkResult<()> {
        let mut state = self.state.borrow_mut();
        match token {
            Token::CharacterTokens(chars) if !state.in_mention && !state.in_raw => {
                state.text.push_str(&chars)
            }
            Token::TagToken(tag) => state.tag(&tag),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn strips_tags_and_decodes_entities() {
        assert_eq!(html_to_text("<p>asd</p>"), "asd");
        assert_eq!(
            html_to_text("<p>it&#x27;s &quot;done&quot; &amp; <b>shipped</b></p>"),
            "it's \"done\" & shipped"
        );
        assert_eq!(html_to_text("a &lt;b&gt; c"), "a <b> c");
    }

    #[test]
    fn blocks_become_lines_and_space_collapses() {
        assert_eq!(
            html_to_text("<p>one  two</p><p>three</p>"),
            "one two\nthree"
        );
        assert_eq!(html_to_text("a<br>b<br/>c"), "a\nb\nc");
        assert_eq!(html_to_text("  plain \n text  "), "plain text");
    }

    #[test]
    fn mentions_become_names() {
        let html =
            r#"<p>hi <mention id="5f04" type="user" value="Ann Lee">@Ann Lee</mention>!</p>"#;
        assert_eq!(html_to_text(html), "hi Ann Lee!");
        let bare = r#"<p><mention id="5f04" type="user">@Bob</mention> ok</p>"#;
        assert_eq!(html_to_text(bare), "@Bob ok");
        let empty = r#"<mention id="1" value="Zoë"></mention> thanks"#;
        assert_eq!(html_to_text(empty), "Zoë thanks");
    }

    #[test]
    fn keeps_non_ascii_and_skips_scripts() {
        assert_eq!(html_to_text("<p>café 会議 🎉</p>"), "café 会議 🎉");
        assert_eq!(html_to_text("<script>alert(1)</script>ok"), "ok");
        assert_eq!(html_to_text("<p>broken <b>markup"), "broken markup");
        assert_eq!(html_to_text(""), "");
    }
}
