package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
