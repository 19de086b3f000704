-- The storage location (canonical URL without credentials) that holds each
-- set, so that stores sharing one catalogue and cluster name keep their
-- sets apart: list, latest and prune only see their own location's rows.
-- '' marks rows recorded before this column existed; catalog sync claims
-- them for the store that holds their manifest.
ALTER TABLE backups ADD COLUMN storage_location VARCHAR(1024) NOT NULL DEFAULT ''
