package qdrant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	qc "github.com/qdrant/go-client/qdrant"
)

// ShardKey is a shard key of a custom-sharded collection as Qdrant has
// it: a keyword or an unsigned integer. It reads and writes Qdrant's JSON
// form (a JSON string or number). The manifest keeps its own type for the
// recorded key; the engines convert between the two.
type ShardKey struct {
	Str   string
	Num   uint64
	IsNum bool
}

// StringKey builds a keyword shard key.
func StringKey(s string) ShardKey { return ShardKey{Str: s} }

// NumberKey builds a numeric shard key.
func NumberKey(n uint64) ShardKey { return ShardKey{Num: n, IsNum: true} }

// String renders the key for messages.
func (k ShardKey) String() string {
	if k.IsNum {
		return strconv.FormatUint(k.Num, 10)
	}
	return k.Str
}

// Equal reports whether two keys are the same key.
func (k ShardKey) Equal(o ShardKey) bool {
	return k.IsNum == o.IsNum && k.Str == o.Str && k.Num == o.Num
}

// MarshalJSON writes a JSON number or string.
func (k ShardKey) MarshalJSON() ([]byte, error) {
	if k.IsNum {
		return []byte(strconv.FormatUint(k.Num, 10)), nil
	}
	return json.Marshal(k.Str)
}

// UnmarshalJSON reads a JSON number or string.
func (k *ShardKey) UnmarshalJSON(b []byte) error {
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

func shardKeyFromProto(k *qc.ShardKey) ShardKey {
	if s, ok := k.GetKey().(*qc.ShardKey_Keyword); ok {
		return StringKey(s.Keyword)
	}
	return NumberKey(k.GetNumber())
}

func (k ShardKey) proto() *qc.ShardKey {
	if k.IsNum {
		return qc.NewShardKeyNum(k.Num)
	}
	return qc.NewShardKey(k.Str)
}
