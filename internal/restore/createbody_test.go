package restore

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/qbackup/qbackup/internal/golden"
)

func TestCreateRequestMatchesGoldenFiles(t *testing.T) {
	tests := []struct {
		name, config, golden string
		shards, rf, wcf      uint32
	}{
		{"a 1.19 config becomes a create request with renamed optimizer settings", "config-1.19.json", "create-1.19.json", 3, 2, 1},
		{"a 1.15 config becomes a create request accepted by 1.15 and later", "config-1.15.json", "create-1.15.json", 2, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := os.ReadFile(filepath.Join("testdata", tt.config))
			if err != nil {
				t.Fatal(err)
			}
			body, dropped, err := createRequest(cfg, tt.shards, tt.rf, tt.wcf)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(map[string]any{"body": v, "dropped": dropped}, "", "  ")
			got = append(got, '\n')
			golden.Check(t, filepath.Join("testdata", tt.golden), got)
		})
	}
}
