package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRunPrintsOneLinePerPeerAndServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--peers", "2", "--version", "1.15.0", "--bind-base", "127.0.31.2",
			"--http-port", "0", "--grpc-port", "0", "--api-key", "k"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var peers []struct {
		PeerID uint64 `json:"peer_id"`
		HTTP   string `json:"http"`
		GRPC   string `json:"grpc"`
	}
	for len(peers) < 2 && sc.Scan() {
		var p struct {
			PeerID uint64 `json:"peer_id"`
			HTTP   string `json:"http"`
			GRPC   string `json:"grpc"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		peers = append(peers, p)
	}
	if len(peers) != 2 || !strings.HasPrefix(peers[1].HTTP, "http://127.0.31.3:") || peers[0].PeerID == 0 {
		t.Fatalf("peers = %+v", peers)
	}
	resp, err := http.Get(peers[0].HTTP + "/")
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]string
	json.NewDecoder(resp.Body).Decode(&root)
	resp.Body.Close()
	if root["version"] != "1.15.0" {
		t.Errorf("GET / version = %q, want 1.15.0", root["version"])
	}
	resp, err = http.Get(peers[0].HTTP + "/collections")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /collections without key = %d, want 401", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// TestRunWriteLoadFlags checks --write-load and --write-collections: the
// live writes reach the named collection only, as the admin API reports.
func TestRunWriteLoadFlags(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--peers", "1", "--bind-base", "127.0.32.2", "--http-port", "0", "--grpc-port", "0",
			"--admin", "127.0.0.1:0", "--write-load", "500", "--write-collections", "b, c"}, outW, errW)
		outW.Close()
		errW.Close()
	}()
	// The seed line comes first, then the admin address.
	errLines := bufio.NewReader(errR)
	var admin string
	for admin == "" {
		line, err := errLines.ReadString('\n')
		if err != nil {
			t.Fatalf("stderr ended before the admin address: %v", err)
		}
		_, admin, _ = strings.Cut(strings.TrimSpace(line), "admin API on ")
	}
	go io.Copy(io.Discard, errLines)
	line, _ := bufio.NewReader(outR).ReadString('\n')
	go io.Copy(io.Discard, outR)
	var peer struct {
		HTTP string `json:"http"`
	}
	if err := json.Unmarshal([]byte(line), &peer); err != nil {
		t.Fatalf("stdout %q: %v", line, err)
	}
	for _, name := range []string{"a", "b"} {
		req, _ := http.NewRequest("PUT", peer.HTTP+"/collections/"+name, strings.NewReader(`{"vectors":{"size":2,"distance":"Dot"}}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("create %s: %v %v", name, resp, err)
		}
		resp.Body.Close()
	}
	var state struct {
		Load struct {
			Rate        float64  `json:"rate"`
			Collections []string `json:"collections"`
		} `json:"load"`
		Stats struct {
			Upserts       uint64            `json:"upserts"`
			PerCollection map[string]uint64 `json:"per_collection"`
		} `json:"stats"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for state.Stats.Upserts < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("no live writes: %+v", state)
		}
		time.Sleep(50 * time.Millisecond)
		resp, err := http.Get(admin + "/write-load")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&state)
		resp.Body.Close()
	}
	if state.Load.Rate != 500 || strings.Join(state.Load.Collections, ",") != "b,c" || state.Stats.PerCollection["a"] != 0 {
		t.Errorf("write load state %+v", state)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRunPrintsSeedAndRealism(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--seed", "42", "--realism", "harsh"}, "qdrant-sim: seed 42 realism harsh\n"},
		// off is a profile the flag must accept and report like the others.
		{[]string{"--seed", "9", "--realism", "off"}, "qdrant-sim: seed 9 realism off\n"}, // realism off because parsing and reporting that profile is what is tested
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stderr strings.Builder
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				args := append([]string{"--peers", "1", "--bind-base", "127.0.32.2", "--http-port", "0", "--grpc-port", "0"}, tc.args...)
				done <- run(ctx, args, pw, &stderr)
				pw.Close()
			}()
			if !bufio.NewScanner(pr).Scan() {
				t.Fatal("no peer line")
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if stderr.String() != tc.want {
				t.Errorf("stderr = %q, want %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestRunRefusesUnknownRealism(t *testing.T) {
	err := run(context.Background(), []string{"--realism", "brutal", "--http-port", "0", "--grpc-port", "0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `realism "brutal"`) {
		t.Fatalf("err = %v, want the unknown realism named", err)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"60MiB/s", 60 << 20, false},
		{"60 MiB/s", 60 << 20, false},
		{"1.5GiB", 3 << 29, false},
		{"500KB/s", 500_000, false},
		{"2048", 2048, false},
		{"100B/s", 100, false},
		{"fast", 0, true},
		{"-1MiB/s", 0, true},
		{"MiB/s", 0, true},
	}
	for _, tt := range tests {
		got, err := parseRate(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseRate(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRunRefusesBadPeerRate(t *testing.T) {
	err := run(context.Background(), []string{"--peer-rate", "lots", "--http-port", "0", "--grpc-port", "0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--peer-rate") {
		t.Fatalf("run with --peer-rate lots = %v, want an error naming the flag", err)
	}
}
