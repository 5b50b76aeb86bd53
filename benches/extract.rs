//! Extraction benchmark: the text of a PDF and a DOCX that `files::samples` makes
//! from `BENCH_PARAGRAPHS` paragraphs (default 2,000) of ordinary words, and of the
//! fixtures other tools made (tests/fixtures/files), each extracted repeatedly for
//! about `BENCH_SECONDS` (default 3). Prints MB/s of input, files/s and the text's
//! size. Run with `cargo bench --bench extract`.

use std::path::Path;
use std::time::{Duration, Instant};

use spaces_archive::files::extract::{extract_text, TEXT_CAP};
use spaces_archive::files::samples;

const WORDS: &[&str] = &[
    "the",
    "quarterly",
    "budget",
    "review",
    "meeting",
    "was",
    "moved",
    "to",
    "Thursday",
    "because",
    "finance",
    "needs",
    "more",
    "time",
    "for",
    "the",
    "forecast",
    "and",
    "legal",
    "asked",
    "about",
    "contract",
    "renewal",
    "terms",
    "customer",
    "escalation",
    "ticket",
    "deployment",
    "schedule",
    "please",
    "confirm",
    "attendance",
    "before",
    "noon",
    "with",
    "regional",
    "sales",
    "figures",
    "compliance",
    "training",
    "is",
    "mandatory",
    "for",
    "all",
    "staff",
    "invoice",
    "approved",
    "pending",
    "signature",
    "from",
    "procurement",
    "team",
];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `count` paragraphs of 20 to 60 words, the same on every run.
fn paragraphs(count: usize) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(42);
    (0..count)
        .map(|_| {
            let words = rng.usize(20..=60);
            let mut paragraph = (0..words)
                .map(|_| WORDS[rng.usize(..WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ");
            paragraph.push('.');
            paragraph
        })
        .collect()
}

/// Extracts `path` repeatedly for about `budget` and prints the rates.
fn measure(label: &str, path: &Path, mime: &str, budget: Duration) {
    let size = std::fs::metadata(path).expect("metadata").len() as f64;
    let mut runs = 0u32;
    let mut text_len = 0;
    let started = Instant::now();
    while runs < 3 || started.elapsed() < budget {
        let text = extract_text(path, Some(mime), None, TEXT_CAP)
            .expect("extract")
            .expect("text-like");
        text_len = text.len();
        runs += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "  {label:<28} {:>9.1} KB -> {:>8.1} KB text  {:>8.1} MB/s  {:>9.1} files/s  ({runs} runs)",
        size / 1e3,
        text_len as f64 / 1e3,
        size * f64::from(runs) / seconds / 1e6,
        f64::from(runs) / seconds,
    );
}

fn main() {
    let count = env_or("BENCH_PARAGRAPHS", 2_000usize);
    let budget = Duration::from_secs_f64(env_or("BENCH_SECONDS", 3.0));
    let work = tempfile::tempdir().expect("temp dir");
    let paragraphs = paragraphs(count);
    let pdf = work.path().join("sample.pdf");
    std::fs::write(&pdf, samples::pdf(&paragraphs)).expect("write pdf");
    let docx = work.path().join("sample.docx");
    std::fs::write(&docx, samples::docx(&paragraphs)).expect("write docx");

    println!("text extraction (cap {} bytes)", TEXT_CAP);
    measure(
        &format!("samples::pdf ({count} par.)"),
        &pdf,
        "application/pdf",
        budget,
    );
    measure(
        &format!("samples::docx ({count} par.)"),
        &docx,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        budget,
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/files");
    for (name, mime) in [
        ("report.pdf", "application/pdf"),
        (
            "memo.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "sheet.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ] {
        measure(
            &format!("fixture {name}"),
            &fixtures.join(name),
            mime,
            budget,
        );
    }
}
