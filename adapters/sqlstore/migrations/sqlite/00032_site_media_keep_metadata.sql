-- +goose Up
-- Whether the workspace's media uploads keep their EXIF, XMP and IPTC
-- metadata (GPS positions included); by default they are stripped
-- (domain.SiteSettings.MediaKeepMetadata).
ALTER TABLE site_settings ADD COLUMN media_keep_metadata BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE site_settings DROP COLUMN media_keep_metadata;
