package manifest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

const idTimeFormat = "20060102T150405Z"

var idPattern = regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{4}$`)

// NewBackupID returns an id like 20261125T133000Z-3f9c: ids sort by start
// time, and the random suffix keeps two sets started in the same second
// apart.
func NewBackupID(t time.Time) string {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("read random bytes: %v", err))
	}
	return t.UTC().Format(idTimeFormat) + "-" + hex.EncodeToString(b[:])
}

// IsBackupID reports whether s has the form NewBackupID produces.
func IsBackupID(s string) bool { return idPattern.MatchString(s) }

// BackupIDTime is the start time encoded in a backup id.
func BackupIDTime(id string) (time.Time, error) {
	if !IsBackupID(id) {
		return time.Time{}, fmt.Errorf("%q is not a backup id (want e.g. 20261125T133000Z-3f9c)", id)
	}
	return time.Parse(idTimeFormat, id[:len(idTimeFormat)])
}
