package config

import (
	"testing"
	"time"
)

func TestDurationWritesFlagDefaultsShort(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "30s"},
		{time.Minute, "1m"},
		{2 * time.Minute, "2m"},
		{10 * time.Minute, "10m"},
		{90 * time.Second, "1m30s"},
		{24 * time.Hour, "24h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
		{0, "0s"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
		if back, err := time.ParseDuration(Duration(tt.d)); err != nil || back != tt.d {
			t.Errorf("Duration(%v) = %q reads back as %v, %v", tt.d, Duration(tt.d), back, err)
		}
	}
}
