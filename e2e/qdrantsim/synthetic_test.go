package qdrantsim

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func streamSum(t testing.TB, url string) (string, int64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream %s: %d, %v", url, resp.StatusCode, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

func TestSyntheticShardHasStableChecksumAndRecovers(t *testing.T) {
	c := startCluster(t, Options{Peers: 2})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "bulk", 1, 2)
	const size = 8<<20 + 123
	if err := c.SetSyntheticShard(context.Background(), "bulk", 0, size, 99); err != nil {
		t.Fatal(err)
	}
	p := c.Peers()[0]
	url := p.URL() + "/collections/bulk/shards/0/snapshot"
	sum1, n1 := streamSum(t, url)
	sum2, n2 := streamSum(t, url)
	if sum1 != sum2 || n1 != n2 || n1 < size {
		t.Fatalf("two streams differ: %s/%d vs %s/%d", sum1, n1, sum2, n2)
	}
	// A stored snapshot of the same shard carries the same content.
	var d SnapshotDescription
	cl.ok("POST", "/collections/bulk/shards/0/snapshots", nil, &d)
	if d.Checksum != sum1 || d.Size != n1 {
		t.Errorf("stored snapshot %+v, stream %s/%d", d, sum1, n1)
	}
	// Recover on the other peer from the stored one, checksum verified.
	other := newClient(t, c.Peers()[1])
	other.ok("PUT", "/collections/bulk/shards/0/snapshots/recover", map[string]any{
		"location": url, "checksum": sum1, "priority": "no_sync"}, nil)
	// Archives name their peer, so the copy streams its own (stable) sum
	// over the same generated content.
	otherURL := c.Peers()[1].URL() + "/collections/bulk/shards/0/snapshot"
	if a, _ := streamSum(t, otherURL); a == sum1 {
		t.Errorf("archive of another peer has the same checksum")
	} else if b, _ := streamSum(t, otherURL); a != b {
		t.Errorf("recovered shard streams %s then %s", a, b)
	}
	second := c.Peers()[1]
	c.mu.Lock()
	got := *second.data["bulk"][0].synthetic
	c.mu.Unlock()
	if got != (syntheticSpec{Bytes: size, Seed: 99, Points: size / 4096}) {
		t.Errorf("recovered synthetic spec %+v", got)
	}
	var info CollectionClusterInfo
	cl.ok("GET", "/collections/bulk/cluster", nil, &info)
	if info.LocalShards[0].PointsCount == 0 {
		t.Errorf("synthetic shard reports no points: %+v", info.LocalShards)
	}
}

func TestSyntheticCorruptionIsDetected(t *testing.T) {
	spec := syntheticSpec{Bytes: 3<<20 + 5, Seed: 1}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeSynthetic(&flipWriter{w: pw, at: 2<<20 + 17}, spec))
	}()
	if err := verifySynthetic(pr, spec); err == nil {
		t.Fatal("corrupted synthetic data verified")
	}
	pr, pw = io.Pipe()
	go func() { pw.CloseWithError(writeSynthetic(pw, spec)) }()
	if err := verifySynthetic(pr, spec); err != nil {
		t.Fatalf("intact synthetic data refused: %v", err)
	}
}

// flipWriter flips one byte at offset at.
type flipWriter struct {
	w   io.Writer
	at  int64
	off int64
}

func (f *flipWriter) Write(b []byte) (int, error) {
	if f.at >= f.off && f.at < f.off+int64(len(b)) {
		c := append([]byte(nil), b...)
		c[f.at-f.off] ^= 0xff
		b = c
	}
	f.off += int64(len(b))
	return f.w.Write(b)
}

// BenchmarkSyntheticStream measures the streaming shard snapshot of a
// synthetic shard over loopback HTTP.
func BenchmarkSyntheticStream(b *testing.B) {
	c, err := Start(context.Background(), Options{Peers: 1, Seed: 5})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p := c.Peers()[0]
	if err := p.CreateCollection(context.Background(), "bulk", CreateCollection{ShardNumber: u32p(1)}); err != nil {
		b.Fatal(err)
	}
	const size = 1 << 30
	if err := c.SetSyntheticShard(context.Background(), "bulk", 0, size, 11); err != nil {
		b.Fatal(err)
	}
	url := p.URL() + "/collections/bulk/shards/0/snapshot"
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{resp.Body}, buf); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	total := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(total/time.Since(start).Seconds(), "MB/s")
	// Both ends run in this process; on a shared machine wall time
	// mostly measures waiting for a CPU, so report throughput per CPU
	// second (server and client together) as well.
	b.ReportMetric(total/(cpuTime()-cpu0).Seconds(), "MB/cpu-s")
}

// cpuTime is the user+system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func u32p(n uint32) *uint32 { return &n }

// tarEntries reads an archive and returns its regular and directory entry
// names with their sizes; it fails the test unless the archive ends with
// the end-of-archive marker, as clients check.
func tarEntries(t *testing.T, archive []byte) map[string]int64 {
	t.Helper()
	if len(archive)%512 != 0 || len(archive) < 1024 || !bytes.Equal(archive[len(archive)-1024:], make([]byte, 1024)) {
		t.Fatalf("archive of %d bytes does not end with the tar end-of-archive marker", len(archive))
	}
	out := map[string]int64{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("not a tar archive: %v", err)
		}
		out[h.Name] = h.Size
	}
}

func TestSyntheticShardSnapshotsAreCompleteTarArchives(t *testing.T) {
	c := startCluster(t, Options{Peers: 1, Seed: 4})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "bulk", 1, 1)
	const size = 2<<20 + 5
	if err := c.SetSyntheticShard(context.Background(), "bulk", 0, size, 7); err != nil {
		t.Fatal(err)
	}
	peer := c.Peers()[0]
	c.mu.Lock()
	seg := peer.data["bulk"][0].segment
	c.mu.Unlock()
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(c.Peers()[0].URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return b
	}
	var d SnapshotDescription
	cl.ok("POST", "/collections/bulk/shards/0/snapshots", nil, &d)
	for name, archive := range map[string][]byte{
		"streamed": get("/collections/bulk/shards/0/snapshot"),
		"stored":   get("/collections/bulk/shards/0/snapshots/" + d.Name),
	} {
		t.Run(name, func(t *testing.T) {
			got := tarEntries(t, archive)
			files := "segments/" + seg + "/files/"
			want := map[string]int64{"replica_state.json": -1, "shard_config.json": -1, "segments/": 0,
				files + "synthetic.json": -1, files + "synthetic.bin": size, "wal/closed-1": 0, "newest_clocks.json": -1}
			for n, sz := range want {
				if have, ok := got[n]; !ok || (sz >= 0 && have != sz) {
					t.Errorf("entry %s: size %d (present %v), want %d; entries %v", n, have, ok, sz, got)
				}
			}
			if len(got) != len(want) {
				t.Errorf("entries %v, want %d", got, len(want))
			}
			ps, err := readSnapshot(bytes.NewReader(archive))
			if err != nil || ps.shards[""] == nil || !ps.shards[""].hasData() || *ps.shards[""].synth != (syntheticSpec{Bytes: size, Seed: 7, Points: size / 4096}) {
				t.Fatalf("archive does not read back: %+v %v", ps, err)
			}
		})
	}
}

func TestSyntheticRecoveryRefusesDamagedContent(t *testing.T) {
	spec := syntheticSpec{Bytes: 3<<20 + 5, Seed: 2, Points: 768}
	im := &shardImage{local: true, thisPeer: 1, peers: map[uint64]string{1: StateActive}, segment: "seg", synth: &spec}
	var archive bytes.Buffer
	if err := writeShardSnapshot(&archive, im, true); err != nil {
		t.Fatal(err)
	}
	data := archive.Bytes()
	binAt := bytes.Index(data, []byte("synthetic.bin")) // in the header before the content
	longer := spec
	longer.Bytes += 700
	var long bytes.Buffer
	if err := writeShardSnapshot(&long, &shardImage{local: true, peers: im.peers, segment: "seg", synth: &longer}, true); err != nil {
		t.Fatal(err)
	}
	// The longer archive claims the original spec (same digit count, so
	// the entry keeps its size), so its content has bytes past it.
	longData := bytes.Replace(long.Bytes(), fmt.Appendf(nil, `"bytes":%d`, longer.Bytes), fmt.Appendf(nil, `"bytes":%d`, spec.Bytes), 1)
	tests := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"a flipped byte in the content", flipped(data, binAt+4096+2<<20), "differs in block 2"},
		{"content cut short", data[:binAt+4096+1<<20], "unexpected EOF"},
		{"content longer than its spec", longData, "more than 3145733 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readSnapshot(bytes.NewReader(tc.archive))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := readSnapshot(bytes.NewReader(data)); err != nil {
		t.Fatalf("intact archive refused: %v", err)
	}
}

func flipped(b []byte, at int) []byte {
	c := bytes.Clone(b)
	c[at] ^= 0xff
	return c
}
