package qdrantsim

import (
	"net/http"
	"time"
)

// The 1.15 write lock (POST /locks) lives in the TableOfContent of the peer
// that received it, in memory (lib/storage/src/content_manager/toc/locks.rs):
// it is not a consensus operation, so other peers never learn of it and a
// restart clears it.

// lockState is one peer's write lock.
type lockState struct {
	write bool
	msg   *string
}

// defaultLockMessage is DEFAULT_WRITE_LOCK_ERROR_MESSAGE (toc/locks.rs).
const defaultLockMessage = "Write operations are forbidden"

// LocksOption is the body and answer of /locks (1.15).
type LocksOption struct {
	ErrorMessage *string `json:"error_message,omitempty"`
	Write        bool    `json:"write"`
}

// SetWriteLock sets p's write lock as POST /locks does and returns the
// previous state (src/actix/api/service_api.rs).
func (p *Peer) SetWriteLock(o LocksOption) LocksOption {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	prev := LocksOption{Write: p.lock.write, ErrorMessage: p.lock.msg}
	p.lock = lockState{write: o.Write, msg: o.ErrorMessage}
	return prev
}

// WriteLock returns p's write lock as GET /locks shows it.
func (p *Peer) WriteLock() LocksOption {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return LocksOption{Write: p.lock.write, ErrorMessage: p.lock.msg}
}

func (p *Peer) handleGetLocks(w http.ResponseWriter, r *http.Request) {
	if !p.c.ver.hasLocks() {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeResult(w, time.Now(), p.WriteLock())
}

func (p *Peer) handlePostLocks(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !p.c.ver.hasLocks() {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	var req LocksOption
	if err := decodeBody(r, &req); err != nil {
		writeError(w, start, err, 0)
		return
	}
	writeResult(w, start, p.SetWriteLock(req))
}

// lockErrorLocked is TableOfContent::check_write_lock (toc/locks.rs):
// StorageError::Locked, "Storage locked: <message>", 403 over REST
// (src/actix/helpers.rs) and FailedPrecondition over gRPC
// (content_manager/conversions.rs). Only operations whose
// is_write_operation() is true are checked (lib/collection/src/operations/
// mod.rs, point_ops.rs): upserts, set/overwrite payload, vector updates and
// payload index creation; deletes of points, payload, vectors and indexes
// pass. The dispatcher (lib/storage/src/dispatcher.rs) also checks
// collection and shard key creation. c.mu must be held.
func (p *Peer) lockErrorLocked() error {
	if !p.lock.write {
		return nil
	}
	msg := defaultLockMessage
	if p.lock.msg != nil {
		msg = *p.lock.msg
	}
	return &Error{Kind: KindLocked, Msg: msg}
}

// forwardedLockError is what the peer leading an update gets back when it
// forwards the update to a locked peer's replica: that peer's
// TableOfContent::update refuses it (toc/point_ops.rs checks the lock for
// every update, also ShardId-addressed ones from other peers), tonic sends
// FailedPrecondition, and the leader turns it into
// CollectionError::PreConditionFailed (lib/collection/src/operations/
// types.rs, From<tonic::Status>), which is transient. The message embeds
// tonic 0.12's Display of the status ("status: {code:?}, message: {:?},
// details: {:?}, metadata: {:?}"); the response headers Qdrant would print
// in the metadata are left out.
func forwardedLockError(locked error) *Error {
	return errf(KindPreconditionFailed,
		`Precondition failed: status: FailedPrecondition, message: %q, details: b"", metadata: MetadataMap { headers: {} }`,
		locked.Error())
}
