package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/storage"
)

// s3Settings is where the benchmark writes: the test stack's MinIO.
type s3Settings struct {
	Endpoint, Region, Bucket string
	accessKey, secretKey     string
}

// s3FromStackEnv reads the stack's S3 settings from the environment.
func s3FromStackEnv() (s3Settings, error) {
	s := s3Settings{
		Endpoint: os.Getenv("QBACKUP_TEST_S3_ENDPOINT"), Region: os.Getenv("QBACKUP_TEST_S3_REGION"),
		Bucket: os.Getenv("QBACKUP_TEST_S3_BUCKET"), accessKey: os.Getenv("QBACKUP_TEST_S3_ACCESS_KEY"),
		secretKey: os.Getenv("QBACKUP_TEST_S3_SECRET_KEY"),
	}
	if s.Endpoint == "" || s.Bucket == "" || s.accessKey == "" || s.secretKey == "" {
		return s, errors.New(`S3 settings missing: QBACKUP_TEST_S3_ENDPOINT, _BUCKET, _ACCESS_KEY and _SECRET_KEY must be set; bring the test stack up (make stack-up) and source "$(e2e/stack/stack.sh env-file)"`)
	}
	if s.Region == "" {
		s.Region = storage.DefaultRegion
	}
	return s, nil
}

// childEnv is the environment of a measured child: this one without any
// QBACKUP_* or AWS_* variable, plus the S3 settings and credentials, and
// extra. Secrets reach children only this way, never as arguments.
func (s s3Settings) childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QBACKUP_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_ACCESS_KEY_ID="+s.accessKey, "AWS_SECRET_ACCESS_KEY="+s.secretKey,
		"QBACKUP_S3_ENDPOINT="+s.Endpoint, "QBACKUP_S3_REGION="+s.Region, "QBACKUP_S3_PATH_STYLE=true",
		// For the baselines, which read the same settings.
		"QBACKUP_TEST_S3_ENDPOINT="+s.Endpoint, "QBACKUP_TEST_S3_REGION="+s.Region, "QBACKUP_TEST_S3_BUCKET="+s.Bucket)
	return append(env, extra...)
}

// newS3Client configures the SDK as qbackup does for an S3-compatible
// endpoint (internal/storage NewS3): checksums only when required,
// unsigned payloads on plain HTTP, path-style addressing. Credentials come
// from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the child, or from the
// stack's variables in the harness.
func newS3Client(ctx context.Context, s s3Settings) (*s3.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(s.Region),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if s.accessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.accessKey, SecretAccessKey: s.secretKey, Source: "stack"}, nil
		})))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("S3 configuration: %w", err)
	}
	plain := strings.HasPrefix(s.Endpoint, "http://")
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
		if plain {
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		}
	}), nil
}

// partPool is a fixed set of part buffers shared by all uploads of a
// process, as qbackup's (storage.DefaultPartBuffers of
// storage.DefaultPartSize).
type partPool chan []byte

func newPartPool(n int, size int64) partPool {
	p := make(partPool, n)
	for range n {
		p <- make([]byte, size)
	}
	return p
}

// multipartPut streams r into bucket/key: parts of the pool's buffer size,
// up to inFlight parts of this object at once; an object smaller than one
// part is a single PutObject. Failed uploads are aborted.
func multipartPut(ctx context.Context, c *s3.Client, bucket, key string, r io.Reader, pool partPool, inFlight int) (int64, error) {
	buf := <-pool
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		defer func() { pool <- buf }()
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))})
		if err != nil {
			return 0, fmt.Errorf("put %s: %w", key, err)
		}
		return int64(n), nil
	}
	if err != nil {
		pool <- buf
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		pool <- buf
		return 0, fmt.Errorf("start upload %s: %w", key, err)
	}
	abort := func(err error) (int64, error) {
		c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId})
		return 0, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(inFlight)
	var mu sync.Mutex
	etags := map[int32]*string{}
	var total int64
	var num int32
	var readErr error
	for last := false; ; {
		num++
		data, b, pn := buf[:n], buf, num
		total += int64(n)
		g.Go(func() error {
			defer func() { pool <- b }()
			out, err := c.UploadPart(gctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
				PartNumber: aws.Int32(pn), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
			if err != nil {
				return fmt.Errorf("upload part %d of %s: %w", pn, key, err)
			}
			mu.Lock()
			etags[pn] = out.ETag
			mu.Unlock()
			return nil
		})
		if last {
			break
		}
		select {
		case buf = <-pool:
		case <-gctx.Done():
			readErr = gctx.Err()
		}
		if readErr != nil {
			break
		}
		n, err = io.ReadFull(r, buf)
		if err == io.EOF {
			pool <- buf
			break
		}
		last = err == io.ErrUnexpectedEOF
		if err != nil && !last {
			pool <- buf
			readErr = fmt.Errorf("read %s: %w", key, err)
			break
		}
	}
	if err := g.Wait(); err != nil {
		return abort(err)
	}
	if readErr != nil {
		return abort(readErr)
	}
	parts := make([]types.CompletedPart, 0, num)
	for pn := int32(1); pn <= num; pn++ {
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(pn), ETag: etags[pn]})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		return abort(fmt.Errorf("complete upload %s: %w", key, err))
	}
	return total, nil
}

// deletePrefix removes every object under prefix.
func deletePrefix(ctx context.Context, c *s3.Client, bucket, prefix string) error {
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			return fmt.Errorf("delete under %s: %w", prefix, err)
		}
	}
	return nil
}
