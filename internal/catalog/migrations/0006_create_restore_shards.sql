-- Per-shard restore progress: a rerun of the same restore skips what is
-- already recovered or verified.
CREATE TABLE IF NOT EXISTS restore_shards (
    restore_id  VARCHAR(64)     NOT NULL,
    collection  VARCHAR(255)    NOT NULL,
    shard_id    INT UNSIGNED    NOT NULL,
    target_peer BIGINT UNSIGNED NOT NULL,
    state       VARCHAR(16)     NOT NULL,
    attempts    INT UNSIGNED    NOT NULL DEFAULT 0,
    error       TEXT            NULL,
    updated_at  DATETIME(6)     NOT NULL,
    PRIMARY KEY (restore_id, collection, shard_id, target_peer)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
