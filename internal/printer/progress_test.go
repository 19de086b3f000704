package printer

import "testing"

func TestProgressLine(t *testing.T) {
	msgs := []string{"restore progress", "backup progress", SummaryMessage}
	tests := []struct {
		name, line, want string
		ok               bool
	}{
		{"restore mid-recover",
			`{"time":"2026-12-07T03:00:00Z","level":"INFO","msg":"restore progress","phase":"recover","shards_done":3,"shards_total":12,"bytes_done":1288490188,"bytes_total":4294967296,"elapsed":"40s","eta":"1m50s"}`,
			"recover: 3/12 shards, 1.2 GiB of 4.0 GiB, 40s elapsed, ETA 1m50s", true},
		{"restore with failures and no ETA yet",
			`{"msg":"restore progress","phase":"create","shards_done":0,"shards_total":4,"shards_failed":1,"bytes_done":0,"bytes_total":2048,"elapsed":"1s"}`,
			"create: 0/4 shards (1 failed), 0 B of 2.0 KiB, 1s elapsed", true},
		{"backup",
			`{"msg":"backup progress","shards_done":5,"shards_total":8,"bytes":52428800,"elapsed":"10s","rate_mib_s":5,"eta":"6s"}`,
			"backup: 5/8 shards, 50.0 MiB, 5.0 MiB/s, 10s elapsed, ETA 6s", true},
		{"the summary of a run",
			`{"msg":"run complete","command":"restore <backup>","summary":"backup x restored (consolidate): 1 collections, 2 shards, 10 bytes, RTO 3s"}`,
			"backup x restored (consolidate): 1 collections, 2 shards, 10 bytes, RTO 3s", true},
		{"another message", `{"msg":"restore phase started","phase":"recover"}`, "", false},
		{"a text line", `time=... msg="restore progress"`, "", false},
		{"broken JSON", `{"msg":"restore progress",`, "", false},
		{"empty", ``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ProgressLine([]byte(tt.line), msgs...)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ProgressLine = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
