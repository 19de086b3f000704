package storage

import (
	"crypto/md5" //nolint:gosec // S3 itself wants the MD5 of the SSE-C key, as an integrity check of the header
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Server-side encryption modes of Encryption.Mode (S3's own names, as in
// the x-amz-server-side-encryption header).
const (
	SSEAES256 = "AES256"  // SSE-S3: keys managed by the store
	SSEKMS    = "aws:kms" // SSE-KMS: a key of the store's KMS
)

// SSECustomerKeyVar names the secret variable holding the SSE-C key, for
// messages: the key itself never appears in one.
const SSECustomerKeyVar = "QBACKUP_S3_SSE_C_KEY"

// Encryption is the server-side encryption of every object an S3 backend
// writes (shards, manifests, locks, journals). The zero value asks for
// none, which leaves the bucket's default encryption in force.
//
// Mode and CustomerKey exclude each other (S3 refuses both on one
// request). SSE-S3 and SSE-KMS are transparent to reads; SSE-C is not: S3
// keeps no copy of the key, so every read (GetObject, HeadObject) must
// send it again and an object is unreadable without it.
type Encryption struct {
	// Mode is "", SSEAES256 or SSEKMS.
	Mode string
	// KMSKeyID is the KMS key of SSEKMS; empty means the store's default
	// key.
	KMSKeyID string
	// CustomerKey is the SSE-C key, 32 bytes (AES-256); nil for none.
	CustomerKey []byte
}

// set reports whether any encryption is asked for.
func (e Encryption) set() bool { return e.Mode != "" || e.KMSKeyID != "" || e.CustomerKey != nil }

// check refuses inconsistent settings; config validates the user's
// values with flag names, this guards the library's own callers.
func (e Encryption) check() error {
	switch e.Mode {
	case "", SSEAES256, SSEKMS:
	default:
		return fmt.Errorf("s3 server-side encryption %q: use %s or %s", e.Mode, SSEAES256, SSEKMS)
	}
	if e.KMSKeyID != "" && e.Mode != SSEKMS {
		return fmt.Errorf("s3 server-side encryption: a KMS key id needs mode %s", SSEKMS)
	}
	if e.CustomerKey != nil {
		if len(e.CustomerKey) != 32 {
			return fmt.Errorf("s3 SSE-C key is %d bytes: it must be 32 (AES-256)", len(e.CustomerKey))
		}
		if e.Mode != "" {
			return fmt.Errorf("s3 server-side encryption: SSE-C and %s exclude each other", e.Mode)
		}
	}
	return nil
}

// sseHeaders are the precomputed request parameters of an Encryption.
type sseHeaders struct {
	mode     types.ServerSideEncryption
	kmsKeyID *string
	// SSE-C: algorithm, base64 key and base64 MD5 of the key; nil without.
	cAlg, cKey, cMD5 *string
}

func newSSEHeaders(e Encryption) sseHeaders {
	h := sseHeaders{mode: types.ServerSideEncryption(e.Mode)}
	if e.KMSKeyID != "" {
		h.kmsKeyID = aws.String(e.KMSKeyID)
	}
	if e.CustomerKey != nil {
		sum := md5.Sum(e.CustomerKey) //nolint:gosec // see the import
		h.cAlg = aws.String("AES256")
		h.cKey = aws.String(base64.StdEncoding.EncodeToString(e.CustomerKey))
		h.cMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	}
	return h
}

func (h sseHeaders) customer() bool { return h.cKey != nil }

func (h sseHeaders) put(in *s3.PutObjectInput) {
	in.ServerSideEncryption, in.SSEKMSKeyId = h.mode, h.kmsKeyID
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = h.cAlg, h.cKey, h.cMD5
}

func (h sseHeaders) create(in *s3.CreateMultipartUploadInput) {
	in.ServerSideEncryption, in.SSEKMSKeyId = h.mode, h.kmsKeyID
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = h.cAlg, h.cKey, h.cMD5
}

// part: S3 wants the SSE-C key again on every part (SSE-S3 and SSE-KMS
// are settled by CreateMultipartUpload).
func (h sseHeaders) part(in *s3.UploadPartInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = h.cAlg, h.cKey, h.cMD5
}

func (h sseHeaders) get(in *s3.GetObjectInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = h.cAlg, h.cKey, h.cMD5
}

func (h sseHeaders) head(in *s3.HeadObjectInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = h.cAlg, h.cKey, h.cMD5
}

// readError explains a read S3 refused because of SSE-C: the object was
// written with a customer key and the request carried none, or another
// one. S3 answers 400 (no key) or 403 (wrong key), MinIO the same, and a
// HEAD carries no error code at all, so the status decides; ok is false
// for any other failure.
func (b *S3) readError(key string, err error) (error, bool) {
	status, code := httpStatus(err), apiErrorCode(err)
	switch {
	case !b.sse.customer() && (status == http.StatusBadRequest || code == "InvalidRequest"):
		return mark(fmt.Errorf("read %s: S3 refused the read (HTTP %d %s): the object is probably encrypted with a customer key (SSE-C): set %s (or %s_FILE) to the key it was written with: %w",
			key, status, code, SSECustomerKeyVar, SSECustomerKeyVar, err), ErrAccessDenied), true
	case b.sse.customer() && (status == http.StatusForbidden || status == http.StatusBadRequest):
		return mark(fmt.Errorf("read %s: S3 refused the read (HTTP %d %s): %s does not open it: the object was written with another SSE-C key, or without SSE-C (read sets written before SSE-C was turned on with the variable unset); else check the credentials: %w",
			key, status, code, SSECustomerKeyVar, err), ErrAccessDenied), true
	}
	return nil, false
}
