-- One row per shard object of a backup set. shard_key keeps Qdrant's JSON
-- form ("eu" or 7) so string and number keys stay apart; NULL means the
-- collection is auto-sharded.
CREATE TABLE IF NOT EXISTS backup_shards (
    cluster         VARCHAR(191)    NOT NULL,
    backup_id       VARCHAR(64)     NOT NULL,
    collection      VARCHAR(255)    NOT NULL,
    shard_id        INT UNSIGNED    NOT NULL,
    shard_key       VARCHAR(512)    NULL,
    source_peer     BIGINT UNSIGNED NOT NULL,
    object_key      VARCHAR(2048)   NOT NULL,
    compression     VARCHAR(16)     NOT NULL,
    size            BIGINT          NOT NULL,
    sha256          CHAR(64)        NOT NULL,
    snapshot_size   BIGINT          NOT NULL,
    snapshot_sha256 CHAR(64)        NOT NULL,
    points_count    BIGINT UNSIGNED NOT NULL,
    started_at      DATETIME(6)     NULL,
    finished_at     DATETIME(6)     NULL,
    PRIMARY KEY (cluster, backup_id, collection, shard_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
