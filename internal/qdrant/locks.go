package qdrant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// locksOption is Qdrant's LocksOption (POST and GET /locks, up to 1.15).
type locksOption struct {
	Write        bool    `json:"write"`
	ErrorMessage *string `json:"error_message,omitempty"`
}

// WriteLockSupported reports whether the peer offers the global write lock
// (GET /locks answers). Qdrant removed /locks in 1.16.
func (c *Client) WriteLockSupported(ctx context.Context) (bool, error) {
	_, err := c.locks(ctx, "read write lock (GET /locks)", http.MethodGet, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotSupported):
		return false, nil
	default:
		return false, err
	}
}

// WritesLocked reports whether the global write lock is held (GET /locks);
// an operator's lock must not be released by a backup that found it held.
func (c *Client) WritesLocked(ctx context.Context) (bool, error) {
	cur, err := c.locks(ctx, "read write lock (GET /locks)", http.MethodGet, nil)
	if err != nil {
		return false, err
	}
	return cur.Write, nil
}

// LockWrites takes Qdrant's global write lock (POST /locks
// {"write":true,"error_message":reason}): writes then fail with reason.
// On a peer without /locks (1.16+) the error wraps ErrNotSupported.
func (c *Client) LockWrites(ctx context.Context, reason string) error {
	_, err := c.locks(ctx, "take write lock (POST /locks)", http.MethodPost, &locksOption{Write: true, ErrorMessage: &reason})
	return err
}

// UnlockWrites releases the global write lock (POST /locks {"write":false}).
func (c *Client) UnlockWrites(ctx context.Context) error {
	_, err := c.locks(ctx, "release write lock (POST /locks)", http.MethodPost, &locksOption{Write: false})
	return err
}

func (c *Client) locks(ctx context.Context, op, method string, body *locksOption) (*locksOption, error) {
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	var out locksOption
	var in any
	if body != nil {
		in = body
	}
	err := c.callJSON(ctx, jsonCall{op: op, method: method, path: "/locks", body: in, out: &out})
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed) {
		return nil, fmt.Errorf("%s on %s: %w (the global write lock exists up to Qdrant 1.15)", op, c.peer(), ErrNotSupported)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}
