// Package printer renders what both binaries print about backups — the
// qbackup CLI in a Job or on a workstation, and the kubectl plugin — so
// that `qbackup list` and `kubectl qbackup list` show the same columns,
// sizes and durations, and their -o json|yaml documents are the same.
package printer

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/qbackup/qbackup/internal/listing"
)

// Output formats, as kubectl names them.
const (
	Table = "table"
	Wide  = "wide"
	Name  = "name"
	JSON  = "json"
	YAML  = "yaml"
)

// Structured writes v as indented JSON or, with format yaml, as YAML (the
// same document, so both carry the same fields). Both are stable
// contracts: fields are added, never renamed.
func Structured(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == YAML {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// Backups writes one row per backup set. wide adds the points, the
// Qdrant version, the snapshot method and the start and end times
// before the reason, which stays last because it is free text.
func Backups(w io.Writer, all []listing.Backup, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "CLUSTER\tBACKUP ID\tSTATUS\tVERIFIED\tCOLLECTIONS\tSHARDS\tSIZE\tDURATION\tSKEW"
	if wide {
		head += "\tPOINTS\tQDRANT\tMETHOD\tSTARTED\tFINISHED"
	}
	fmt.Fprintln(tw, head+"\tREASON")
	for _, b := range all {
		// A set whose encrypted manifest was listed without the key
		// (storage only, or a catalog row synced without it) has no
		// counts: "?" rather than a zero that reads as empty.
		sealed := b.ManifestEncrypted && b.FinishedAt.IsZero()
		count := func(n int) string {
			if sealed {
				return "?"
			}
			return fmt.Sprint(n)
		}
		skew := (time.Duration(b.SkewMillis) * time.Millisecond).String()
		if sealed {
			skew = "?"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", b.Cluster, b.BackupID, b.Status, Dash(b.VerifyStatus),
			count(b.CollectionCount), count(b.ShardCount), Bytes(b.TotalBytes), Duration(b.Duration()), skew)
		if wide {
			points := fmt.Sprint(b.PointsCount)
			if sealed {
				points = "?"
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s", points, Dash(b.QdrantVersion), Dash(b.SnapshotMethod), Time(b.StartedAt), Time(b.FinishedAt))
		}
		reason := OneLine(b.Reason)
		if b.ManifestEncrypted {
			reason = strings.TrimSuffix("manifest encrypted; "+reason, "; ")
		}
		fmt.Fprintf(tw, "\t%s\n", Dash(reason))
	}
	return tw.Flush()
}

// BackupName is how -o name names a backup set, kubectl's kind/name.
func BackupName(id string) string { return "backup/" + id }

// BackupNames writes one kind/name line per backup, for scripts
// (xargs, a loop), as kubectl get -o name does.
func BackupNames(w io.Writer, all []listing.Backup) error {
	for _, b := range all {
		if _, err := fmt.Fprintln(w, BackupName(b.BackupID)); err != nil {
			return err
		}
	}
	return nil
}

// Bytes is a size in binary units (1.5 GiB).
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Duration is a wall time to the second (1m30s), "-" when there is none.
func Duration(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}

// Time is a UTC instant to the second, "-" when unset.
func Time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// OneLine keeps a table cell on one line.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Dash stands in for an empty cell.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
