package stacktest

import "testing"

func TestDNSLabel(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"subtests become dashes", "TestBackup/two_peers", 40, "testbackup-two-peers"},
		{"long names are cut without a trailing dash", "TestAVeryLongName/with_sub", 18, "testaverylongname"},
		{"an empty result gets a placeholder", "///", 40, "t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dnsLabel(tt.in, tt.max); got != tt.want {
				t.Errorf("dnsLabel(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}
