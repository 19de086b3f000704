// Package qdrant is qbackup's client for one Qdrant peer.
//
// Every Client talks to exactly one peer — never to a load-balancing
// Service — because Qdrant's snapshot operations act only on the peer that
// receives them. A Client combines two transports:
//
//   - REST (a small typed client over net/http) for everything the official
//     Go client does not cover: cluster status, collection config as raw
//     JSON, shard snapshots (stream, create, list, download, delete),
//     recover, upload and the 1.15 write lock;
//   - gRPC through github.com/qdrant/go-client for collections, aliases,
//     points (count, scroll, upsert), shard keys and cluster setup
//     operations.
//
// Errors from both transports are *APIError values that unwrap to the
// sentinels ErrNotFound, ErrConflict, ErrUnauthorized, ErrForbidden and
// ErrNotSupported, so callers decide with errors.Is. The API key is sent as
// the "api-key" header (REST) and metadata (gRPC) and never appears in an
// error or a log record.
//
// Snapshot bodies are streamed, never buffered: StreamShardSnapshot and
// DownloadShardSnapshot hand back the response body (a short body surfaces
// as an error wrapping io.ErrUnexpectedEOF) and UploadShardSnapshot writes
// the multipart request through an io.Pipe.
package qdrant
