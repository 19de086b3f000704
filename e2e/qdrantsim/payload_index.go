package qdrantsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// CreateFieldIndex is the body of PUT /collections/{c}/index.
type CreateFieldIndex struct {
	FieldName   string          `json:"field_name"`
	FieldSchema json.RawMessage `json:"field_schema,omitempty"`
}

// PayloadIndexInfo is one entry of payload_schema in collection info.
type PayloadIndexInfo struct {
	DataType string          `json:"data_type"`
	Params   json.RawMessage `json:"params,omitempty"`
	Points   int             `json:"points"`
}

var payloadTypes = map[string]bool{"keyword": true, "integer": true, "float": true, "geo": true, "text": true,
	"bool": true, "datetime": true, "uuid": true}

// indexType extracts the data type of a PayloadFieldSchema: a type name or
// a params object with "type".
func indexType(schema json.RawMessage) (string, error) {
	var name string
	if json.Unmarshal(schema, &name) == nil {
		if !payloadTypes[name] {
			return "", errf(KindFormat, "field_schema: unknown variant `%s`", name)
		}
		return name, nil
	}
	var params struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(schema, &params); err != nil || !payloadTypes[params.Type] {
		return "", errf(KindFormat, "field_schema: data did not match any variant of untagged enum PayloadFieldSchema")
	}
	return params.Type, nil
}

// CreatePayloadIndex records a payload index; the simulator does not index
// anything, it keeps the schema so that it is echoed and snapshotted.
func (p *Peer) CreatePayloadIndex(ctx context.Context, coll string, req CreateFieldIndex) (UpdateResult, error) {
	if len(bytes.TrimSpace(req.FieldSchema)) == 0 || string(req.FieldSchema) == "null" {
		return UpdateResult{}, errf(KindBadInput, "Can't auto-detect field type, please specify `field_schema` in the request")
	}
	typ, err := indexType(req.FieldSchema)
	if err != nil {
		return UpdateResult{}, err
	}
	if typ == "integer" {
		// validate_integer_index_params (lib/segment/src/data_types/
		// index.rs): a ValidationError without message, which
		// describe_error prints as validator displays it.
		var params struct {
			Lookup *bool `json:"lookup"`
			Range  *bool `json:"range"`
		}
		if json.Unmarshal(req.FieldSchema, &params) == nil && params.Lookup != nil && !*params.Lookup && params.Range != nil && !*params.Range {
			return UpdateResult{}, &Error{Kind: KindValidation,
				Msg: "[field_schema.lookup: Validation error: the 'lookup' and 'range' capabilities can't be both disabled [{}]]"}
		}
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	// Creating an index is a write operation for the 1.15 lock
	// (FieldIndexOperations::is_write_operation); deleting one is not.
	if err := p.lockErrorLocked(); err != nil {
		return UpdateResult{}, err
	}
	col, err := c.resolve(coll)
	if err != nil {
		return UpdateResult{}, err
	}
	// CreateFieldIndex::check_custom (src/common/update.rs): with strict
	// mode on, max_payload_index_count bounds the indexes the collection
	// already has, a replaced one included.
	if _, on := strictLocked(col); on {
		if max, ok := col.config.StrictMode["max_payload_index_count"].(float64); ok && len(col.payloadSchema) >= int(max) {
			return UpdateResult{}, strictError(fmt.Sprintf("Collection already has the maximum number of payload indices (%d)", int(max)),
				"Please delete an existing index before creating a new one.")
		}
	}
	col.payloadSchema[req.FieldName] = req.FieldSchema
	col.opID++
	c.commitLocked(proposal{what: "payload index", droppable: true})
	return UpdateResult{OperationID: col.opID, Status: "completed"}, nil
}

// DeletePayloadIndex drops a payload index.
func (p *Peer) DeletePayloadIndex(ctx context.Context, coll, field string) (UpdateResult, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return UpdateResult{}, err
	}
	delete(col.payloadSchema, field)
	col.opID++
	c.commitLocked(proposal{what: "payload index", droppable: true})
	return UpdateResult{OperationID: col.opID, Status: "completed"}, nil
}

// payloadSchemaInfoLocked builds payload_schema for collection info (each
// value a PayloadIndexInfo), counting the points (one readable replica per
// shard) that have the field.
func (p *Peer) payloadSchemaInfoLocked(col *collection) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for field, schema := range col.payloadSchema {
		typ, _ := indexType(schema)
		info := PayloadIndexInfo{DataType: typ}
		if len(schema) > 0 && schema[0] == '{' {
			info.Params = schema
		}
		for _, id := range col.shardIDs() {
			if d := p.readReplicaLocked(col, id); d != nil {
				for _, pt := range d.points {
					if _, ok := lookup(pt.payload, field); ok {
						info.Points++
					}
				}
			}
		}
		out[field], _ = json.Marshal(info)
	}
	return out
}
