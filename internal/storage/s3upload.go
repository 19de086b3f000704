package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// maxParts is S3's limit on the parts of one multipart upload.
const maxParts = 10_000

// payloadOptions sends object bytes to a plain-HTTP endpoint (MinIO inside
// the cluster, typically) as UNSIGNED-PAYLOAD: otherwise SigV4 hashes every
// byte with SHA-256, a second full hash on top of the manifest's SHA-256,
// which covers the same bytes end to end and is checked by every verify
// and restore (measured: a third less CPU per GiB backed up). HTTPS
// endpoints keep the SDK's own choice (TLS plus its checksums).
func (b *S3) payloadOptions(o *s3.Options) {
	if b.plainHTTP {
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	}
}

// partPool is the one set of part buffers shared by every Put of a
// backend, so upload memory is at most its size × PartSize whatever the
// number of concurrent Puts and the object sizes. Buffers are made on
// first use and reused; a Put that finds none free waits for one, and
// waiting Puts are served in turn (a channel hands values to blocked
// receivers first come, first served), so no stream starves — a snapshot
// stream not read for long is aborted by Qdrant.
type partPool struct {
	size int64
	free chan []byte
	mu   sync.Mutex
	made int
}

func newPartPool(buffers int, size int64) *partPool {
	return &partPool{size: size, free: make(chan []byte, buffers)}
}

func (p *partPool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	default:
	}
	p.mu.Lock()
	if p.made < cap(p.free) {
		p.made++
		p.mu.Unlock()
		return make([]byte, p.size), nil
	}
	p.mu.Unlock()
	select {
	case b := <-p.free:
		return b, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// put returns a buffer; it never blocks, the channel holds every buffer.
func (p *partPool) put(b []byte) { p.free <- b[:cap(b)] }

// allocated is how many buffers exist; never more than the pool's size.
func (p *partPool) allocated() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made
}

// upload writes r to key k: an object shorter than one part with a single
// PutObject, a longer one as a multipart upload whose parts go up to
// b.concurrency at a time. The first part is read before anything is
// created, so an empty or short stream costs one request.
//
// ret, when not nil, locks the object (see PutRetained).
func (b *S3) upload(ctx context.Context, k string, r io.Reader, ret *Retention) error {
	buf, err := b.parts.get(ctx)
	if err != nil {
		return err
	}
	n, err := io.ReadFull(r, buf)
	// Identity, not errors.Is: ReadFull returns these two values itself
	// when the source ends; a source error that wraps io.ErrUnexpectedEOF
	// (a cut stream) is a failure, never the end of the object.
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		defer b.parts.put(buf)
		in := &s3.PutObjectInput{
			Bucket: aws.String(b.bucket), Key: aws.String(k),
			Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n)),
		}
		b.sse.put(in)
		if ret != nil {
			in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockMode(ret.Mode), aws.Time(ret.Until)
			in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
		}
		_, err := b.client.PutObject(ctx, in, b.payloadOptions)
		return err
	case err != nil:
		b.parts.put(buf)
		return fmt.Errorf("read the object: %w", err)
	}
	return b.multipart(ctx, k, r, buf, ret)
}

// multipart uploads first and the rest of r as the parts of one upload,
// and aborts the upload (on a context that outlives a cancellation) when
// anything fails, so no parts are left behind.
func (b *S3) multipart(ctx context.Context, k string, r io.Reader, first []byte, ret *Retention) error {
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(b.bucket), Key: aws.String(k)}
	b.sse.create(in)
	var checksum types.ChecksumAlgorithm
	if ret != nil {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockMode(ret.Mode), aws.Time(ret.Until)
		checksum = types.ChecksumAlgorithmCrc32
		in.ChecksumAlgorithm = checksum
	}
	created, err := b.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		b.parts.put(first)
		if aerr := b.abortUpload(ctx, k, ""); aerr != nil {
			err = errors.Join(err, aerr)
		}
		return err
	}
	id := aws.ToString(created.UploadId)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.concurrency)
	var mu sync.Mutex
	var done []types.CompletedPart
	send := func(num int32, buf []byte, n int) {
		g.Go(func() error {
			defer b.parts.put(buf)
			in := &s3.UploadPartInput{
				Bucket: aws.String(b.bucket), Key: aws.String(k), UploadId: aws.String(id),
				PartNumber: aws.Int32(num), Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n)),
			}
			b.sse.part(in)
			in.ChecksumAlgorithm = checksum
			out, err := b.client.UploadPart(gctx, in, b.payloadOptions)
			if err != nil {
				return fmt.Errorf("part %d: %w", num, err)
			}
			mu.Lock()
			done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumCRC32: out.ChecksumCRC32})
			mu.Unlock()
			return nil
		})
	}

	var readErr error
	buf, n := first, len(first)
	for num := int32(1); ; num++ {
		if num > maxParts {
			b.parts.put(buf)
			readErr = fmt.Errorf("the object is larger than %d parts of %d bytes, S3's limit for one upload", maxParts, b.parts.size)
			break
		}
		send(num, buf, n)
		if n < len(buf) {
			break // a short part is the last one
		}
		if buf, readErr = b.parts.get(gctx); readErr != nil {
			break
		}
		n, readErr = io.ReadFull(r, buf)
		if readErr == io.EOF {
			b.parts.put(buf)
			readErr = nil
			break
		}
		if readErr == io.ErrUnexpectedEOF {
			readErr = nil // the last, short part: sent on the next round
		} else if readErr != nil {
			b.parts.put(buf)
			readErr = fmt.Errorf("read the object: %w", readErr)
			break
		}
	}
	err = g.Wait()
	if readErr != nil {
		// The source's error says why; when a part failed first, readErr
		// is that failure (the group's context's cause).
		err = readErr
	}
	if err == nil {
		slices.SortFunc(done, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
		_, err = b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(b.bucket), Key: aws.String(k), UploadId: aws.String(id),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
		})
		if err == nil {
			return nil
		}
	}
	if aerr := b.abortUpload(ctx, k, id); aerr != nil {
		err = errors.Join(err, aerr)
	}
	return err
}
