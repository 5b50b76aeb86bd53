//! The access token: where it comes from, how each protocol carries it, and never
//! showing it. Every use goes through [`Token`], whose `Debug` and `Display` print
//! only its type, so a token cannot reach a log line, an error or `--help` by
//! accident. (Refreshing OAuth tokens will live here too.)

use std::fmt;
use std::path::Path;

/// How the token was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenType {
    /// An Avaya Spaces JWT (anonymous or user).
    Jwt,
    /// An OAuth2 access token.
    Oauth,
}

impl TokenType {
    /// The `tokenType` query value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Jwt => "jwt",
            TokenType::Oauth => "oauth",
        }
    }
}

/// A secret token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    kind: TokenType,
    secret: String,
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file cannot be read.
    #[error("cannot read the token file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Empty token.
    #[error("the token from {0} is empty")]
    Empty(String),
    /// Characters a token cannot hold.
    #[error("the token from {0} contains white space or control characters inside it")]
    Malformed(String),
}

impl Token {
    /// A token of `kind`; surrounding white space is removed.
    pub fn new(kind: TokenType, secret: &str, from: &str) -> Result<Token, TokenError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(TokenError::Empty(from.into()));
        }
        if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::Malformed(from.into()));
        }
        crate::redact::register(secret);
        Ok(Token {
            kind,
            secret: secret.to_string(),
        })
    }

    /// Reads a token file (its first line).
    pub fn from_file(kind: TokenType, path: &Path) -> Result<Token, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::File {
            path: path.display().to_string(),
            source,
        })?;
        let first = text.lines().next().unwrap_or("");
        Token::new(kind, first, &path.display().to_string())
    }

    /// The token's type.
    pub fn kind(&self) -> TokenType {
        self.kind
    }

    /// `tokenType=…&token=…` (URL-encoded), for the socket URL and namespace connect.
    pub fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("tokenType", self.kind.as_str())
            .append_pair("token", &self.secret)
            .finish()
    }

    /// The `Authorization` header value for REST calls.
    pub fn authorization(&self) -> String {
        match self.kind {
            TokenType::Jwt => format!("jwt {}", self.secret),
            TokenType::Oauth => format!("bearer {}", self.secret),
        }
    }

    /// The `auth` object of a Socket.IO v5 (Engine.IO v4) namespace connect.
    pub fn auth_json(&self) -> String {
        serde_json::json!({ "tokenType": self.kind.as_str(), "token": self.secret }).to_string()
    }

    /// Stops scrubbing this token from output: it has been replaced and no longer
    /// works.
    pub fn forget(&self) {
        crate::redact::forget(&self.secret);
    }

    /// `text` with the secret (in any form [`crate::redact`] knows: plain,
    /// URL-encoded, hex, base64) replaced by `<redacted>`: for
    /// anything a server or library echoes back before it is shown. (Every token is
    /// in [`crate::redact`]'s registry from its creation.)
    pub fn scrub(&self, text: &str) -> String {
        crate::redact::scrub(text)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}, redacted)", self.kind.as_str())
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} token, redacted>", self.kind.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_secret() {
        let token = Token::new(TokenType::Jwt, " s3cr3t+/= \n", "test").unwrap();
        assert!(!format!("{token:?} {token}").contains("s3cr3t"));
        assert_eq!(token.query(), "tokenType=jwt&token=s3cr3t%2B%2F%3D");
        assert_eq!(token.authorization(), "jwt s3cr3t+/=");
        assert_eq!(
            token.scrub("a s3cr3t+/= b s3cr3t%2B%2F%3D"),
            "a <redacted> b <redacted>"
        );
        assert!(Token::new(TokenType::Oauth, "  ", "env").is_err());
        assert!(Token::new(TokenType::Oauth, "a b", "env").is_err());
    }
}
