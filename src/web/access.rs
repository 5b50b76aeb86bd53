//! Which spaces an account may see. A reviewer limited to spaces gets nothing of
//! another through any route: searches and exports are narrowed to its spaces, and
//! a conversation, message, space or file outside them answers 404, as if the
//! archive did not hold it (so its existence is not revealed either).

use crate::audit::User;
use crate::store::{lookup, Archive, StoreError};

/// The spaces a request covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpaceScope {
    /// Every space.
    All,
    /// These space ids.
    Only(Vec<String>),
}

/// Why a space filter cannot apply.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// The filter names no space the account may see.
    #[error("no space matches {0:?}")]
    NoSuchSpace(String),
    /// SQLite.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves the spaces a user typed (ids or titles, as the CLI takes them) within
/// what `user` may see. An empty `given` covers every space the user may see.
pub async fn resolve(
    archive: &Archive,
    user: &User,
    given: &[String],
) -> Result<SpaceScope, ScopeError> {
    if given.is_empty() {
        return Ok(match &user.spaces {
            None => SpaceScope::All,
            Some(spaces) => SpaceScope::Only(spaces.clone()),
        });
    }
    let mut ids = Vec::new();
    for name in given {
        let found: Vec<String> = lookup::space_ids(archive, name)
            .await?
            .into_iter()
            .filter(|id| user.may_see(id))
            .collect();
        if found.is_empty() {
            return Err(ScopeError::NoSuchSpace(name.clone()));
        }
        ids.extend(found);
    }
    ids.sort();
    ids.dedup();
    Ok(SpaceScope::Only(ids))
}

impl SpaceScope {
    /// The ids to pass as a space filter (`None`: no filter).
    pub fn ids(&self) -> Option<&[String]> {
        match self {
            SpaceScope::All => None,
            SpaceScope::Only(ids) => Some(ids),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Role;

    fn user(spaces: Option<Vec<&str>>) -> User {
        User {
            name: "r".into(),
            role: Role::Reviewer,
            spaces: spaces.map(|s| s.into_iter().map(String::from).collect()),
            created: 0,
            changed: 0,
        }
    }

    #[test]
    fn a_limited_account_sees_only_its_spaces() {
        let limited = user(Some(vec!["a", "b"]));
        assert!(limited.may_see("a"));
        assert!(!limited.may_see("c"));
        assert!(user(None).may_see("c"));
    }
}
