package printer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
)

func TestDescribeAlignsThePeersInColumns(t *testing.T) {
	m := &manifest.Manifest{BackupID: "20261125T133000Z-3f9c", Cluster: "prod", Peers: []manifest.Peer{
		{ID: 276954432704246, URI: "http://10.0.0.3:6333"},
		{ID: 4750938265642287, Pod: "qdrant-0", URI: "http://10.0.0.2:6333"},
	}}
	var out bytes.Buffer
	if err := Describe(&out, Description{Manifest: m}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, "\t") {
		t.Fatalf("tabs left in the output:\n%s", text)
	}
	var cols []int
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, "http://"); i >= 0 {
			cols = append(cols, i)
		}
	}
	if len(cols) != 2 || cols[0] != cols[1] {
		t.Fatalf("peer URIs not in one column (%v):\n%s", cols, text)
	}
}
