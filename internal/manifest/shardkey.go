package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// ShardKeyValue is a Qdrant shard key: a string or an unsigned integer.
// It keeps Qdrant's JSON form (a JSON string or number) so it can be sent
// back to Qdrant unchanged.
type ShardKeyValue struct {
	Str   string
	Num   uint64
	IsNum bool
}

// StringKey and NumberKey build shard key values.
func StringKey(s string) ShardKeyValue { return ShardKeyValue{Str: s} }

// NumberKey builds a numeric shard key value.
func NumberKey(n uint64) ShardKeyValue { return ShardKeyValue{Num: n, IsNum: true} }

// String renders the key for messages and tables.
func (k ShardKeyValue) String() string {
	if k.IsNum {
		return strconv.FormatUint(k.Num, 10)
	}
	return k.Str
}

// MarshalJSON writes a JSON number or string.
func (k ShardKeyValue) MarshalJSON() ([]byte, error) {
	if k.IsNum {
		return []byte(strconv.FormatUint(k.Num, 10)), nil
	}
	return json.Marshal(k.Str)
}

// UnmarshalJSON reads a JSON number or string.
func (k *ShardKeyValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*k = StringKey(s)
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("shard key %s: want a string or an unsigned integer", b)
	}
	*k = NumberKey(n)
	return nil
}

// Equal reports whether two keys are the same key.
func (k ShardKeyValue) Equal(o ShardKeyValue) bool {
	return k.IsNum == o.IsNum && k.Str == o.Str && k.Num == o.Num
}
