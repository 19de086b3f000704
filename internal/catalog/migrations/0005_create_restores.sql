-- One row per restore run. plan is the planner's JSON, kept so a rerun and
-- `status` show what was intended.
CREATE TABLE IF NOT EXISTS restores (
    restore_id  VARCHAR(64)   NOT NULL,
    cluster     VARCHAR(191)  NOT NULL,
    backup_id   VARCHAR(64)   NOT NULL,
    target      VARCHAR(1024) NOT NULL DEFAULT '',
    plan        LONGTEXT      NULL,
    status      VARCHAR(16)   NOT NULL,
    reason      TEXT          NULL,
    started_at  DATETIME(6)   NOT NULL,
    finished_at DATETIME(6)   NULL,
    updated_at  DATETIME(6)   NOT NULL,
    PRIMARY KEY (restore_id),
    KEY restores_by_start (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
