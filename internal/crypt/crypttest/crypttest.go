// Package crypttest makes age keys for tests: one helper instead of a
// copy in every package whose tests encrypt.
package crypttest

import (
	"testing"

	"filippo.io/age"

	"github.com/qbackup/qbackup/internal/crypt"
)

// Key makes a fresh X25519 key: the recipients a backup encrypts to, the
// identities that open it, and the public key as text.
func Key(t testing.TB) (*crypt.Recipients, *crypt.Identities, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	r, err := crypt.ParseRecipients([]string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := crypt.ParseIdentities(id.String())
	if err != nil {
		t.Fatal(err)
	}
	return r, ids, id.Recipient().String()
}
