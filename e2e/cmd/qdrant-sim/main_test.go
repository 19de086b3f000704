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

func TestRunPrintsSeedAndRealism(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--seed", "42", "--realism", "harsh"}, "qdrant-sim: seed 42 realism harsh\n"},
		{[]string{"--seed", "9", "--realism", "off"}, "qdrant-sim: seed 9 realism off\n"},
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
