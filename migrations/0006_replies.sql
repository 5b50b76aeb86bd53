-- Replies by the post or task they answer, for `serve`'s conversations (a page
-- shows each post with its replies). Partial: only replies have a parent.
CREATE INDEX messages_parent ON messages (parent_id, created) WHERE parent_id IS NOT NULL;
