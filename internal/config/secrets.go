package config

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/qbackup/qbackup/internal/crypt"
)

// Secrets are the credentials qbackup needs besides the S3 ones, which come
// from the AWS default credential chain.
type Secrets struct {
	QdrantAPIKey     string `env:"QBACKUP_QDRANT_API_KEY"`
	QdrantAPIKeyFile string `env:"QBACKUP_QDRANT_API_KEY_FILE"`
	CatalogDSN       string `env:"QBACKUP_CATALOG_DSN"`
	CatalogDSNFile   string `env:"QBACKUP_CATALOG_DSN_FILE"`
	SSECustomerB64   string `env:"QBACKUP_S3_SSE_C_KEY"`
	SSECustomerFile  string `env:"QBACKUP_S3_SSE_C_KEY_FILE"`
	// AgeIdentity is the age identity text (secret keys, as age-keygen
	// writes them) that decrypts client-side encrypted sets.
	AgeIdentity     string `env:"QBACKUP_AGE_IDENTITY"`
	AgeIdentityFile string `env:"QBACKUP_AGE_IDENTITY_FILE"`

	// SSECustomerKey is the decoded SSE-C key (32 bytes), nil without one.
	SSECustomerKey []byte
	// Identities are the parsed age identities, nil without.
	Identities *crypt.Identities
}

// LoadSecrets reads the secrets from l (the process environment when nil).
// A *_FILE variable names a file whose content (trailing newline trimmed) is
// the secret; setting both forms of one secret is an error, because which
// one wins would be a guess.
func LoadSecrets(ctx context.Context, l envconfig.Lookuper) (Secrets, error) {
	if l == nil {
		l = envconfig.OsLookuper()
	}
	var s Secrets
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &s, Lookuper: l}); err != nil {
		return Secrets{}, fmt.Errorf("read secrets from the environment: %w", err)
	}
	var err error
	if s.QdrantAPIKey, err = fromFile("QBACKUP_QDRANT_API_KEY", s.QdrantAPIKey, s.QdrantAPIKeyFile); err != nil {
		return Secrets{}, err
	}
	if s.CatalogDSN, err = fromFile("QBACKUP_CATALOG_DSN", s.CatalogDSN, s.CatalogDSNFile); err != nil {
		return Secrets{}, err
	}
	if s.SSECustomerB64, err = fromFile("QBACKUP_S3_SSE_C_KEY", s.SSECustomerB64, s.SSECustomerFile); err != nil {
		return Secrets{}, err
	}
	if s.SSECustomerKey, err = SSECustomerKey(s.SSECustomerB64); err != nil {
		return Secrets{}, err
	}
	if s.AgeIdentity, err = fromFile("QBACKUP_AGE_IDENTITY", s.AgeIdentity, s.AgeIdentityFile); err != nil {
		return Secrets{}, err
	}
	if s.AgeIdentity != "" {
		src := "QBACKUP_AGE_IDENTITY"
		if s.AgeIdentityFile != "" {
			src = "QBACKUP_AGE_IDENTITY_FILE " + s.AgeIdentityFile
		}
		// The parser's errors name a line number, never its content.
		if s.Identities, err = crypt.ParseIdentities(s.AgeIdentity); err != nil {
			return Secrets{}, Invalidf("%s: %w", src, err)
		}
	}
	return s, nil
}

// SSECustomerKey decodes the SSE-C key: standard base64 of exactly 32
// bytes (AES-256), as S3 takes it. Nothing of the value appears in an
// error, not even its length in characters.
func SSECustomerKey(b64 string) ([]byte, error) {
	if b64 == "" {
		return nil, nil
	}
	const fix = "it must be the standard base64 of 32 random bytes, e.g. from openssl rand -base64 32"
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, Invalidf("QBACKUP_S3_SSE_C_KEY is not valid base64: %s", fix)
	}
	if len(key) != 32 {
		return nil, Invalidf("QBACKUP_S3_SSE_C_KEY decodes to %d bytes: %s", len(key), fix)
	}
	return key, nil
}

func fromFile(name, value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", Invalidf("both %s and %s_FILE are set: keep one", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", Invalidf("read %s_FILE: %w", name, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", Invalidf("%s_FILE %s is empty", name, file)
	}
	return v, nil
}
