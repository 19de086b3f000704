package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/sethvargo/go-envconfig"
)

func TestLoadSecrets(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantKey string
		wantDSN string
		wantErr string
	}{
		{name: "values come from plain variables", env: map[string]string{"QBACKUP_QDRANT_API_KEY": "k", "QBACKUP_CATALOG_DSN": "u:p@tcp(h:1)/db"}, wantKey: "k", wantDSN: "u:p@tcp(h:1)/db"},
		{name: "a file variable is read and its newline trimmed", env: map[string]string{"QBACKUP_QDRANT_API_KEY_FILE": keyFile}, wantKey: "from-file"},
		{name: "nothing set is fine", env: map[string]string{}},
		{name: "both forms set is refused", env: map[string]string{"QBACKUP_QDRANT_API_KEY": "k", "QBACKUP_QDRANT_API_KEY_FILE": keyFile}, wantErr: "keep one"},
		{name: "a missing file is refused", env: map[string]string{"QBACKUP_CATALOG_DSN_FILE": filepath.Join(dir, "nope")}, wantErr: "read QBACKUP_CATALOG_DSN_FILE"},
		{name: "an empty file is refused", env: map[string]string{"QBACKUP_CATALOG_DSN_FILE": empty}, wantErr: "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadSecrets(context.Background(), envconfig.MapLookuper(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("got %v, want an invalid-input error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.QdrantAPIKey != tt.wantKey || s.CatalogDSN != tt.wantDSN {
				t.Fatalf("got key %q dsn %q", s.QdrantAPIKey, s.CatalogDSN)
			}
		})
	}
}

func TestLoadSecretsAgeIdentity(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "age.key")
	if err := os.WriteFile(keyFile, []byte("# created by age-keygen\n# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory cannot be read as a file, not even by root (a mode of
	// 0 would be).
	unreadable := filepath.Join(dir, "a-directory")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	broken := id.String()[:40] + "QQQQ" + id.String()[44:]
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "the identity text", env: map[string]string{"QBACKUP_AGE_IDENTITY": id.String()}},
		{name: "the file age-keygen writes", env: map[string]string{"QBACKUP_AGE_IDENTITY_FILE": keyFile}},
		{name: "a missing file", env: map[string]string{"QBACKUP_AGE_IDENTITY_FILE": filepath.Join(dir, "nope")}, wantErr: "read QBACKUP_AGE_IDENTITY_FILE"},
		{name: "an unreadable file", env: map[string]string{"QBACKUP_AGE_IDENTITY_FILE": unreadable}, wantErr: "read QBACKUP_AGE_IDENTITY_FILE"},
		{name: "both forms", env: map[string]string{"QBACKUP_AGE_IDENTITY": id.String(), "QBACKUP_AGE_IDENTITY_FILE": keyFile}, wantErr: "keep one"},
		{name: "a damaged key", env: map[string]string{"QBACKUP_AGE_IDENTITY": broken}, wantErr: "QBACKUP_AGE_IDENTITY: line 1 is not an age X25519 secret key"},
		{name: "a public key where the secret goes", env: map[string]string{"QBACKUP_AGE_IDENTITY": id.Recipient().String()}, wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadSecrets(context.Background(), envconfig.MapLookuper(tt.env))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := s.Identities.Keys(); len(got) != 1 || got[0] != id.Recipient().String() {
					t.Fatalf("identities open %v, want %s", got, id.Recipient().String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("got %v, want an invalid-input error mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), id.String()[16:40]) || strings.Contains(err.Error(), broken[16:40]) {
				t.Fatalf("the error holds the secret key: %v", err)
			}
		})
	}
}
