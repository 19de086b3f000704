-- One row per backup set. Names compare byte-wise (utf8mb4_bin) because
-- Qdrant cluster and collection names are case-sensitive.
CREATE TABLE IF NOT EXISTS backups (
    cluster            VARCHAR(191)    NOT NULL,
    backup_id          VARCHAR(64)     NOT NULL,
    status             VARCHAR(16)     NOT NULL,
    verify_status      VARCHAR(16)     NOT NULL DEFAULT 'unverified',
    verify_detail      TEXT            NULL,
    reason             TEXT            NULL,
    qdrant_version     VARCHAR(64)     NOT NULL DEFAULT '',
    tool_version       VARCHAR(64)     NOT NULL DEFAULT '',
    snapshot_method    VARCHAR(16)     NOT NULL DEFAULT '',
    holder             VARCHAR(191)    NOT NULL DEFAULT '',
    started_at         DATETIME(6)     NOT NULL,
    finished_at        DATETIME(6)     NULL,
    window_first_start DATETIME(6)     NULL,
    window_last_start  DATETIME(6)     NULL,
    skew_ms            BIGINT          NOT NULL DEFAULT 0,
    collections_count  INT UNSIGNED    NOT NULL DEFAULT 0,
    shards_count       INT UNSIGNED    NOT NULL DEFAULT 0,
    total_bytes        BIGINT          NOT NULL DEFAULT 0,
    points_count       BIGINT UNSIGNED NOT NULL DEFAULT 0,
    manifest_key       VARCHAR(1024)   NOT NULL DEFAULT '',
    updated_at         DATETIME(6)     NOT NULL,
    verified_at        DATETIME(6)     NULL,
    PRIMARY KEY (cluster, backup_id),
    KEY backups_by_start (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
