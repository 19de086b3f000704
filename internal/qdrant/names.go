package qdrant

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxCollectionNameLength is the longest collection name Qdrant accepts, in
// characters: `length(min = 1, max = 255)` on the collection path of every
// collection endpoint (Qdrant v1.19.0 src/actix/api/mod.rs, the
// StrictCollectionPath used by PUT /collections/{name}).
const MaxCollectionNameLength = 255

// invalidNameChars are the characters Qdrant refuses in a new collection's
// name, because names become directories on Linux and Windows
// (INVALID_NAME_CHARS in Qdrant v1.19.0
// lib/common/common/src/validation.rs, checked by validate_collection_name).
const invalidNameChars = "<>:\"/\\|?*\x00\x1f"

// CheckCollectionName applies Qdrant's rules for creating a collection, so a
// name Qdrant would refuse with a 422 halfway through a restore is refused
// before anything is created.
func CheckCollectionName(name string) error {
	n := utf8.RuneCountInString(name)
	switch {
	case name == "":
		return fmt.Errorf("collection name is empty")
	case n > MaxCollectionNameLength:
		return fmt.Errorf("collection name %.40q... is %d characters long; Qdrant allows at most %d", name, n, MaxCollectionNameLength)
	}
	if i := strings.IndexAny(name, invalidNameChars); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Errorf("collection name %q contains %q, which Qdrant does not allow (none of < > : \" / \\ | ? * and control characters NUL and 0x1F)", name, r)
	}
	return nil
}
