package manifest

import "encoding/json"

func jsonMarshal(m *Manifest) ([]byte, error) { return json.Marshal(m) }
