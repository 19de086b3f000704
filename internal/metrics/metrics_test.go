package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/metrics/metricstest"
)

func TestPush(t *testing.T) {
	start := time.Date(2026, 12, 6, 2, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		run      Run
		want     []string
		wantNone []string
	}{
		{
			name: "a successful backup",
			run:  Run{Command: "backup", Cluster: "prod", Start: start, End: start.Add(90 * time.Second), Bytes: 1 << 30, Shards: 12, Skew: 40 * time.Millisecond},
			want: []string{"qbackup_last_run_success 1", "qbackup_last_run_duration_seconds 90", "qbackup_last_success_timestamp_seconds 1.79652429e+09",
				"qbackup_backup_bytes 1.073741824e+09", "qbackup_backup_shards 12", "qbackup_backup_skew_seconds 0.04", "qbackup_last_run_exit_code 0"},
			wantNone: []string{"rebalance_"},
		},
		{
			name:     "a failed backup keeps the last success and the last backup's figures",
			run:      Run{Command: "backup", Cluster: "prod", Start: start, End: start.Add(time.Second), ExitCode: 4, Bytes: 5},
			want:     []string{"qbackup_last_run_success 0", "qbackup_last_run_exit_code 4"},
			wantNone: []string{"last_success_timestamp", "backup_bytes", "backup_shards"},
		},
		{
			name:     "a restore has no backup or rebalance figures",
			run:      Run{Command: "restore", Cluster: "prod", Start: start, End: start.Add(time.Minute), Rebalance: Rebalance{Moved: 1}},
			want:     []string{"qbackup_last_run_success 1", "qbackup_last_success_timestamp_seconds"},
			wantNone: []string{"backup_bytes", "rebalance_"},
		},
		{
			name: "a successful rebalance",
			run: Run{Command: "rebalance", Cluster: "prod", Start: start, End: start.Add(2 * time.Minute),
				Rebalance: Rebalance{Collections: 2, Moved: 3, Replicated: 4, Dropped: 5, Resharded: 1}},
			want: []string{"qbackup_last_run_success 1", "qbackup_last_run_duration_seconds 120", "qbackup_last_success_timestamp_seconds 1.79652432e+09",
				"qbackup_rebalance_collections 2", "qbackup_rebalance_replicas_moved 3", "qbackup_rebalance_replicas_replicated 4",
				"qbackup_rebalance_replicas_dropped 5", "qbackup_rebalance_collections_resharded 1"},
			wantNone: []string{"backup_bytes"},
		},
		{
			name: "a rebalance that changed nothing is a success with zeros",
			run:  Run{Command: "rebalance", Cluster: "prod", Start: start, End: start.Add(time.Second)},
			want: []string{"qbackup_last_run_success 1", "qbackup_last_success_timestamp_seconds", "qbackup_rebalance_collections 0",
				"qbackup_rebalance_replicas_moved 0", "qbackup_rebalance_replicas_replicated 0", "qbackup_rebalance_replicas_dropped 0",
				"qbackup_rebalance_collections_resharded 0"},
		},
		{
			name:     "a failed rebalance keeps the last success's figures",
			run:      Run{Command: "rebalance", Cluster: "prod", Start: start, End: start.Add(time.Second), ExitCode: 1, Rebalance: Rebalance{Moved: 2}},
			want:     []string{"qbackup_last_run_success 0", "qbackup_last_run_exit_code 1"},
			wantNone: []string{"last_success_timestamp", "rebalance_"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var method, path, body string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				method, path, body = r.Method, r.URL.Path, string(b)
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			if err := Push(context.Background(), srv.URL, nil, tc.run); err != nil {
				t.Fatal(err)
			}
			// The push library orders the grouping labels as it likes.
			if method != http.MethodPost || !metricstest.SameGroup(path, "/metrics/job/qbackup/cluster/prod/command/"+tc.run.Command) {
				t.Errorf("%s %s: want POST (add to the group, not replace it) to the cluster's and command's group", method, path)
			}
			text := decode(t, body)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("pushed metrics lack %q:\n%s", w, text)
				}
			}
			for _, w := range tc.wantNone {
				if strings.Contains(text, w) {
					t.Errorf("pushed metrics have %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestPushFailureNamesThePushgatewayWithoutItsPassword(t *testing.T) {
	var user, pass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ = r.BasicAuth()
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://ops:s3cret@", 1)
	err := Push(context.Background(), u, nil, Run{Command: "backup", Cluster: "prod", End: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "pushgateway at "+srv.URL) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err %v", err)
	}
	if user != "ops" || pass != "s3cret" {
		t.Errorf("basic auth %q:%q, want the URL's user and password", user, pass)
	}
}

// decode turns the pushed body into the text exposition format.
func decode(t *testing.T, body string) string {
	t.Helper()
	text, err := metricstest.Text(body)
	if err != nil {
		t.Fatalf("decode pushed metrics: %v", err)
	}
	return text
}
