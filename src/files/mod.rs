//! Attachments: the fetch queue, the content-addressed store, and text extraction.

pub mod extract;
pub mod samples;
