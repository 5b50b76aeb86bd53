//! Word splitting for message text: runs of letters and digits are words, except
//! that every CJK ideograph, kana and hangul syllable is a word of its own (the
//! approach of Lucene's standard tokenizer), so `会议` is found inside `项目会议记录`
//! as a phrase of two tokens. Lower-casing and ASCII folding are added by the
//! analyzer in [`super::schema`].

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The tokenizer.
#[derive(Clone, Default)]
pub struct WordTokenizer {
    token: Token,
}

/// Its token stream.
pub struct WordTokenStream<'a> {
    text: &'a str,
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    token: &'a mut Token,
}

/// Whether a character is written without spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FA1F) // CJK extensions B–F, compatibility supplement
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordTokenStream<'a> {
        self.token.reset();
        WordTokenStream {
            text,
            chars: text.char_indices().peekable(),
            token: &mut self.token,
        }
    }
}

impl WordTokenStream<'_> {
    fn emit(&mut self, from: usize, to: usize) {
        self.token.position = self.token.position.wrapping_add(1);
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.text.clear();
        self.token.text.push_str(&self.text[from..to]);
    }
}

impl TokenStream for WordTokenStream<'_> {
    fn advance(&mut self) -> bool {
        while let Some((start, c)) = self.chars.next() {
            if is_cjk(c) {
                self.emit(start, start + c.len_utf8());
                return true;
            }
            if !c.is_alphanumeric() {
                continue;
            }
            let mut end = start + c.len_utf8();
            while let Some(&(i, next)) = self.chars.peek() {
                if !next.is_alphanumeric() || is_cjk(next) {
                    break;
                }
                end = i + next.len_utf8();
                self.chars.next();
            }
            self.emit(start, end);
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(String, usize)> {
        let mut tokenizer = WordTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push((stream.token().text.clone(), stream.token().position));
        }
        out
    }

    #[test]
    fn splits_words_and_cjk_characters() {
        let got: Vec<String> = tokens("Café, R&D: 项目会议 ok2 🎉 확인")
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(
            got,
            ["Café", "R", "D", "项", "目", "会", "议", "ok2", "확", "인"]
        );
        let positions: Vec<usize> = tokens("a 会议 b").into_iter().map(|t| t.1).collect();
        assert_eq!(positions, [0, 1, 2, 3]);
        assert!(tokens("  ... ").is_empty());
    }
}
