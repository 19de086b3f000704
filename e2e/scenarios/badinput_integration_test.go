//go:build integration

package scenarios

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// badInputFixture is what every bad-input case runs against: a cluster on
// the simulator holding data, a backup of it in MinIO indexed in a
// MariaDB catalog, the same backup in a file store, and two damaged
// copies of that file store (a truncated manifest, a manifest missing a
// shard).
type badInputFixture struct {
	sim              *sim
	s3               *s3Store
	cat              *catalog
	file, trunc, gap *fileStore
	// scratch holds paths the cases name but that must never appear,
	// and afile, a regular file where a directory is expected.
	scratch, afile string
	// qb has the S3 credentials and the catalog DSN.
	qb *cli
	// s3ID and fileID are the backups in MinIO and in the file stores.
	s3ID, fileID string
}

func newBadInputFixture(t *testing.T) *badInputFixture {
	t.Helper()
	f := &badInputFixture{sim: startSim(t, fastSim(2)), s3: newS3Store(t), cat: newCatalog(t)}
	f.sim.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	f.sim.upsert(t, "docs", 1, 30, nil, func(i int) string { return fmt.Sprintf(`[%d,1,0.5,-1]`, i) })
	sc := newScenario(t, f.sim, f.s3, f.cat)
	f.qb = sc.qb
	f.s3ID = sc.backup(t)

	f.file = newFileStore(t)
	fsc := newScenario(t, f.sim, f.file, nil)
	f.fileID = fsc.backup(t)
	manifestKey := "prod/" + f.fileID + "/manifest.json"
	good := f.file.read(t, manifestKey)

	f.trunc, f.gap = copyFileStore(t, f.file), copyFileStore(t, f.file)
	f.trunc.write(t, manifestKey, good[:len(good)/2])
	var doc map[string]any
	if err := json.Unmarshal(good, &doc); err != nil {
		t.Fatal(err)
	}
	coll := doc["collections"].([]any)[0].(map[string]any)
	coll["shards"] = coll["shards"].([]any)[:1]
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	f.gap.write(t, manifestKey, b)

	f.scratch = t.TempDir()
	f.afile = filepath.Join(f.scratch, "afile")
	if err := os.WriteFile(f.afile, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func copyFileStore(t *testing.T, src *fileStore) *fileStore {
	t.Helper()
	dst := newFileStore(t)
	for _, k := range src.keys(t) {
		p := filepath.Join(dst.dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		dst.write(t, k, src.read(t, k))
	}
	return dst
}

// fingerprint is everything a refused command must leave as it was: every
// file and directory of the file stores and the scratch directory (name,
// mode, size, content), every object and open multipart upload under the
// MinIO prefix, every row of every catalog table, and the cluster's
// collections, aliases, replicas and points.
func (f *badInputFixture) fingerprint(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []string{f.file.dir, f.trunc.dir, f.gap.dir, f.scratch} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "file %s %s %d", p, fi.Mode(), fi.Size())
			if fi.Mode().IsRegular() {
				c, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, " %x", sha256.Sum256(c))
			}
			b.WriteByte('\n')
			return nil
		})
		if err != nil {
			t.Fatalf("fingerprint %s: %v", dir, err)
		}
	}
	for _, k := range f.s3.keys(t) {
		sum := sha256.Sum256(f.s3.read(t, k))
		fmt.Fprintf(&b, "s3 %s %s\n", k, hex.EncodeToString(sum[:]))
	}
	fmt.Fprintf(&b, "s3 uploads %v\n", f.s3.uploads(t))
	b.WriteString(f.cat.dump(t))
	b.WriteString(f.sim.state(t))
	return b.String()
}

// dump renders every row of every table of the catalog.
func (c *catalog) dump(t *testing.T) string {
	t.Helper()
	rows, err := c.db.Query("SHOW TABLES")
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	_ = rows.Close()
	sort.Strings(tables)
	var b strings.Builder
	for _, table := range tables {
		// table names come from SHOW TABLES
		r, err := c.db.Query("SELECT * FROM `" + table + "`")
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, _ := r.Columns()
		var lines []string
		for r.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = string(v)
			}
			lines = append(lines, strings.Join(parts, "|"))
		}
		_ = r.Close()
		sort.Strings(lines)
		fmt.Fprintf(&b, "table %s (%d rows)\n%s\n", table, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// badCase is one bad input: the command, what its message must say (the
// problem and the fix) and the exit code.
type badCase struct {
	name string
	// plugin runs kubectl-qbackup instead of qbackup.
	plugin bool
	args   func(f *badInputFixture) []string
	// env adds variables (after the fixture's S3 credentials and DSN).
	env  func(f *badInputFixture) []string
	code int
	msgs []string
	// absent is a path the command must not create.
	absent func(f *badInputFixture) string
	// noCatalog runs without the catalog: the file stores' sets are not
	// indexed in it (its rows are the MinIO store's).
	noCatalog bool
}

// Argument builders: a command against the fixture's MinIO store (and
// cluster, for backup and restore) with extra flags last.
func (f *badInputFixture) s3Args(cmd ...string) []string {
	return append(append(cmd, "--cluster=prod"), f.s3.flags()...)
}

func (f *badInputFixture) backup(extra ...string) []string {
	return append(append(f.s3Args("backup"), f.sim.discovery()...), extra...)
}

func (f *badInputFixture) backupStatic(urls ...string) []string {
	args := append(f.s3Args("backup"), "--discovery=static")
	for _, u := range urls {
		args = append(args, "--qdrant-url="+u)
	}
	return args
}

func (f *badInputFixture) restore(ref string, extra ...string) []string {
	cmd := []string{"restore"}
	if ref != "" {
		cmd = append(cmd, ref)
	}
	return append(append(append(f.s3Args(cmd...), "--wait-timeout=1m"), f.sim.discovery()...), extra...)
}

func (f *badInputFixture) onFile(st *fileStore, cmd ...string) []string {
	return append(cmd, "--cluster=prod", "--storage=file://"+st.dir)
}

// pluginS3Args and pluginOnFile are s3Args and onFile for kubectl qbackup,
// whose --cluster is kubectl's: the backups' cluster is --qdrant-cluster.
func (f *badInputFixture) pluginS3Args(cmd ...string) []string {
	return append(append(cmd, "--qdrant-cluster=prod"), f.s3.flags()...)
}

func (f *badInputFixture) pluginOnFile(st *fileStore, cmd ...string) []string {
	return append(cmd, "--qdrant-cluster=prod", "--storage=file://"+st.dir)
}

func args(a ...string) func(*badInputFixture) []string {
	return func(*badInputFixture) []string { return a }
}

func dsnWith(t *testing.T, dsn string, edit func(*mysql.Config)) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	return cfg.FormatDSN()
}

func badInputCases(t *testing.T) []badCase {
	long := strings.Repeat("x", 300)
	return []badCase{
		// Bounds of backup flags.
		{name: "backup --concurrency=0", args: func(f *badInputFixture) []string { return f.backup("--concurrency=0") }, code: exitUsage, msgs: []string{"--concurrency 0", "QBACKUP_CONCURRENCY", "at least 1"}},
		{name: "backup --concurrency=-3", args: func(f *badInputFixture) []string { return f.backup("--concurrency=-3") }, code: exitUsage, msgs: []string{"--concurrency -3", "at least 1"}},
		{name: "backup --concurrency=100000", args: func(f *badInputFixture) []string { return f.backup("--concurrency=100000") }, code: exitUsage, msgs: []string{"--concurrency 100000", "at most 256"}},
		{name: "backup --per-peer-concurrency=0", args: func(f *badInputFixture) []string { return f.backup("--per-peer-concurrency=0") }, code: exitUsage, msgs: []string{"--per-peer-concurrency 0", "at least 1"}},
		{name: "backup --sample-size=0", args: func(f *badInputFixture) []string { return f.backup("--sample-size=0") }, code: exitUsage, msgs: []string{"--sample-size 0", "could not verify", "at least 1"}},
		{name: "backup --sample-size=-1", args: func(f *badInputFixture) []string { return f.backup("--sample-size=-1") }, code: exitUsage, msgs: []string{"--sample-size -1", "at least 1"}},
		{name: "backup --sample-size=1000000", args: func(f *badInputFixture) []string { return f.backup("--sample-size=1000000") }, code: exitUsage, msgs: []string{"--sample-size 1000000", "at most 10000"}},
		{name: "backup --lease-ttl=0s", args: func(f *badInputFixture) []string { return f.backup("--lease-ttl=0s") }, code: exitUsage, msgs: []string{"--lease-ttl 0s", "at least 1s"}},
		{name: "backup --lease-ttl=-1m", args: func(f *badInputFixture) []string { return f.backup("--lease-ttl=-1m") }, code: exitUsage, msgs: []string{"--lease-ttl -1m0s", "at least 1s"}},
		{name: "backup --lease-wait=-5s", args: func(f *badInputFixture) []string { return f.backup("--lease-wait=-5s") }, code: exitUsage, msgs: []string{"--lease-wait -5s", "cannot be negative", "use 0"}},
		{name: "backup --prestart-streams=-1", args: func(f *badInputFixture) []string { return f.backup("--prestart-streams=-1") }, code: exitUsage, msgs: []string{"--prestart-streams -1", "at least 0"}},
		{name: "backup --prestart-streams=100000", args: func(f *badInputFixture) []string { return f.backup("--prestart-streams=100000") }, code: exitUsage, msgs: []string{"--prestart-streams 100000", "at most 4096", "proxied shard"}},
		{name: "backup --stall-timeout=0s", args: func(f *badInputFixture) []string { return f.backup("--stall-timeout=0s") }, code: exitUsage, msgs: []string{"--stall-timeout 0s", "at least 1s"}},
		{name: "backup --keep-last=-1", args: func(f *badInputFixture) []string { return f.backup("--prune", "--keep-last=-1") }, code: exitUsage, msgs: []string{"--keep-last -1", "at least 0"}},
		{name: "backup --keep-daily=-2", args: func(f *badInputFixture) []string { return f.backup("--keep-daily=-2") }, code: exitUsage, msgs: []string{"--keep-daily -2", "at least 0"}},
		{name: "prune --keep-weekly=-1", args: func(f *badInputFixture) []string { return append(f.s3Args("prune"), "--keep-weekly=-1") }, code: exitUsage, msgs: []string{"--keep-weekly -1", "at least 0"}},
		{name: "prune --keep-monthly=-1", args: func(f *badInputFixture) []string { return append(f.s3Args("prune"), "--keep-monthly=-1") }, code: exitUsage, msgs: []string{"--keep-monthly -1", "at least 0"}},
		{name: "prune --orphan-grace=-1h", args: func(f *badInputFixture) []string { return append(f.s3Args("prune"), "--orphan-grace=-1h") }, code: exitUsage, msgs: []string{"--orphan-grace -1h0m0s", "use 0 for no grace"}},
		{name: "backup --compression=lz4", args: func(f *badInputFixture) []string { return f.backup("--compression=lz4") }, code: exitUsage, msgs: []string{"--compression must be one of", `"none","zstd"`}},
		{name: "backup --snapshot-method=fast", args: func(f *badInputFixture) []string { return f.backup("--snapshot-method=fast") }, code: exitUsage, msgs: []string{"--snapshot-method must be one of", `"stream","stored"`}},
		{name: "backup with an unknown flag", args: func(f *badInputFixture) []string { return f.backup("--concurency=2") }, code: exitUsage, msgs: []string{"--concurency", "--help"}},
		{name: "an unknown --log-level", args: func(f *badInputFixture) []string { return append([]string{"--log-level=loud"}, f.backup()...) }, code: exitUsage, msgs: []string{"--log-level must be one of", `"debug","info","warn","error"`}},

		// Cluster names and storage.
		{name: "an empty --cluster=", args: func(f *badInputFixture) []string { return f.backup("--cluster=") }, code: exitUsage, msgs: []string{"--cluster is empty", "--cluster=prod"}},
		{name: "a --cluster with spaces around it", args: func(f *badInputFixture) []string { return append(f.s3Args("list"), "--cluster= prod") }, code: exitUsage, msgs: []string{"leading or trailing spaces", "QBACKUP_CLUSTER"}},
		{name: "a --cluster too long for the catalog", args: func(f *badInputFixture) []string { return append(f.s3Args("list"), "--cluster="+long) }, code: exitUsage, msgs: []string{"300 bytes long", "shorter name"}},
		{name: "--s3-max-attempts=-1", args: func(f *badInputFixture) []string { return append(f.s3Args("list"), "--s3-max-attempts=-1") }, code: exitUsage, msgs: []string{"--s3-max-attempts -1", "at least 0"}},
		{name: "--s3-max-attempts=1000", args: func(f *badInputFixture) []string { return append(f.s3Args("list"), "--s3-max-attempts=1000") }, code: exitUsage, msgs: []string{"--s3-max-attempts 1000", "at most 20"}},
		{name: "an --s3-endpoint without a scheme", args: func(f *badInputFixture) []string { return append(f.s3Args("list"), "--s3-endpoint=minio:9000") }, code: exitUsage, msgs: []string{"--s3-endpoint", "http://minio:9000"}},
		{name: "credentials in --s3-endpoint", args: func(f *badInputFixture) []string {
			return append(f.s3Args("list"), "--s3-endpoint=http://AKIA:topsecret@minio:9000")
		}, code: exitUsage, msgs: []string{"--s3-endpoint", "AWS_ACCESS_KEY_ID"}},
		{name: "a bucket name with capitals and an underscore", args: args("list", "--storage=s3://My_Bucket/prod"), code: exitUsage, msgs: []string{`bucket name "My_Bucket"`, "lowercase letters"}},
		{name: "a bucket name too short", args: args("list", "--storage=s3://ab/prod"), code: exitUsage, msgs: []string{`bucket name "ab" is 2 characters long`, "3-63 characters"}},
		{name: "a bucket name ending in a hyphen", args: args("backup", "--storage=s3://backups-/prod", "--discovery=static", "--qdrant-url=http://127.0.0.1:1"), code: exitUsage, msgs: []string{`bucket name "backups-"`, "starting and ending with a letter or digit"}},
		{name: "a bucket name shaped like an IP address", args: args("list", "--storage=s3://10.0.0.1/prod"), code: exitUsage, msgs: []string{"is an IP address", "3-63 characters"}},
		{name: "an S3 prefix with ..", args: args("list", "--storage=s3://backups/a/../b"), code: exitUsage, msgs: []string{`prefix "a/../b"`, `".." path segment`}},
		{name: "an S3 URL without a bucket", args: args("list", "--storage=s3:///prod"), code: exitUsage, msgs: []string{"no bucket", "s3://bucket/prefix"}},
		{name: "a storage URL without a scheme", args: args("list", "--storage=backups/prod"), code: exitUsage, msgs: []string{`storage URL "backups/prod"`, "file:///abs/path"}},
		{name: "a storage URL with an unknown scheme", args: args("list", "--storage=ftp://host/backups"), code: exitUsage, msgs: []string{"scheme must be s3:// or file://"}},
		{name: "a relative file URL", args: args("list", "--storage=file:backups"), code: exitUsage, msgs: []string{"file path must be absolute", "file:///abs/path"}},
		{name: "a file URL with a host", args: args("list", "--storage=file://backups/prod"), code: exitUsage, msgs: []string{"file URLs take no host", "three slashes"}},
		{name: "an unclean file path", args: args("list", "--storage=file:///var/../etc"), code: exitUsage, msgs: []string{"must be clean"}},
		{name: "list on a mistyped file path", args: func(f *badInputFixture) []string { return []string{"list", "--storage=file://" + f.scratch + "/typo"} },
			code: exitUsage, msgs: []string{"no such directory (nothing was created)", "check --storage"}, absent: func(f *badInputFixture) string { return f.scratch + "/typo" }},
		{name: "describe on a mistyped file path", args: func(f *badInputFixture) []string {
			return []string{"describe", "latest", "--storage=file://" + f.scratch + "/typo/deeper"}
		},
			code: exitUsage, msgs: []string{"no such directory", "check --storage"}, absent: func(f *badInputFixture) string { return f.scratch + "/typo" }},
		{name: "verify on a mistyped file path", args: func(f *badInputFixture) []string {
			return []string{"verify", "latest", "--storage=file://" + f.scratch + "/typo"}
		},
			code: exitUsage, msgs: []string{"no such directory", "check --storage"}, absent: func(f *badInputFixture) string { return f.scratch + "/typo" }},
		{name: "prune on a mistyped file path", args: func(f *badInputFixture) []string { return []string{"prune", "--storage=file://" + f.scratch + "/typo"} },
			code: exitUsage, msgs: []string{"no such directory", "check --storage"}, absent: func(f *badInputFixture) string { return f.scratch + "/typo" }},
		{name: "restore from a mistyped file path", args: func(f *badInputFixture) []string {
			return append([]string{"restore", "latest", "--storage=file://" + f.scratch + "/typo"}, f.sim.discovery()...)
		}, code: exitUsage, msgs: []string{"no such directory", "check --storage"}, absent: func(f *badInputFixture) string { return f.scratch + "/typo" }},
		{name: "backup to a file instead of a directory", args: func(f *badInputFixture) []string {
			return append([]string{"backup", "--storage=file://" + f.afile}, f.sim.discovery()...)
		}, code: exitUsage, msgs: []string{"not a directory", "--storage"}},
		{name: "backup under a file", args: func(f *badInputFixture) []string {
			return append([]string{"backup", "--storage=file://" + f.afile + "/backups"}, f.sim.discovery()...)
		}, code: exitUsage, msgs: []string{"a parent of it is a file", "check --storage"}},
		{name: "a bare backup outside Kubernetes", args: func(f *badInputFixture) []string { return []string{"backup"} },
			env: func(f *badInputFixture) []string {
				return []string{"QBACKUP_STORAGE", "file://" + f.scratch + "/var/lib/qbackup"}
			},
			code: exitUsage, msgs: []string{"no Kubernetes configuration", "--kubeconfig", "--discovery=static"},
			absent: func(f *badInputFixture) string { return f.scratch + "/var" }},

		// Static peer URLs.
		{name: "the same peer twice", args: func(f *badInputFixture) []string {
			u := f.sim.staticURLs()
			return f.backupStatic(u[0], u[1], u[0])
		}, code: exitUsage, msgs: []string{"name the same peer", "give each peer once"}},
		{name: "credentials in a peer URL", args: func(f *badInputFixture) []string {
			return f.backupStatic(strings.Replace(f.sim.staticURLs()[0], "http://", "http://admin:hunter2@", 1))
		}, code: exitUsage, msgs: []string{"credentials do not belong in the URL", "QBACKUP_QDRANT_API_KEY"}},
		{name: "a peer URL with ?grpc=abc", args: func(f *badInputFixture) []string { return f.backupStatic("http://127.0.0.1:6333?grpc=abc") },
			code: exitUsage, msgs: []string{`grpc="abc" is neither a port nor host:port`}},
		{name: "a peer URL without a scheme", args: func(f *badInputFixture) []string { return f.backupStatic("127.0.0.1:6333") },
			code: exitUsage, msgs: []string{`static Qdrant URL "127.0.0.1:6333"`, "want http(s)://host"}},
		{name: "a peer URL with another scheme", args: func(f *badInputFixture) []string { return f.backupStatic("grpc://127.0.0.1:6334") },
			code: exitUsage, msgs: []string{"want http(s)://host"}},
		{name: "static discovery without URLs", args: func(f *badInputFixture) []string { return f.backupStatic() },
			code: exitUsage, msgs: []string{"--discovery=static needs at least one --qdrant-url", "--qdrant-url=http://"}},
		{name: "--qdrant-url without static discovery", args: func(f *badInputFixture) []string {
			return append(f.s3Args("backup"), "--qdrant-url="+f.sim.staticURLs()[0])
		}, code: exitUsage, msgs: []string{"--qdrant-url is only used with --discovery=static"}},
		{name: "https:// to peers that speak HTTP", args: func(f *badInputFixture) []string {
			var urls []string
			for _, u := range f.sim.staticURLs() {
				urls = append(urls, strings.Replace(u, "http://", "https://", 1))
			}
			return f.backupStatic(urls...)
		}, code: exitUsage, msgs: []string{"speaks HTTP", "use http://"}},

		// Secrets and the catalog.
		{name: "a wrong catalog password", args: func(f *badInputFixture) []string { return f.s3Args("list") },
			env: func(f *badInputFixture) []string {
				return []string{"QBACKUP_CATALOG_DSN", dsnWith(t, f.cat.dsn, func(c *mysql.Config) { c.Passwd = "not-the-password" })}
			}, code: exitUsage, msgs: []string{"refused user", "QBACKUP_CATALOG_DSN"}},
		{name: "a catalog database that does not exist", args: func(f *badInputFixture) []string { return f.backup() },
			env: func(f *badInputFixture) []string {
				return []string{"QBACKUP_CATALOG_DSN", dsnWith(t, f.cat.dsn, func(c *mysql.Config) { c.DBName = "qbackup_no_such_db" })}
			}, code: exitUsage, msgs: []string{`catalog database "qbackup_no_such_db" does not exist`, "fix QBACKUP_CATALOG_DSN"}},
		{name: "a catalog DSN that does not parse", args: func(f *badInputFixture) []string { return f.s3Args("list") },
			env: func(f *badInputFixture) []string {
				return []string{"QBACKUP_CATALOG_DSN", "qbackup:pw@tcp(127.0.0.1:3306"}
			},
			code: exitUsage, msgs: []string{"catalog DSN", "user:password@tcp(host:port)/db"}},
		{name: "both forms of the DSN", args: func(f *badInputFixture) []string { return f.s3Args("list") },
			env:  func(f *badInputFixture) []string { return []string{"QBACKUP_CATALOG_DSN_FILE", f.afile} },
			code: exitUsage, msgs: []string{"both QBACKUP_CATALOG_DSN and QBACKUP_CATALOG_DSN_FILE are set", "keep one"}},
		{name: "an API key file that does not exist", args: func(f *badInputFixture) []string { return f.backup() },
			env: func(f *badInputFixture) []string {
				return []string{"QBACKUP_QDRANT_API_KEY_FILE", f.scratch + "/no-key"}
			},
			code: exitUsage, msgs: []string{"read QBACKUP_QDRANT_API_KEY_FILE", "no such file"}},
		{name: "catalog sync without a DSN", args: func(f *badInputFixture) []string { return f.s3Args("catalog", "sync") },
			env: func(f *badInputFixture) []string { return []string{"QBACKUP_CATALOG_DSN", ""} }, code: exitUsage, msgs: []string{"catalog sync needs QBACKUP_CATALOG_DSN"}},
		{name: "an unknown collection to back up", args: func(f *badInputFixture) []string { return f.backup("--collections=docs,nope") },
			code: exitUsage, msgs: []string{"unknown collection", `"nope"`}},

		// Restore options.
		{name: "restore without a backup", args: func(f *badInputFixture) []string { return f.restore("") }, code: exitUsage, msgs: []string{"name the backup to restore", "or latest"}},
		{name: "restore --shards=0", args: func(f *badInputFixture) []string { return f.restore("latest", "--shards=0") }, code: exitUsage, msgs: []string{"--shards 0", "must be 1 to 1000", "leave it out"}},
		{name: "restore --shards=100000", args: func(f *badInputFixture) []string { return f.restore("latest", "--shards=100000") }, code: exitUsage, msgs: []string{"--shards 100000", "must be 1 to 1000"}},
		{name: "restore --shards=-1", args: func(f *badInputFixture) []string { return f.restore("latest", "--shards=-1") }, code: exitUsage, msgs: []string{"--shards", "-1"}},
		{name: "restore --replication-factor=0", args: func(f *badInputFixture) []string { return f.restore("latest", "--replication-factor=0") }, code: exitUsage, msgs: []string{"--replication-factor 0", "at least 1"}},
		{name: "restore --parallel=0", args: func(f *badInputFixture) []string { return f.restore("latest", "--parallel=0") }, code: exitUsage, msgs: []string{"--parallel 0", "at least 1"}},
		{name: "restore --parallel=1000", args: func(f *badInputFixture) []string { return f.restore("latest", "--parallel=1000") }, code: exitUsage, msgs: []string{"--parallel 1000", "at most 64"}},
		{name: "restore --wait-timeout=0s", args: func(f *badInputFixture) []string { return f.restore("latest", "--wait-timeout=0s") }, code: exitUsage, msgs: []string{"--wait-timeout 0s", "at least 1s"}},
		{name: "restore --transfer-timeout=-1s", args: func(f *badInputFixture) []string { return f.restore("latest", "--transfer-timeout=-1s") }, code: exitUsage, msgs: []string{"--transfer-timeout -1s", "at least 1s"}},
		{name: "restore --lease-ttl=0s", args: func(f *badInputFixture) []string { return f.restore("latest", "--lease-ttl=0s") }, code: exitUsage, msgs: []string{"--lease-ttl 0s", "at least 1s"}},
		{name: "restore --plan=sideways", args: func(f *badInputFixture) []string { return f.restore("latest", "--plan=sideways") }, code: exitUsage, msgs: []string{"--plan must be one of", `"auto","direct","consolidate","redistribute"`}},
		{name: "a rename suffix with a slash", args: func(f *badInputFixture) []string { return f.restore("latest", "--rename=_drill/1") }, code: exitUsage, msgs: []string{`--rename suffix "_drill/1"`, "Qdrant does not allow"}},
		{name: "a rename target of 300 characters", args: func(f *badInputFixture) []string { return f.restore("latest", "--rename=docs="+long) }, code: exitUsage, msgs: []string{"300 characters long", "at most 255"}},
		{name: "a rename target with a colon", args: func(f *badInputFixture) []string { return f.restore("latest", "--rename=docs=docs:copy") }, code: exitUsage, msgs: []string{"contains ':'", "Qdrant does not allow"}},
		{name: "a rename suffix that makes a name too long", args: func(f *badInputFixture) []string { return f.restore("latest", "--rename=_"+strings.Repeat("s", 251)) },
			code: exitUsage, msgs: []string{`collection "docs" would be restored as an invalid name`, "at most 255", "choose another --rename"}},
		{name: "an empty rename", args: func(f *badInputFixture) []string { return f.restore("latest", "--rename=docs=") }, code: exitUsage, msgs: []string{"want old=new with both names"}},
		{name: "restore of something that is not a backup id", args: func(f *badInputFixture) []string { return f.restore("yesterday") }, code: exitUsage, msgs: []string{`"yesterday" is not a backup id`, "or latest"}},
		{name: "restore of a backup that does not exist", args: func(f *badInputFixture) []string { return f.restore("20990101T000000Z-abcd") }, code: exitUsage, msgs: []string{"no manifest", "qbackup list"}},

		// Unreadable manifests: the same exit code by id and as latest.
		{name: "restore ID of a truncated manifest", args: func(f *badInputFixture) []string {
			return append(f.onFile(f.trunc, "restore", f.fileID), f.sim.discovery()...)
		}, noCatalog: true, code: exitCorrupt, msgs: []string{"manifest corrupt", "truncated", "restore another set"}},
		{name: "restore latest with a truncated manifest", args: func(f *badInputFixture) []string {
			return append(f.onFile(f.trunc, "restore", "latest"), f.sim.discovery()...)
		}, noCatalog: true, code: exitCorrupt, msgs: []string{"manifest corrupt", "truncated"}},
		{name: "describe of a truncated manifest", args: func(f *badInputFixture) []string { return f.onFile(f.trunc, "describe", f.fileID) }, noCatalog: true, code: exitCorrupt, msgs: []string{"manifest corrupt"}},
		{name: "verify latest with a truncated manifest", args: func(f *badInputFixture) []string { return f.onFile(f.trunc, "verify", "latest") }, noCatalog: true, code: exitCorrupt, msgs: []string{"manifest corrupt"}},
		{name: "restore ID of a manifest missing a shard", args: func(f *badInputFixture) []string {
			return append(f.onFile(f.gap, "restore", f.fileID), f.sim.discovery()...)
		}, noCatalog: true, code: exitCorrupt, msgs: []string{"manifest corrupt", "1 shard objects for shard_number 2"}},
		{name: "restore latest with a manifest missing a shard", args: func(f *badInputFixture) []string {
			return append(f.onFile(f.gap, "restore", "latest"), f.sim.discovery()...)
		}, noCatalog: true, code: exitCorrupt, msgs: []string{"manifest corrupt", "1 shard objects for shard_number 2"}},
		// list shows an unreadable set as one row and goes on (exit 0),
		// with a warning naming it.
		{name: "list with a manifest missing a shard", args: func(f *badInputFixture) []string { return f.onFile(f.gap, "list") }, noCatalog: true, code: exitOK, msgs: []string{"backup manifest cannot be read", "1 shard objects for shard_number 2"}},

		// The kubectl plugin.
		{name: "plugin backup --from a deployment", plugin: true, args: args("backup", "--from=deployment/qbackup"), code: exitUsage, msgs: []string{`--from "deployment/qbackup"`, "cronjob/qbackup"}},
		{name: "plugin restore without a backup", plugin: true, args: args("restore"), code: exitUsage, msgs: []string{"name the backup to restore", "kubectl qbackup list"}},
		{name: "plugin restore --plan=sideways", plugin: true, args: args("restore", "latest", "--plan=sideways"), code: exitUsage, msgs: []string{"--plan"}},
		{name: "plugin restore with a rename suffix with a slash", plugin: true, args: args("restore", "latest", "--rename=a/b"), code: exitUsage, msgs: []string{`--rename suffix "a/b"`, "Qdrant does not allow"}},
		{name: "plugin restore from an invalid bucket", plugin: true, args: args("restore", "latest", "--storage=s3://Backups/prod"), code: exitUsage, msgs: []string{`bucket name "Backups"`, "lowercase letters"}},
		{name: "plugin list with an empty --qdrant-cluster", plugin: true, args: func(f *badInputFixture) []string { return append(f.pluginS3Args("list"), "--qdrant-cluster=") }, code: exitUsage, msgs: []string{"--qdrant-cluster is empty"}},
		{name: "plugin list with a negative --request-timeout", plugin: true, args: func(f *badInputFixture) []string { return append(f.pluginS3Args("list"), "--request-timeout=-5s") }, code: exitUsage, msgs: []string{"--request-timeout -5s is negative", "30s"}},
		{name: "plugin list on a mistyped file path", plugin: true, args: func(f *badInputFixture) []string { return []string{"list", "--storage=file://" + f.scratch + "/typo"} },
			code: exitUsage, msgs: []string{"no such directory (nothing was created)"}, absent: func(f *badInputFixture) string { return f.scratch + "/typo" }},
		{name: "plugin list with a wrong catalog password", plugin: true, args: func(f *badInputFixture) []string { return f.pluginS3Args("list") },
			env: func(f *badInputFixture) []string {
				return []string{"QBACKUP_CATALOG_DSN", dsnWith(t, f.cat.dsn, func(c *mysql.Config) { c.Passwd = "not-the-password" })}
			}, code: exitUsage, msgs: []string{"refused user", "QBACKUP_CATALOG_DSN"}},
		{name: "plugin list -o csv", plugin: true, args: func(f *badInputFixture) []string { return append(f.pluginS3Args("list"), "-o", "csv") }, code: exitUsage, msgs: []string{"--output must be one of", `"table","wide","name","json","yaml"`}},
		{name: "plugin list with a truncated manifest", plugin: true, args: func(f *badInputFixture) []string { return f.pluginOnFile(f.trunc, "list") }, noCatalog: true, code: exitOK, msgs: []string{"cannot be read", "manifest corrupt"}},
	}
}

// TestBadInputChangesNothing runs each bad input once against the same
// storage, catalog and cluster, and checks the exit code, that the
// message names the problem and the fix, that no secret shows, and that
// all three are byte-for-byte as before (a fingerprint before and after).
func TestBadInputChangesNothing(t *testing.T) {
	f := newBadInputFixture(t)
	before := f.fingerprint(t)
	cases := badInputCases(t)
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			qb := f.qb
			if tc.noCatalog {
				qb = qb.with("QBACKUP_CATALOG_DSN", "")
			}
			if tc.env != nil {
				qb = qb.with(tc.env(f)...)
			}
			if tc.plugin {
				qb = qb.plugin(t)
			}
			r := qb.run(t, tc.args(f)...)
			expect(t, r, tc.code, tc.msgs...)
			for _, secret := range []string{f.s3.env_.SecretKey, "topsecret", "hunter2", "not-the-password", ":pw@"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("a secret shows in the output:\n%s", r)
				}
			}
			if tc.absent != nil {
				if _, err := os.Stat(tc.absent(f)); err == nil {
					t.Errorf("%s was created", tc.absent(f))
				}
			}
			if after := f.fingerprint(t); after != before {
				t.Fatalf("storage, catalog or cluster changed:\n%s", firstDiff(before, after))
			}
		})
	}
}

// firstDiff shows the first differing line of two fingerprints.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d before: %.300s\nline %d after:  %.300s", i+1, x, i+1, y)
		}
	}
	return "(same lines)"
}
