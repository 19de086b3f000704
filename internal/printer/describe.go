package printer

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qbackup/qbackup/internal/listing"
	"github.com/qbackup/qbackup/internal/manifest"
)

// Description is the JSON contract of `describe -o json`: the manifest,
// plus the catalog's view when there is one, as a listing row. Read from a backup
// summary (kubectl qbackup without storage access) it carries the
// summary instead of the manifest, and Source says so.
type Description struct {
	Manifest *manifest.Manifest `json:"manifest,omitempty"`
	Catalog  *listing.Backup    `json:"catalog,omitempty"`
	// Summary is the recorded summary (kube.SetSummary) the description
	// was read from; Source is "summary" then.
	Summary any    `json:"summary,omitempty"`
	Source  string `json:"source,omitempty"`
	// ShardsOmitted: the source holds the collections without their
	// shards (a summary of a set too large for them).
	ShardsOmitted bool `json:"-"`
}

// Describe prints one backup in full: its peers, then each collection
// with its shards.
func Describe(w io.Writer, rep Description) error {
	m := rep.Manifest
	status := "complete"
	if m.Partial {
		status = "partial"
	}
	verify := "unknown (no catalog)"
	if rep.Catalog != nil {
		verify = rep.Catalog.VerifyStatus
	}
	fmt.Fprintf(w, "Backup:          %s\nCluster:         %s\nStatus:          %s\nVerified:        %s\n", m.BackupID, m.Cluster, status, verify)
	// A source without the manifest's content (the summary of a set whose
	// manifest is encrypted) has no finish time, versions or counts: "-"
	// and "?" rather than zeros.
	sealed := m.FinishedAt.IsZero()
	finished := "-"
	if !sealed {
		finished = fmt.Sprintf("%s (%s)", m.FinishedAt.Format(time.RFC3339), m.FinishedAt.Sub(m.StartedAt).Round(time.Millisecond))
	}
	fmt.Fprintf(w, "Qdrant version:  %s\nSnapshot method: %s\nStarted:         %s\nFinished:        %s\n",
		Dash(m.QdrantVersion), Dash(m.SnapshotMethod), m.StartedAt.Format(time.RFC3339), finished)
	size, shards := m.TotalSize(), fmt.Sprint(m.ShardCount())
	if rep.ShardsOmitted && rep.Catalog != nil {
		size, shards = rep.Catalog.TotalBytes, fmt.Sprint(rep.Catalog.ShardCount)
	}
	skew := (time.Duration(m.Window.SkewMillis) * time.Millisecond).String()
	if sealed {
		shards, skew = "?", "?"
	}
	fmt.Fprintf(w, "Snapshot skew:   %s\nSize:            %s in %s shards\n", skew, Bytes(size), shards)
	if e := m.Encryption; e != nil {
		// Which secret key a restore needs, without needing it to ask.
		fmt.Fprintf(w, "Encrypted:       %s for %s (restore and verify need one of their identities in QBACKUP_AGE_IDENTITY)\n", e.Scheme, strings.Join(e.Recipients, ", "))
		if m.ManifestEncrypted {
			fmt.Fprintf(w, "Manifest:        encrypted too (%s; without the key only the id, time, status and size are visible)\n", m.Key())
		}
	}
	if sealed && len(m.Peers) == 0 {
		return nil
	}
	fmt.Fprintf(w, "Peers:\n")
	ptw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(ptw, "  PEER ID\tPOD\tURI")
	for _, p := range m.Peers {
		fmt.Fprintf(ptw, "  %d\t%s\t%s\n", p.ID, Dash(p.Pod), p.URI)
	}
	if err := ptw.Flush(); err != nil {
		return err
	}
	for _, col := range m.Collections {
		fmt.Fprintf(w, "\nCollection %q: %s sharding, %d shards, replication factor %d, %d points",
			col.Name, col.ShardingMethod, col.ShardNumber, col.ReplicationFactor, col.PointsCount)
		if len(col.Aliases) > 0 {
			fmt.Fprintf(w, ", aliases %v", col.Aliases)
		}
		fmt.Fprintln(w)
		if rep.ShardsOmitted {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SHARD\tKEY\tSOURCE PEER\tPOINTS\tSIZE\tSHA-256\tOBJECT")
		for _, s := range col.Shards {
			key := "-"
			if s.ShardKey != nil {
				key = s.ShardKey.String()
			}
			sum := "-"
			if len(s.SHA256) > 16 {
				sum = s.SHA256[:16] + "…"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, key, strconv.FormatUint(s.SourcePeer, 10), s.PointsCount, Bytes(s.Size), sum, Dash(s.Object))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
