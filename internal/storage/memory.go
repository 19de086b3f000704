package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrInjected is the default error of an injected Fault.
var ErrInjected = errors.New("injected storage fault")

// Op names a Backend operation, for fault injection.
type Op int

// Operations a Fault can target.
const (
	OpPut    Op = iota // Put and PutIfAbsent, while reading the body
	OpOpen             // Open itself fails
	OpRead             // reads from a stream returned by Open
	OpStat             // Stat
	OpList             // List
	OpDelete           // Delete
)

// Fault is a failure injected into a Memory backend, so that packages using
// storage can test their failure paths.
type Fault struct {
	Op     Op
	Prefix string // keys it applies to; "" matches every key
	// After is, for OpPut, the number of body bytes accepted before the
	// Put fails (the object is then not stored); for OpRead, the number of
	// bytes a stream delivers before its Read fails. Ignored otherwise.
	After int64
	// Times is how many times the fault fires; 0 means every time.
	Times int
	// Err is the error returned; ErrInjected if nil.
	Err error
}

// Memory is an in-memory Backend for unit tests, with fault injection. The
// zero value is not usable; call NewMemory.
type Memory struct {
	mu      sync.Mutex
	objects map[string]memObject
	faults  []*Fault
}

type memObject struct {
	data    []byte
	modTime time.Time
}

var (
	_ Backend     = (*Memory)(nil)
	_ Conditional = (*Memory)(nil)
)

// NewMemory returns an empty in-memory backend.
func NewMemory() *Memory { return &Memory{objects: map[string]memObject{}} }

// String identifies the backend in logs.
func (m *Memory) String() string { return "memory://" }

// Inject adds a fault. Faults are checked in the order they were added;
// the first matching one fires.
func (m *Memory) Inject(f Fault) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f.Err == nil {
		f.Err = ErrInjected
	}
	m.faults = append(m.faults, &f)
}

// ClearFaults removes every injected fault.
func (m *Memory) ClearFaults() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = nil
}

// fault returns the first matching fault and consumes one of its firings.
func (m *Memory) fault(op Op, key string) *Fault {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, f := range m.faults {
		if f.Op != op || !strings.HasPrefix(key, f.Prefix) {
			continue
		}
		out := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				m.faults = append(m.faults[:i:i], m.faults[i+1:]...)
			}
		}
		return &out
	}
	return nil
}

// Put implements Backend. The body is read completely before the object
// becomes visible.
func (m *Memory) Put(ctx context.Context, key string, r io.Reader) error {
	data, err := m.readBody(ctx, key, r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = memObject{data: data, modTime: time.Now().UTC()}
	return nil
}

// PutAt stores data at key as if written at modTime: tests that judge
// objects by their age (prune's orphan grace) set it.
func (m *Memory) PutAt(key string, data []byte, modTime time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = memObject{data: data, modTime: modTime}
}

// PutIfAbsent implements Conditional.
func (m *Memory) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	data, err := m.readBody(ctx, key, r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; ok {
		return fmt.Errorf("put %s: %w", key, ErrExists)
	}
	m.objects[key] = memObject{data: data, modTime: time.Now().UTC()}
	return nil
}

func (m *Memory) readBody(ctx context.Context, key string, r io.Reader) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	var src io.Reader = ctxReader{ctx: ctx, r: r}
	f := m.fault(OpPut, key)
	if f != nil {
		src = &failingReader{r: src, left: f.After, err: f.Err}
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, src); err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("put %s: %w", key, err)
	}
	return buf.Bytes(), nil
}

// Open implements Backend.
func (m *Memory) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f := m.fault(OpOpen, key); f != nil {
		return nil, fmt.Errorf("open %s: %w", key, f.Err)
	}
	m.mu.Lock()
	obj, ok := m.objects[key]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("open %s: %w", key, ErrNotFound)
	}
	if offset < 0 || offset > int64(len(obj.data)) {
		return nil, fmt.Errorf("open %s at %d (size %d): %w", key, offset, len(obj.data), ErrInvalidOffset)
	}
	// Objects are never mutated in place (Put replaces the slice), so the
	// reader can share the bytes.
	var r io.Reader = bytes.NewReader(obj.data[offset:])
	if f := m.fault(OpRead, key); f != nil {
		r = &failingReader{r: r, left: f.After, err: f.Err}
	}
	return io.NopCloser(r), nil
}

// Stat implements Backend.
func (m *Memory) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	if f := m.fault(OpStat, key); f != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, f.Err)
	}
	m.mu.Lock()
	obj, ok := m.objects[key]
	m.mu.Unlock()
	if !ok {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	return ObjectInfo{Key: key, Size: int64(len(obj.data)), ModTime: obj.modTime}, nil
}

// List implements Backend. It works on a snapshot of the keys taken at the
// start, so fn may call back into the backend.
func (m *Memory) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	if f := m.fault(OpList, prefix); f != nil {
		return fmt.Errorf("list %s: %w", prefix, f.Err)
	}
	m.mu.Lock()
	infos := make([]ObjectInfo, 0, len(m.objects))
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	m.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements Backend.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if f := m.fault(OpDelete, key); f != nil {
		return fmt.Errorf("delete %s: %w", key, f.Err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

// failingReader delivers left bytes of r, then fails with err.
type failingReader struct {
	r    io.Reader
	left int64
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}
