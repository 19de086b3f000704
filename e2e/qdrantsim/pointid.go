package qdrantsim

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// PointID is Qdrant's ExtendedPointId: an unsigned integer or a UUID.
type PointID struct {
	Num    uint64
	UUID   [16]byte
	IsUUID bool
}

// NumID returns a numeric point id.
func NumID(n uint64) PointID { return PointID{Num: n} }

// ParseUUIDID parses a UUID point id in any form Qdrant accepts (hyphenated
// or simple hex, optional braces or urn:uuid: prefix).
func ParseUUIDID(s string) (PointID, error) {
	t := strings.TrimPrefix(strings.ToLower(s), "urn:uuid:")
	t = strings.TrimSuffix(strings.TrimPrefix(t, "{"), "}")
	t = strings.ReplaceAll(t, "-", "")
	var id PointID
	if len(t) != 32 {
		return id, fmt.Errorf("invalid uuid %q", s)
	}
	if _, err := hex.Decode(id.UUID[:], []byte(t)); err != nil {
		return id, fmt.Errorf("invalid uuid %q", s)
	}
	id.IsUUID = true
	return id, nil
}

// Less orders ids as Qdrant does: all numeric ids before all UUIDs, UUIDs in
// byte order.
func (id PointID) Less(o PointID) bool {
	if id.IsUUID != o.IsUUID {
		return !id.IsUUID
	}
	if id.IsUUID {
		return bytes.Compare(id.UUID[:], o.UUID[:]) < 0
	}
	return id.Num < o.Num
}

func (id PointID) String() string {
	if !id.IsUUID {
		return strconv.FormatUint(id.Num, 10)
	}
	h := hex.EncodeToString(id.UUID[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// MarshalJSON writes a number or a hyphenated UUID string.
func (id PointID) MarshalJSON() ([]byte, error) {
	if id.IsUUID {
		return json.Marshal(id.String())
	}
	return []byte(strconv.FormatUint(id.Num, 10)), nil
}

// UnmarshalJSON accepts an unsigned integer or a UUID string.
func (id *PointID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseUUIDID(s)
		if err != nil {
			return fmt.Errorf("value %s is not a valid point ID, valid values are either an unsigned integer or a UUID", b)
		}
		*id = v
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("value %s is not a valid point ID, valid values are either an unsigned integer or a UUID", b)
	}
	*id = PointID{Num: n}
	return nil
}
