//! Message text for generated payloads: words from several languages (accents, CJK,
//! emoji), lengths from a few bytes to about 8 KB, rendered as the HTML Avaya sends
//! (paragraphs, emphasis, links, escaped entities, `<mention>` tags).

use fastrand::Rng;

/// The most frequent words, most frequent first (function words, then work words).
const COMMON: &[&str] = &[
    "the",
    "to",
    "and",
    "a",
    "of",
    "is",
    "in",
    "for",
    "we",
    "it",
    "on",
    "that",
    "this",
    "you",
    "with",
    "be",
    "can",
    "will",
    "i",
    "have",
    "are",
    "not",
    "at",
    "please",
    "thanks",
    "ok",
    "today",
    "meeting",
    "team",
    "call",
    "update",
    "review",
    "check",
    "tomorrow",
    "release",
    "customer",
    "report",
    "design",
    "feedback",
    "ticket",
    "agenda",
    "deploy",
    "budget",
    "sprint",
    "demo",
    "support",
    "draft",
    "server",
    "issue",
    "fixed",
    "blocked",
    "ship",
    "quarter",
    "schedule",
    "slides",
    "numbers",
    "invoice",
    "contract",
    "roadmap",
    "escalation",
    "approval",
    "latency",
    "incident",
    "postmortem",
    "onboarding",
    "training",
    "café",
    "réunion",
    "déjà",
    "naïve",
    "élève",
    "Größe",
    "Übung",
    "señal",
    "año",
    "façade",
    "crème",
    "résumé",
    "会议",
    "项目",
    "設計",
    "確認",
    "報告",
    "확인",
    "회의",
    "日程",
    "予算",
    "🎉",
    "👍",
    "🚀",
    "✅",
    "🔥",
    "🙏",
];

const SPECIALS: &[&str] = &[
    "it's",
    "\"quoted\"",
    "R&D",
    "a < b",
    "x > y",
    "50%",
    "Q&A",
    "don't",
];

const ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st",
    "tr", "pl", "gr", "ch",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou", "é", "y"];
const CODAS: &[&str] = &["", "", "n", "r", "s", "t", "l", "m", "x"];

/// Size of the vocabulary: real text has a long tail of rarer words.
const VOCABULARY: usize = 20_000;

/// The vocabulary (common words first, then made-up words of two to four syllables)
/// and the cumulative Zipf weights (rank^-1.07, as in English text) to draw from it.
fn vocabulary() -> &'static (Vec<String>, Vec<f64>) {
    static VOCAB: std::sync::OnceLock<(Vec<String>, Vec<f64>)> = std::sync::OnceLock::new();
    VOCAB.get_or_init(|| {
        let mut rng = Rng::with_seed(0x5eed);
        let mut words: Vec<String> = COMMON.iter().map(|w| w.to_string()).collect();
        let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
        while words.len() < VOCABULARY {
            let syllables = rng.usize(2..=4);
            let word: String = (0..syllables)
                .map(|_| {
                    let pick = |list: &[&'static str], rng: &mut Rng| list[rng.usize(..list.len())];
                    format!(
                        "{}{}{}",
                        pick(ONSETS, &mut rng),
                        pick(VOWELS, &mut rng),
                        pick(CODAS, &mut rng)
                    )
                })
                .collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let cumulative = (0..words.len())
            .map(|rank| {
                total += 1.0 / ((rank + 1) as f64).powf(1.07);
                total
            })
            .collect();
        (words, cumulative)
    })
}

/// One word drawn with Zipf frequencies.
fn word(rng: &mut Rng) -> &'static str {
    let (words, cumulative) = vocabulary();
    let target = rng.f64() * cumulative[cumulative.len() - 1];
    let rank = cumulative
        .partition_point(|c| *c < target)
        .min(words.len() - 1);
    &words[rank]
}

/// Picks a plain-text length: mostly short chat lines, some paragraphs, a few long
/// documents up to ~8 KB.
pub fn pick_length(rng: &mut Rng) -> usize {
    match rng.u32(0..100) {
        0..=69 => rng.usize(3..120),
        70..=94 => rng.usize(120..1_000),
        _ => rng.usize(1_000..7_600),
    }
}

/// Plain words up to about `len` bytes.
pub fn words(rng: &mut Rng, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        if !out.is_empty() {
            out.push(' ');
        }
        let next = if rng.u32(0..25) == 0 {
            SPECIALS[rng.usize(..SPECIALS.len())]
        } else {
            word(rng)
        };
        out.push_str(next);
    }
    out
}

/// Escapes text the way the Avaya client does in `bodyText`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A person who can be mentioned.
pub struct Mentionable<'a> {
    /// User id.
    pub id: &'a str,
    /// Display name.
    pub name: &'a str,
}

/// An HTML body of about `len` bytes of text, in paragraphs, with occasional
/// emphasis, links and a mention.
pub fn html_body(rng: &mut Rng, len: usize, mention: Option<Mentionable>) -> String {
    let mut html = String::with_capacity(len + 64);
    let mut remaining = len;
    let mut first = true;
    while remaining > 0 || first {
        let part = remaining.min(rng.usize(40..600));
        remaining -= part;
        html.push_str("<p>");
        if first {
            if let Some(m) = &mention {
                html.push_str(&format!(
                    "<mention id=\"{}\" type=\"user\" value=\"{}\">@{}</mention> ",
                    m.id,
                    escape(m.name),
                    escape(m.name)
                ));
            }
        }
        let text = escape(&words(rng, part.max(3)));
        match rng.u32(0..12) {
            0 => html.push_str(&format!("<b>{text}</b>")),
            1 => html.push_str(&format!(
                "{text} <a href=\"https://example.com/d/{}\">link</a>",
                rng.u32(..)
            )),
            _ => html.push_str(&text),
        }
        html.push_str("</p>");
        first = false;
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_stay_within_bounds_and_render() {
        let mut rng = Rng::with_seed(7);
        for _ in 0..200 {
            let len = pick_length(&mut rng);
            assert!((3..7_600).contains(&len));
            let html = html_body(
                &mut rng,
                len,
                Some(Mentionable {
                    id: "u1",
                    name: "Zoë O'Neil",
                }),
            );
            assert!(html.len() < 9_000, "{}", html.len());
            let text = crate::event::html::html_to_text(&html);
            assert!(text.starts_with("Zoë O'Neil"), "{text}");
        }
    }
}
