package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Catalog is a connection pool to the catalog database. It is safe for
// concurrent use.
type Catalog struct {
	db      *sql.DB
	addr    string
	retry   retryPolicy
	timeout time.Duration // per statement, retries included
	log     *slog.Logger
	// location scopes the backups rows (see At); "" sees them all.
	location string
}

// DefaultTimeout bounds one catalog statement, its retries included,
// when WithTimeout is not given.
const DefaultTimeout = 30 * time.Second

// Option adjusts Open.
type Option func(*options)

type options struct {
	pingTimeout time.Duration
	dialTimeout time.Duration
	timeout     time.Duration
	maxOpen     int
	retry       retryPolicy
	log         *slog.Logger
}

// WithPingTimeout bounds how long Open waits for the server (default 10s).
func WithPingTimeout(d time.Duration) Option { return func(o *options) { o.pingTimeout = d } }

// WithTimeout bounds every statement, its retries included (default
// DefaultTimeout; 0 keeps it): a catalog that stops answering fails the
// statement with an error matching ErrTimeout that names the server. It
// is also the driver's read and write timeout (readTimeout, writeTimeout)
// unless the DSN sets them.
func WithTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithMaxOpenConns caps the connection pool (default 8). A backup keeps one
// connection for its lease renewals and uses the others for bookkeeping.
func WithMaxOpenConns(n int) Option { return func(o *options) { o.maxOpen = n } }

// WithRetry sets how many times a transient failure is tried in all and the
// first backoff (doubling up to 2s). attempts 1 disables retries.
func WithRetry(attempts int, base time.Duration) Option {
	return func(o *options) { o.retry.attempts, o.retry.base = attempts, base }
}

// WithLogger receives retry notices and the driver's own messages.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Open connects to the catalog named by dsn, in go-sql-driver/mysql form
// (user:password@tcp(host:port)/db?params), and checks that the server
// answers. It does not migrate; see Migrate and CheckSchema.
//
// Whatever the DSN says, times are parsed into time.Time in UTC: every
// DATETIME column holds UTC.
func Open(ctx context.Context, dsn string, opts ...Option) (*Catalog, error) {
	o := options{
		pingTimeout: 10 * time.Second,
		dialTimeout: 5 * time.Second,
		timeout:     DefaultTimeout,
		maxOpen:     8,
		retry:       defaultRetryPolicy(),
		log:         slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Timeout == 0 {
		cfg.Timeout = o.dialTimeout
	}
	// Without these the driver waits on a silent server as long as the
	// kernel keeps the connection (minutes); the context deadline of each
	// statement bounds the whole, these each read and write of a packet.
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = o.timeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = o.timeout
	}
	cfg.Logger = driverLogger{o.log}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, &DSNError{Reason: redact(err.Error(), dsn, cfg.Passwd)}
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(o.maxOpen)
	db.SetMaxIdleConns(max(o.maxOpen/2, 1))
	// Proxies and TiDB's load balancers close idle connections; recycling
	// them first avoids a burst of bad-connection retries after a quiet spell.
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)

	c := &Catalog{db: db, addr: describeAddr(cfg), retry: o.retry, timeout: min(o.timeout, o.pingTimeout), log: o.log}
	err = c.withRetry(ctx, db.PingContext)
	c.timeout = o.timeout
	if err == nil {
		return c, nil
	}
	_ = db.Close()
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1045: // access denied for user
			return nil, fmt.Errorf("catalog at %s refused user %q (check the user and password in QBACKUP_CATALOG_DSN): %w: %w", c.addr, cfg.User, ErrRefused, err)
		case 1044: // access denied to database
			return nil, fmt.Errorf("catalog at %s: user %q may not use database %q (grant it, or fix the database in QBACKUP_CATALOG_DSN): %w: %w", c.addr, cfg.User, cfg.DBName, ErrRefused, err)
		case 1049: // unknown database
			return nil, fmt.Errorf("catalog database %q does not exist at %s (fix QBACKUP_CATALOG_DSN, or create it and run qbackup catalog migrate): %w: %w", cfg.DBName, c.addr, ErrRefused, err)
		}
	}
	return nil, &UnreachableError{Addr: c.addr, Err: redactedError{err, redact(err.Error(), dsn, cfg.Passwd)}}
}

// At returns the catalog scoped to one storage location, the canonical
// URL of a store without credentials: the sets it records carry that
// location, and it lists, finds, verifies and deletes only the rows of
// that location (and rows recorded before locations were kept, which have
// none). Stores sharing one catalog and cluster name thus keep their sets
// apart. The copy shares the connection pool; close either, once.
func (c *Catalog) At(location string) *Catalog {
	cp := *c
	cp.location = location
	return &cp
}

// Location is the storage location the catalog is scoped to, "" for none.
func (c *Catalog) Location() string { return c.location }

// Close closes the connection pool.
func (c *Catalog) Close() error { return c.db.Close() }

// Addr is the server address, for messages.
func (c *Catalog) Addr() string { return c.addr }

// urlScheme matches DSNs written as URLs (mysql://...), a common mistake.
var urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// parseDSN parses dsn and checks the parts qbackup needs. Driver messages are
// passed on with anything that looks like the password removed.
func parseDSN(dsn string) (*mysql.Config, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, &DSNError{Reason: "empty"}
	}
	if m := urlScheme.FindStringSubmatch(dsn); m != nil {
		return nil, &DSNError{Reason: fmt.Sprintf("a URL (%s://...) is not a driver DSN", m[1])}
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, &DSNError{Reason: redact(err.Error(), dsn, "")}
	}
	switch cfg.Net {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, &DSNError{Reason: fmt.Sprintf("network %q is not tcp or unix", redact(cfg.Net, dsn, cfg.Passwd))}
	}
	if cfg.DBName == "" {
		return nil, &DSNError{Reason: "no database name"}
	}
	if cfg.User == "" {
		return nil, &DSNError{Reason: "no user"}
	}
	return cfg, nil
}

func describeAddr(cfg *mysql.Config) string {
	if cfg.Net == "unix" {
		return "unix socket " + cfg.Addr
	}
	return cfg.Addr
}

// redact removes the password from a message. When the DSN did not parse,
// the password is guessed the way the driver splits a DSN: after the first
// ':' and before the last '@'.
func redact(msg, dsn, passwd string) string {
	secrets := []string{passwd}
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		if colon := strings.Index(dsn[:at], ":"); colon >= 0 {
			guess := dsn[colon+1 : at]
			secrets = append(secrets, guess)
			// A password holding '/' or '@' confuses the split; hide its
			// pieces too.
			secrets = append(secrets, strings.FieldsFunc(guess, func(r rune) bool { return r == '/' || r == '@' })...)
		}
	}
	for _, s := range secrets {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	return msg
}

// redactedError keeps the driver's error for errors.Is/As while replacing
// its text.
type redactedError struct {
	err error
	msg string
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// driverLogger routes go-sql-driver/mysql's own messages (dropped
// connections and the like) to slog at debug level instead of stderr.
type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Print(v ...any) { l.log.Debug("catalog driver: " + fmt.Sprint(v...)) }
