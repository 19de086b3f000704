package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseJournal(t *testing.T) {
	tests := []struct {
		in      string
		want    Journal
		wantMsg string // non-empty: refused with a message containing it
	}{
		{in: "auto", want: Journal{Mode: JournalAuto}},
		{in: "catalog", want: Journal{Mode: JournalCatalog}},
		{in: "store", want: Journal{Mode: JournalStore}},
		{in: "none", want: Journal{Mode: JournalNone}},
		{in: "file:///var/lib/qbackup-journal", want: Journal{Mode: JournalFile, Dir: "/var/lib/qbackup-journal"}},
		{in: "file:///var/lib/qbackup-journal/", want: Journal{Mode: JournalFile, Dir: "/var/lib/qbackup-journal"}},
		{in: "", wantMsg: "--journal is empty"},
		{in: "catalogue", wantMsg: "use auto, catalog, store, none or file:///abs/path"},
		{in: "AUTO", wantMsg: "is not a journal location"},
		{in: "s3://bucket/journal", wantMsg: "is not a journal location"},
		{in: "/var/lib/journal", wantMsg: "is not a journal location"},
		{in: "file://relative/dir", wantMsg: "must be absolute"},
		{in: "file:///var/../etc", wantMsg: "must be clean"},
		{in: "file:///var//lib", wantMsg: "must be clean"},
		{in: "file:///", wantMsg: "not the root"},
		{in: "file:///tmp/j?x=1", wantMsg: "query and fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseJournal(tt.in)
			if tt.wantMsg != "" {
				if err == nil || !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), "QBACKUP_JOURNAL") {
					t.Fatalf("ParseJournal(%q) = %+v, %v; want an invalid-input error naming QBACKUP_JOURNAL with %q", tt.in, got, err, tt.wantMsg)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseJournal(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if err := JournalFlag(tt.in)(); err != nil {
				t.Errorf("JournalFlag(%q) refused a good value: %v", tt.in, err)
			}
		})
	}
}
