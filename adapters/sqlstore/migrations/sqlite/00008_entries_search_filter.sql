-- +goose Up
-- Full-text search ranks the entries matching its words and keeps those
-- of the workspace, kind and status asked for. Reading those columns from
-- entries itself reads each match's whole row, body and rendered HTML
-- included, overflow pages and all; this index, keyed by the rowid the
-- full-text index gives, holds just the filter's columns and the id that
-- breaks ties, so a search reads the rows of the one page it returns.
CREATE INDEX entries_search_filter ON entries (seq, workspace_id, kind, status, id);

-- +goose Down
DROP INDEX entries_search_filter;
