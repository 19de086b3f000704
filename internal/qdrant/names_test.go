package qdrant

import (
	"strings"
	"testing"
)

func TestCheckCollectionName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" for valid
	}{
		{"a plain name", "docs_drill-2", ""},
		{"unicode within the limit", strings.Repeat("é", 255), ""},
		{"exactly 255 characters", strings.Repeat("a", 255), ""},
		{"256 characters", strings.Repeat("a", 256), "at most 255"},
		{"empty", "", "empty"},
		{"a slash", "docs/drill", "'/'"},
		{"a backslash", `docs\drill`, `'\\'`},
		{"a colon", "docs:drill", "':'"},
		{"a question mark", "docs?", "'?'"},
		{"an asterisk", "docs*", "'*'"},
		{"a pipe", "a|b", "'|'"},
		{"angle brackets", "<docs>", "'<'"},
		{"a double quote", `do"cs`, `'"'`},
		{"NUL", "do\x00cs", `'\x00'`},
		{"unit separator", "do\x1fcs", `'\x1f'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCollectionName(tt.in)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error saying %s", err, tt.want)
			}
		})
	}
}
