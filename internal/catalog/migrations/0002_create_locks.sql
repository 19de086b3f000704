-- Lease locks. The migrator itself takes a lease, so this table is created
-- before the lock too and must stay a CREATE TABLE IF NOT EXISTS.
-- token identifies one acquisition: renew and release compare it, so a
-- holder whose lease was taken over cannot touch the new one.
CREATE TABLE IF NOT EXISTS locks (
    name        VARCHAR(191) NOT NULL,
    holder      VARCHAR(191) NOT NULL,
    token       CHAR(32)     NOT NULL,
    acquired_at DATETIME(6)  NOT NULL,
    renewed_at  DATETIME(6)  NOT NULL,
    expires_at  DATETIME(6)  NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
