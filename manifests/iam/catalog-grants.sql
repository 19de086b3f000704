-- The catalog account of qbackup: exactly what `catalog migrate`, backup,
-- restore, list, verify, prune and `catalog sync` use. CREATE and ALTER
-- are for the migrations only (QBACKUP_MIGRATE_CATALOG=true, or `qbackup
-- catalog migrate`); an account that never migrates needs only SELECT,
-- INSERT, UPDATE and DELETE. Replace the database name, the account and
-- the password; TiDB and MySQL take the same statements.
CREATE USER IF NOT EXISTS 'qbackup'@'%' IDENTIFIED BY 'change-me';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER ON `qbackup`.* TO 'qbackup'@'%';
