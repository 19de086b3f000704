package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const benchCollection = "bulk"

// peer is one simulated peer as qdrant-sim prints it.
type peer struct {
	ID   uint64 `json:"peer_id"`
	HTTP string `json:"http"`
	GRPC string `json:"grpc"`
}

// staticURL is the peer as qbackup's static discovery takes it.
func (p peer) staticURL() string {
	port := p.GRPC[strings.LastIndexByte(p.GRPC, ':')+1:]
	return p.HTTP + "?grpc=" + port
}

// sim is a qdrant-sim process.
type sim struct {
	cmd    *exec.Cmd
	peers  []peer
	admin  string
	stderr *tailBuffer
	dir    string
}

// buildSim builds qdrant-sim into dir, so that its process is the
// simulator alone (go run would add a parent).
func buildSim(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "qdrant-sim")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/qbackup/qbackup/e2e/cmd/qdrant-sim")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build qdrant-sim (run from within the repository): %w\n%s", err, out)
	}
	return bin, nil
}

// startSim starts a simulator of n peers with their snapshot traffic
// capped at rate bytes/s per peer (0: uncapped), state under dir.
func startSim(ctx context.Context, bin, dir string, n int, rate int64, seed int) (*sim, error) {
	state, err := os.MkdirTemp(dir, "sim-")
	if err != nil {
		return nil, fmt.Errorf("simulator state directory: %w", err)
	}
	cmd := exec.Command(bin, "--peers", strconv.Itoa(n), "--http-port", "0", "--grpc-port", "0",
		"--bind-base", "127.0.40.2", "--state-dir", state, "--realism", "off", "--seed", strconv.Itoa(seed),
		"--admin", "127.0.0.1:0", "--peer-rate", strconv.FormatInt(rate, 10))
	cmd.Env = simEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderrR, stderrW := io.Pipe()
	cmd.Stderr = stderrW
	s := &sim{cmd: cmd, stderr: &tailBuffer{max: 8 << 10}, dir: state}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(state)
		return nil, fmt.Errorf("start qdrant-sim: %w", err)
	}
	admin := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderrR)
		for sc.Scan() {
			line := sc.Text()
			s.stderr.Write([]byte(line + "\n"))
			if _, a, ok := strings.Cut(line, "admin API on "); ok {
				admin <- strings.TrimSpace(a)
			}
		}
		io.Copy(io.Discard, stderrR)
	}()
	lines := make(chan peer)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var p peer
			if json.Unmarshal(sc.Bytes(), &p) == nil {
				lines <- p
			}
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	timeout := time.After(30 * time.Second)
	for len(s.peers) < n || s.admin == "" {
		select {
		case p, ok := <-lines:
			if !ok {
				s.stop()
				return nil, fmt.Errorf("qdrant-sim exited before printing its peers: %s", s.stderr)
			}
			s.peers = append(s.peers, p)
		case a := <-admin:
			s.admin = a
		case <-timeout:
			s.stop()
			return nil, fmt.Errorf("qdrant-sim printed %d of %d peers in 30s: %s", len(s.peers), n, s.stderr)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		}
	}
	go func() {
		for range lines {
		}
	}()
	return s, nil
}

// simEnv keeps realism and key settings of the caller's shell away from
// the simulator: the benchmark runs it on its flags alone.
func simEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QDRANTSIM_") && !strings.HasPrefix(kv, "QDRANT_SIM_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop ends the simulator with SIGTERM (SIGKILL after 10 s) and removes
// its state.
func (s *sim) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(s.dir)
}

func (s *sim) pid() int { return s.cmd.Process.Pid }

// urls is the static discovery list for qbackup.
func (s *sim) urls() string {
	var out []string
	for _, p := range s.peers {
		out = append(out, p.staticURL())
	}
	return strings.Join(out, ",")
}

// call sends a JSON request and decodes the JSON answer's "result" into out
// (nil: ignored), failing on any status but 200.
func call(ctx context.Context, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, u, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	return json.Unmarshal(env.Result, out)
}

// createCollection creates the benchmark collection with one replica per
// shard, on peer p.
func createCollection(ctx context.Context, p peer, shards int) error {
	return call(ctx, http.MethodPut, p.HTTP+"/collections/"+benchCollection, map[string]any{
		"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": shards, "replication_factor": 1,
	}, nil)
}

// fill gives each of the collection's shards an equal part of total bytes
// of synthetic content through the simulator's admin API.
func (s *sim) fill(ctx context.Context, shards int, total int64) error {
	for id := range shards {
		size := total / int64(shards)
		if id < int(total%int64(shards)) {
			size++
		}
		err := call(ctx, http.MethodPost, s.admin+"/synthetic", map[string]any{
			"collection": benchCollection, "shard_id": id, "bytes": size, "seed": id + 1,
		}, nil)
		if err != nil {
			return fmt.Errorf("fill shard %d: %w", id, err)
		}
	}
	return nil
}

// placement maps shard id → the peer holding its replica, from the
// collection's cluster info on the first peer.
func (s *sim) placement(ctx context.Context) (map[uint32]peer, error) {
	var info struct {
		PeerID uint64 `json:"peer_id"`
		Local  []struct {
			ShardID uint32 `json:"shard_id"`
		} `json:"local_shards"`
		Remote []struct {
			ShardID uint32 `json:"shard_id"`
			PeerID  uint64 `json:"peer_id"`
		} `json:"remote_shards"`
	}
	if err := call(ctx, http.MethodGet, s.peers[0].HTTP+"/collections/"+benchCollection+"/cluster", nil, &info); err != nil {
		return nil, err
	}
	byID := map[uint64]peer{}
	for _, p := range s.peers {
		byID[p.ID] = p
	}
	out := map[uint32]peer{}
	for _, l := range info.Local {
		out[l.ShardID] = byID[info.PeerID]
	}
	for _, r := range info.Remote {
		p, ok := byID[r.PeerID]
		if !ok {
			return nil, fmt.Errorf("shard %d on unknown peer %d", r.ShardID, r.PeerID)
		}
		out[r.ShardID] = p
	}
	return out, nil
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	max int
	mu  sync.Mutex
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// shardURL is the REST URL of a shard's path on p.
func shardURL(p peer, shard uint32, rest string) string {
	return fmt.Sprintf("%s/collections/%s/shards/%d%s", p.HTTP, url.PathEscape(benchCollection), shard, rest)
}
