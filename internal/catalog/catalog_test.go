package catalog

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

const testPassword = "hunter2-s3cret"

func TestOpenRejectsABadDSNWithoutShowingThePassword(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
		want string
	}{
		{"an empty DSN", "", "empty"},
		{"a DSN without a database part", "qb:" + testPassword + "@tcp(db:4000)", "missing the slash"},
		{"a URL instead of a driver DSN", "mysql://qb:" + testPassword + "@db:4000/qbackup", "a URL (mysql://...)"},
		{"an unterminated address", "qb:" + testPassword + "@tcp(db:4000/qbackup", "network address not terminated"},
		{"no database name", "qb:" + testPassword + "@tcp(db:4000)/", "no database name"},
		{"no user", "tcp(db:4000)/qbackup", "no user"},
		{"an unknown network", "qb:" + testPassword + "@carrier(pigeon)/qbackup", `network "carrier" is not tcp or unix`},
		{"a bad parameter value", "qb:" + testPassword + "@tcp(db:4000)/qbackup?parseTime=perhaps", "invalid bool value"},
		{"a password with a slash and no database", "qb:hunter2/" + testPassword + "@tcp(db:4000)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Open(context.Background(), tt.dsn)
			if err == nil {
				c.Close()
				t.Fatal("Open accepted it")
			}
			if !errors.Is(err, ErrInvalidDSN) {
				t.Errorf("err = %v, want ErrInvalidDSN", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "catalog DSN: ") || !strings.HasSuffix(msg, "(expected user:password@tcp(host:port)/db in QBACKUP_CATALOG_DSN)") {
				t.Errorf("message %q lacks the prefix or the expected form", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not say %q", msg, tt.want)
			}
			if strings.Contains(msg, testPassword) || strings.Contains(msg, "hunter2") {
				t.Errorf("message shows the password: %q", msg)
			}
		})
	}
}

func TestOpenReportsAnUnreachableServerByAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	start := time.Now()
	_, err = Open(context.Background(), "qb:"+testPassword+"@tcp("+addr+")/qbackup",
		WithPingTimeout(3*time.Second), WithRetry(2, time.Millisecond))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "catalog unreachable at "+addr+": ") {
		t.Errorf("message %q does not start with the address", msg)
	}
	if strings.Contains(msg, testPassword) {
		t.Errorf("message shows the password: %q", msg)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s to report a closed port", d)
	}
}

func TestOpenGivesUpOnASilentServerAfterThePingTimeout(t *testing.T) {
	// A listener that accepts and never speaks: the handshake never starts.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, err = Open(context.Background(), "qb:"+testPassword+"@tcp("+l.Addr().String()+")/qbackup",
		WithPingTimeout(300*time.Millisecond))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s despite a 300ms ping timeout", d)
	}
}

func TestLockHeldErrorNamesHolderAndTimes(t *testing.T) {
	since := time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC)
	err := error(&LockHeldError{Name: "cluster/prod", Holder: "job-abc", Since: since, Expires: since.Add(5 * time.Minute)})
	want := "another run holds the lock cluster/prod since 2026-11-25T13:30:00Z (holder job-abc, expires 2026-11-25T13:35:00Z)"
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err.Error(), want)
	}
	if !errors.Is(err, ErrLockHeld) {
		t.Error("errors.Is(err, ErrLockHeld) is false")
	}
	var held *LockHeldError
	if !errors.As(err, &held) || held.Holder != "job-abc" {
		t.Error("errors.As does not give the holder")
	}
}

func TestClipKeepsTextShortOnARuneBoundary(t *testing.T) {
	long := strings.Repeat("é", maxText) // 2 bytes each
	got := clip(long)
	if len(got) > maxText+len("…") {
		t.Errorf("clipped to %d bytes", len(got))
	}
	if !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("clip broke a rune or lost the marker")
	}
	if clip("short") != "short" {
		t.Error("clip changed a short text")
	}
}
