package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/storage"
)

// baselineCommand is the hidden subcommand that runs one baseline in a
// child process, so that it is measured exactly as qbackup is:
//
//	qbackup-bench baseline '<baselineSpec as JSON>'
//
// S3 settings and credentials come from the environment (childEnv).
const baselineCommand = "baseline"

// Baseline kinds.
const (
	kindRawBackup   = "raw-backup"
	kindNaiveBackup = "naive-backup"
	kindRawRestore  = "raw-restore"
)

// baselineSpec is one baseline run; it carries no secret.
type baselineSpec struct {
	Kind   string        `json:"kind"`
	Bucket string        `json:"bucket"`
	Jobs   []baselineJob `json:"jobs"`
	// Parallel and PerPeer bound the shards in flight, as qbackup's
	// --concurrency/--per-peer-concurrency and restore --parallel.
	Parallel int `json:"parallel"`
	PerPeer  int `json:"per_peer"`
	// Dir holds the naive baseline's local snapshot files.
	Dir string `json:"dir,omitempty"`
	// Peers and Shards: the raw restore creates the collection on the
	// target cluster and uploads each shard to the peer that got it.
	Peers  []peer `json:"peers,omitempty"`
	Shards int    `json:"shards,omitempty"`
}

// baselineJob is one shard: its source or target peer (backups) and its
// object key.
type baselineJob struct {
	Shard    uint32 `json:"shard"`
	Peer     peer   `json:"peer"`
	Key      string `json:"key"`
	Checksum string `json:"checksum,omitempty"`
}

func runBaseline(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: qbackup-bench %s '<spec JSON>'", baselineCommand)
	}
	var spec baselineSpec
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		return fmt.Errorf("baseline spec: %w", err)
	}
	set := s3Settings{Endpoint: os.Getenv("QBACKUP_TEST_S3_ENDPOINT"), Region: os.Getenv("QBACKUP_TEST_S3_REGION"), Bucket: spec.Bucket}
	client, err := newS3Client(ctx, set)
	if err != nil {
		return err
	}
	pool := newPartPool(storage.DefaultPartBuffers, storage.DefaultPartSize)
	switch spec.Kind {
	case kindRawBackup:
		return fanOut(ctx, spec.Jobs, spec.Parallel, spec.PerPeer, func(ctx context.Context, j baselineJob) error {
			return rawBackupShard(ctx, client, spec.Bucket, j, pool)
		})
	case kindNaiveBackup:
		for _, j := range spec.Jobs {
			if err := naiveBackupShard(ctx, client, spec.Bucket, spec.Dir, j, pool); err != nil {
				return err
			}
		}
		return nil
	case kindRawRestore:
		return rawRestore(ctx, client, spec)
	}
	return fmt.Errorf("baseline kind %q: want %s, %s or %s", spec.Kind, kindRawBackup, kindNaiveBackup, kindRawRestore)
}

// fanOut runs fn for every job with at most global at once and at most
// perPeer at once on one peer: qbackup's limits, so that the baselines get
// the same parallelism.
func fanOut(ctx context.Context, jobs []baselineJob, global, perPeer int, fn func(context.Context, baselineJob) error) error {
	sems := map[string]chan struct{}{}
	for _, j := range jobs {
		if sems[j.Peer.HTTP] == nil {
			sems[j.Peer.HTTP] = make(chan struct{}, perPeer)
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(global)
	for _, j := range jobs {
		sem := sems[j.Peer.HTTP]
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return g.Wait()
		}
		g.Go(func() error {
			defer func() { <-sem }()
			return fn(ctx, j)
		})
	}
	return g.Wait()
}

// get opens a GET response body, failing on any status but 200.
func get(ctx context.Context, u string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, b)
	}
	return resp.Body, nil
}

// rawBackupShard streams the shard's snapshot straight into S3.
func rawBackupShard(ctx context.Context, c *s3.Client, bucket string, j baselineJob, pool partPool) error {
	body, err := get(ctx, shardURL(j.Peer, j.Shard, "/snapshot"))
	if err != nil {
		return err
	}
	defer body.Close()
	_, err = multipartPut(ctx, c, bucket, j.Key, body, pool, storage.DefaultConcurrency)
	return err
}

// naiveBackupShard is the backup a script would do: create a stored
// snapshot, download it to a local file, upload the file, delete both.
func naiveBackupShard(ctx context.Context, c *s3.Client, bucket, dir string, j baselineJob, pool partPool) error {
	var snap struct {
		Name string `json:"name"`
	}
	if err := call(ctx, http.MethodPost, shardURL(j.Peer, j.Shard, "/snapshots?wait=true"), nil, &snap); err != nil {
		return fmt.Errorf("create snapshot of shard %d: %w", j.Shard, err)
	}
	snapURL := shardURL(j.Peer, j.Shard, "/snapshots/"+url.PathEscape(snap.Name))
	path := filepath.Join(dir, fmt.Sprintf("shard-%d.snapshot", j.Shard))
	err := func() error {
		body, err := get(ctx, snapURL)
		if err != nil {
			return err
		}
		defer body.Close()
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, body); err != nil {
			f.Close()
			return fmt.Errorf("download shard %d to %s: %w", j.Shard, path, err)
		}
		// A script's download ends with the file on disk.
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}()
	if err == nil {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			_, err = multipartPut(ctx, c, bucket, j.Key, f, pool, storage.DefaultConcurrency)
			f.Close()
		}
	}
	os.Remove(path)
	if derr := call(ctx, http.MethodDelete, snapURL+"?wait=true", nil, nil); derr != nil && err == nil {
		err = fmt.Errorf("delete snapshot of shard %d: %w", j.Shard, derr)
	}
	return err
}

// rawRestore creates the collection on the target cluster and streams
// every object from S3 into the snapshot upload endpoint of the peer that
// got its shard, with Qdrant's checksum check.
func rawRestore(ctx context.Context, c *s3.Client, spec baselineSpec) error {
	if len(spec.Peers) == 0 {
		return fmt.Errorf("raw restore: no target peers")
	}
	if err := createCollection(ctx, spec.Peers[0], spec.Shards); err != nil {
		return err
	}
	placement, err := (&sim{peers: spec.Peers}).placement(ctx)
	if err != nil {
		return err
	}
	jobs := make([]baselineJob, 0, len(spec.Jobs))
	for _, j := range spec.Jobs {
		j.Peer = placement[j.Shard]
		jobs = append(jobs, j)
	}
	return fanOut(ctx, jobs, spec.Parallel, spec.PerPeer, func(ctx context.Context, j baselineJob) error {
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &spec.Bucket, Key: &j.Key})
		if err != nil {
			return fmt.Errorf("get %s: %w", j.Key, err)
		}
		defer obj.Body.Close()
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			part, err := mw.CreateFormFile("snapshot", fmt.Sprintf("shard-%d.snapshot", j.Shard))
			if err == nil {
				_, err = io.CopyBuffer(part, obj.Body, make([]byte, 1<<20))
			}
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		u := shardURL(j.Peer, j.Shard, "/snapshots/upload?wait=true&priority=snapshot")
		if j.Checksum != "" {
			u += "&checksum=" + j.Checksum
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, pr)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			pr.CloseWithError(err)
			return fmt.Errorf("upload shard %d: %w", j.Shard, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("upload shard %d to %s: HTTP %d: %s", j.Shard, j.Peer.HTTP, resp.StatusCode, b)
		}
		return nil
	})
}
