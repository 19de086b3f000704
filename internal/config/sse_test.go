package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestStorageEncryption(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	keyB64 := base64.StdEncoding.EncodeToString(key)
	s3 := Source{Storage: "s3://backups/prod", S3Endpoint: "https://minio:9000"}
	with := func(f func(*Source)) Source { s := s3; f(&s); return s }
	tests := []struct {
		name     string
		src      Source
		sec      Secrets
		wantMode string
		wantKey  bool
		want     string // non-empty: refused with a message containing it
	}{
		{name: "nothing asked is no encryption", src: s3},
		{name: "SSE-S3", src: with(func(s *Source) { s.S3SSE = "AES256" }), wantMode: "AES256"},
		{name: "SSE-KMS with a key id", src: with(func(s *Source) { s.S3SSE, s.S3SSEKMSKeyID = "aws:kms", "backups" }), wantMode: "aws:kms"},
		{name: "SSE-C from the secret", src: s3, sec: Secrets{SSECustomerKey: key}, wantKey: true},
		{name: "an unknown mode", src: with(func(s *Source) { s.S3SSE = "aes256" }), want: `--s3-sse "aes256" (QBACKUP_S3_SSE): use AES256`},
		{name: "a KMS key id without aws:kms", src: with(func(s *Source) { s.S3SSE, s.S3SSEKMSKeyID = "AES256", "k" }), want: "only applies to --s3-sse=aws:kms"},
		{name: "SSE on a file store", src: Source{Storage: "file:///b", S3SSE: "AES256"}, want: "applies to s3:// storage only"},
		{name: "SSE-C and SSE-S3 together", src: with(func(s *Source) { s.S3SSE = "AES256" }), sec: Secrets{SSECustomerKey: key}, want: "keep one"},
		{name: "SSE-C on a file store", src: Source{Storage: "file:///b"}, sec: Secrets{SSECustomerKey: key}, want: "SSE-C applies to s3:// storage only"},
		{name: "SSE-C over plain http", src: with(func(s *Source) { s.S3Endpoint = "http://minio:9000" }), sec: Secrets{SSECustomerKey: key}, want: "over https only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := StorageEncryption(tt.src, tt.sec)
			if tt.want != "" {
				if err == nil || !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %+v, %v; want an invalid-input error saying %q", enc, err, tt.want)
				}
				if strings.Contains(err.Error(), keyB64) {
					t.Fatalf("the error shows the key: %v", err)
				}
				if tt.src.Validate() == nil && tt.sec.SSECustomerKey == nil {
					t.Fatalf("Source.Validate accepted what StorageEncryption refuses")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if enc.Mode != tt.wantMode || (enc.CustomerKey != nil) != tt.wantKey {
				t.Fatalf("got %+v, want mode %q, customer key %v", enc, tt.wantMode, tt.wantKey)
			}
		})
	}
}

func TestSSECustomerKey(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 32))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 16))
	tests := []struct {
		name, in, want string
	}{
		{name: "32 bytes in base64", in: good},
		{name: "a trailing newline of a file is fine", in: good + "\n"},
		{name: "16 bytes is too short", in: short, want: "decodes to 16 bytes"},
		{name: "hex is not base64", in: strings.Repeat("ab", 32) + "!", want: "not valid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := SSECustomerKey(tt.in)
			if tt.want != "" {
				if err == nil || !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "QBACKUP_S3_SSE_C_KEY") {
					t.Fatalf("got %v, want an invalid-input error naming QBACKUP_S3_SSE_C_KEY and saying %q", err, tt.want)
				}
				if strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Fatalf("the error shows the value: %v", err)
				}
				return
			}
			if err != nil || len(key) != 32 || key[0] != 0xab {
				t.Fatalf("got %x, %v", key, err)
			}
		})
	}
}

func TestObjectLockFlags(t *testing.T) {
	tests := []struct {
		name, mode string
		days       int
		storage    string
		want       string // "" when accepted
	}{
		{name: "no lock", storage: "file:///b"},
		{name: "governance for 30 days", mode: "GOVERNANCE", days: 30, storage: "s3://b/p"},
		{name: "compliance for a day", mode: "COMPLIANCE", days: 1, storage: "s3://b/p"},
		{name: "days without a mode", days: 7, storage: "s3://b/p", want: "needs --object-lock-mode"},
		{name: "a mode in lower case", mode: "governance", days: 7, storage: "s3://b/p", want: `--object-lock-mode "governance"`},
		{name: "a mode without days", mode: "COMPLIANCE", storage: "s3://b/p", want: "needs 1 to 36500 days"},
		{name: "a century and a day", mode: "COMPLIANCE", days: 36501, storage: "s3://b/p", want: "needs 1 to 36500 days"},
		{name: "a file store", mode: "GOVERNANCE", days: 1, storage: "file:///b", want: "needs s3:// storage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ObjectLock(tt.mode, tt.days, tt.storage)()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an invalid-input error saying %q", err, tt.want)
			}
		})
	}
}
