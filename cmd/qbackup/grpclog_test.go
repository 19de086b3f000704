package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

// TestGRPCLinesJoinTheJSONStream: gRPC's own warnings become JSON records
// of the run's logger, so a log collector parsing stderr line by line
// never meets gRPC's plain-text format.
func TestGRPCLinesJoinTheJSONStream(t *testing.T) {
	var buf bytes.Buffer
	grpcLogger.Store(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { grpcLogger.Store(nil) })
	slogGRPC{}.Warningf("[core] addrConn.createTransport failed to connect to %s", "10.0.0.1:6334")
	slogGRPC{}.Infof("[core] state changed to %s", "CONNECTING") // debug: below the handler's level
	var rec map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &rec); err != nil {
		t.Fatalf("not one JSON record: %q: %v", buf.String(), err)
	}
	if rec["level"] != "WARN" || rec["component"] != "grpc" || rec["msg"] != "[core] addrConn.createTransport failed to connect to 10.0.0.1:6334" {
		t.Fatalf("record %v", rec)
	}
}
