//! The user's query as tantivy's grammar reads it, converted clause by clause so that
//! an unquoted `word*` becomes a prefix query (tantivy's parser only supports prefixes
//! at the end of a quoted phrase). Every other leaf is converted by tantivy's parser.

use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhrasePrefixQuery, Query, QueryParser,
};
use tantivy::query_grammar::{Delimiter, UserInputAst, UserInputLeaf, UserInputLiteral};
use tantivy::schema::Field;
use tantivy::Term;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tantivy::schema::{FieldType, IndexRecordOption};

use super::phrase::CommonPhrase;
use super::schema::FOLDED;
use super::terms::{Mode, WordsQuery};
use super::SearchIndex;

/// Converts a parsed query; `defaults` are the fields searched when none is named.
/// Phrases of common words are bounded ([`CommonPhrase`]); `cut` is set when that
/// cut a search short.
pub fn convert(
    index: &SearchIndex,
    parser: &QueryParser,
    defaults: &[Field],
    ast: UserInputAst,
    cut: &Arc<AtomicBool>,
) -> Result<Box<dyn Query>, String> {
    match ast {
        UserInputAst::Clause(mut clauses)
            if clauses.len() == 1
                && matches!(clauses[0].0, None | Some(Occur::Must | Occur::Should)) =>
        {
            // A lone clause (a single word) stays unwrapped so tantivy can prune it.
            convert(index, parser, defaults, clauses.remove(0).1, cut)
        }
        UserInputAst::Clause(clauses) => {
            if let Some(flat) = flat_words(index, defaults, &clauses) {
                return Ok(flat);
            }
            let mut out: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(clauses.len());
            for (occur, sub) in clauses {
                out.push((
                    occur.unwrap_or(Occur::Must),
                    convert(index, parser, defaults, sub, cut)?,
                ));
            }
            if !out.is_empty() && out.iter().all(|(o, _)| *o == Occur::MustNot) {
                return Err(
                    "a query of only excluded terms matches nothing; add a term to look for".into(),
                );
            }
            Ok(Box::new(BooleanQuery::new(out)))
        }
        UserInputAst::Boost(sub, boost) => Ok(Box::new(BoostQuery::new(
            convert(index, parser, defaults, *sub, cut)?,
            boost as f32,
        ))),
        UserInputAst::Leaf(leaf) => {
            if let UserInputLeaf::Literal(literal) = leaf.as_ref() {
                if is_bare_prefix(literal) {
                    return prefix_query(index, defaults, literal);
                }
                if let Some(terms) = phrase(index, defaults, literal) {
                    return Ok(Box::new(CommonPhrase::new(terms, cut.clone())));
                }
            }
            parser
                .build_query_from_user_input_ast(UserInputAst::Leaf(leaf))
                .map_err(|e| e.to_string())
        }
    }
}

/// `a OR b OR …` or `a AND b AND …` (or `a b`) over plain words (no field, quote or
/// `*`, one token each) in the one default field, as a [`WordsQuery`], which ranks
/// them faster than nested clauses. Anything else is `None`.
fn flat_words(
    index: &SearchIndex,
    defaults: &[Field],
    clauses: &[(Option<Occur>, UserInputAst)],
) -> Option<Box<dyn Query>> {
    let [field] = defaults else {
        return None;
    };
    let mut analyzer = index.index().tokenizers().get(FOLDED)?;
    let mode = match clauses.first()?.0 {
        Some(Occur::Should) => Mode::Any,
        None | Some(Occur::Must) => Mode::All,
        Some(Occur::MustNot) => return None,
    };
    let mut words: Vec<String> = Vec::with_capacity(clauses.len());
    for (occur, ast) in clauses {
        let this = match occur {
            Some(Occur::Should) => Mode::Any,
            None | Some(Occur::Must) => Mode::All,
            Some(Occur::MustNot) => return None,
        };
        let UserInputAst::Leaf(leaf) = ast else {
            return None;
        };
        let UserInputLeaf::Literal(literal) = leaf.as_ref() else {
            return None;
        };
        if this != mode
            || literal.field_name.is_some()
            || !matches!(literal.delimiter, Delimiter::None)
            || literal.prefix
            || literal.phrase.ends_with('*')
        {
            return None;
        }
        let mut tokens: Vec<String> = Vec::new();
        analyzer
            .token_stream(&literal.phrase)
            .process(&mut |t| tokens.push(t.text.clone()));
        let [word] = <[String; 1]>::try_from(tokens).ok()?;
        words.push(word);
    }
    (words.len() >= 2)
        .then(|| -> Box<dyn Query> { Box::new(WordsQuery::new(mode, *field, &words)) })
}

/// A quoted phrase (no slop) of two or more words in a text field: its terms with
/// their positions, as tantivy's parser would build them.
fn phrase(
    index: &SearchIndex,
    defaults: &[Field],
    literal: &UserInputLiteral,
) -> Option<Vec<(usize, Term)>> {
    if !matches!(literal.delimiter, Delimiter::DoubleQuotes) || literal.slop != 0 || literal.prefix
    {
        return None;
    }
    let schema = index.index().schema();
    let field = match &literal.field_name {
        Some(name) => schema.get_field(name).ok()?,
        None => *defaults.first()?,
    };
    let FieldType::Str(options) = schema.get_field_entry(field).field_type() else {
        return None;
    };
    let indexing = options.get_indexing_options()?;
    if indexing.tokenizer() != FOLDED
        || indexing.index_option() != IndexRecordOption::WithFreqsAndPositions
    {
        return None;
    }
    let mut analyzer = index.index().tokenizers().get(FOLDED)?;
    let mut terms = Vec::new();
    analyzer.token_stream(&literal.phrase).process(&mut |t| {
        terms.push((t.position, Term::from_field_text(field, &t.text)));
    });
    (terms.len() >= 2).then_some(terms)
}

fn is_bare_prefix(literal: &UserInputLiteral) -> bool {
    matches!(literal.delimiter, Delimiter::None)
        && (literal.prefix || literal.phrase.ends_with('*'))
}

/// `word*` (or `field:word*`): every term that starts with the folded word.
fn prefix_query(
    index: &SearchIndex,
    defaults: &[Field],
    literal: &UserInputLiteral,
) -> Result<Box<dyn Query>, String> {
    let fields = match &literal.field_name {
        Some(name) => vec![index
            .index()
            .schema()
            .get_field(name)
            .map_err(|_| format!("unknown field '{name}'"))?],
        None => defaults.to_vec(),
    };
    let text = literal.phrase.trim_end_matches('*');
    let mut analyzer = index
        .index()
        .tokenizers()
        .get(FOLDED)
        .ok_or("no text analyzer")?;
    let mut tokens: Vec<(usize, String)> = Vec::new();
    analyzer
        .token_stream(text)
        .process(&mut |t| tokens.push((t.position, t.text.clone())));
    if tokens.is_empty() {
        return Err(format!("'{}' has no word before '*'", literal.phrase));
    }
    let per_field: Vec<(Occur, Box<dyn Query>)> = fields
        .into_iter()
        .map(|field| {
            let query: Box<dyn Query> = if tokens.len() == 1 {
                Box::new(FuzzyTermQuery::new_prefix(
                    Term::from_field_text(field, &tokens[0].1),
                    0,
                    true,
                ))
            } else {
                let terms = tokens
                    .iter()
                    .map(|(p, t)| (*p, Term::from_field_text(field, t)))
                    .collect();
                Box::new(PhrasePrefixQuery::new_with_offset(terms))
            };
            (Occur::Should, query)
        })
        .collect();
    Ok(Box::new(BooleanQuery::new(per_field)))
}
