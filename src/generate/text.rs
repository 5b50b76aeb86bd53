//! Message text for generated payloads: words from several languages (accents, CJK,
//! emoji), lengths from a few bytes to about 8 KB, rendered as the HTML Avaya sends
//! (paragraphs, emphasis, links, escaped entities, `<mention>` tags).

use fastrand::Rng;

const WORDS: &[&str] = &[
    "the",
    "release",
    "meeting",
    "customer",
    "budget",
    "review",
    "deploy",
    "ticket",
    "agenda",
    "team",
    "call",
    "update",
    "please",
    "check",
    "today",
    "tomorrow",
    "quarter",
    "report",
    "design",
    "feedback",
    "ship",
    "blocked",
    "fixed",
    "invoice",
    "contract",
    "roadmap",
    "sprint",
    "demo",
    "support",
    "escalation",
    "approval",
    "draft",
    "server",
    "latency",
    "incident",
    "postmortem",
    "onboarding",
    "training",
    "schedule",
    "slides",
    "numbers",
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
        let word = if rng.u32(0..25) == 0 {
            SPECIALS[rng.usize(..SPECIALS.len())]
        } else {
            WORDS[rng.usize(..WORDS.len())]
        };
        out.push_str(word);
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
