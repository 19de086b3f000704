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
