package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// tempPrefix starts the name of every temporary file the file backend
// writes. List never reports such files, and keys whose last segment starts
// with it are refused, so a half-written object can never be read.
const tempPrefix = ".qbackup-tmp-"

// File stores objects as files under a root directory; a key "a/b/c" is
// the file <root>/a/b/c. Writes are atomic: a temporary file in the target
// directory, fsync, rename, fsync of the directory.
type File struct {
	root string // absolute, cleaned
}

var (
	_ Backend     = (*File)(nil)
	_ Conditional = (*File)(nil)
)

// NewFile returns a backend rooted at dir, which must be an absolute path.
// The directory is created if it does not exist.
func NewFile(dir string) (*File, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("file storage root %q: must be an absolute path (file:///abs/path)", dir)
	}
	root := filepath.Clean(dir)
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("file storage root: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("file storage root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file storage root %s: not a directory", root)
	}
	return &File{root: root}, nil
}

// OpenFile returns a backend rooted at dir (absolute) without creating
// anything: the directory is made by the first write, so a command that
// fails early, or only reads, leaves no directory behind. With mustExist
// (commands that only read) a missing directory is refused; else the
// nearest existing parent must be a directory this process may write to.
// Refusals match ErrInvalidURL: they are about what the user named.
func OpenFile(dir string, mustExist bool) (*File, error) {
	if !filepath.IsAbs(dir) {
		return nil, invalidURL("file storage %q: must be an absolute path (file:///abs/path)", dir)
	}
	root := filepath.Clean(dir)
	fi, err := os.Stat(root)
	switch {
	case err == nil && fi.IsDir():
		return &File{root: root}, nil
	case err == nil:
		return nil, invalidURL("file storage %s: not a directory: name a directory in --storage=file:///abs/path", root)
	case errors.Is(err, syscall.ENOTDIR):
		return nil, invalidURL("file storage %s: a parent of it is a file, not a directory: check --storage", root)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, invalidURL("file storage %s: %v: check --storage and the permissions", root, err)
	case mustExist:
		return nil, invalidURL("file storage %s: no such directory (nothing was created): check --storage; a backup creates it", root)
	}
	// Missing: the first write creates it, under the nearest parent that
	// exists. Check that parent now rather than after the snapshots.
	parent := filepath.Dir(root)
	for {
		pfi, err := os.Stat(parent)
		if err == nil {
			if !pfi.IsDir() {
				return nil, invalidURL("file storage %s: %s is a file, not a directory: check --storage", root, parent)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, invalidURL("file storage %s: %v: check --storage and the permissions", root, err)
		}
		parent = filepath.Dir(parent)
	}
	if err := syscall.Access(parent, 0x2|0x1); err != nil { // W_OK|X_OK: may create entries in it
		return nil, invalidURL("file storage %s does not exist and cannot be created: %s is not writable (%v): check --storage and the permissions", root, parent, err)
	}
	return &File{root: root}, nil
}

// String returns the storage URL of the backend.
func (f *File) String() string { return "file://" + filepath.ToSlash(f.root) }

func (f *File) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	if strings.HasPrefix(key[strings.LastIndexByte(key, '/')+1:], tempPrefix) {
		return "", fmt.Errorf("object key %q: %w: names starting with %q are reserved for temporary files", key, ErrInvalidKey, tempPrefix)
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

// Put implements Backend.
func (f *File) Put(ctx context.Context, key string, r io.Reader) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	tmp, err := f.writeTemp(ctx, p, r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent implements Conditional: the complete temporary file is
// hard-linked to the final name, which fails if the name exists.
func (f *File) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	tmp, err := f.writeTemp(ctx, p, r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer func() { _ = os.Remove(tmp) }()
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w", key, ErrExists)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// writeTemp copies r into a synced temporary file next to p and returns
// its name. On error the temporary file is removed.
func (f *File) writeTemp(ctx context.Context, p string, r io.Reader) (name string, err error) {
	dir := filepath.Dir(p)
	var tf *os.File
	// A concurrent Delete may remove the (then empty) directory between
	// MkdirAll and CreateTemp; try again a few times.
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return "", err
		}
		tf, err = os.CreateTemp(dir, tempPrefix+"*")
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 3 {
			return "", err
		}
	}
	defer func() {
		if err != nil {
			_ = tf.Close()
			_ = os.Remove(tf.Name())
		}
	}()
	if _, err := io.Copy(tf, ctxReader{ctx: ctx, r: r}); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := tf.Sync(); err != nil {
		return "", err
	}
	if err := tf.Close(); err != nil {
		return "", err
	}
	return tf.Name(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open implements Backend.
func (f *File) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("open %s at %d: %w", key, offset, ErrInvalidOffset)
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, mapFileErr(err))
	}
	fi, err := fh.Stat()
	if err != nil {
		_ = fh.Close()
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	if fi.IsDir() {
		_ = fh.Close()
		return nil, fmt.Errorf("open %s: %w", key, ErrNotFound)
	}
	if offset > fi.Size() {
		_ = fh.Close()
		return nil, fmt.Errorf("open %s at %d (size %d): %w", key, offset, fi.Size(), ErrInvalidOffset)
	}
	if offset > 0 {
		if _, err := fh.Seek(offset, io.SeekStart); err != nil {
			_ = fh.Close()
			return nil, fmt.Errorf("open %s: %w", key, err)
		}
	}
	return fh, nil
}

// Stat implements Backend.
func (f *File) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	p, err := f.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, mapFileErr(err))
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List implements Backend. It walks only the directories that can hold
// matching keys and visits the entries of each directory in key order:
// a directory "a" is ordered as "a/", so "a-b" < "a/x" < "a0" as in S3.
func (f *File) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	// Start at the deepest directory named completely by the prefix.
	start := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i+1]
	}
	return f.walk(ctx, start, prefix, fn)
}

// walk lists directory dirKey ("" or ending in '/').
func (f *File) walk(ctx context.Context, dirKey, prefix string, fn func(ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(f.root, filepath.FromSlash(dirKey)))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // nothing stored there, or removed by a concurrent Delete
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	type item struct {
		key string // directories end in '/'
		e   fs.DirEntry
	}
	items := make([]item, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) {
			continue
		}
		k := dirKey + name
		if e.IsDir() {
			k += "/"
			// Descend only if the directory can contain matching keys.
			if !strings.HasPrefix(k, prefix) && !strings.HasPrefix(prefix, k) {
				continue
			}
		} else if !e.Type().IsRegular() || !strings.HasPrefix(k, prefix) {
			continue
		}
		items = append(items, item{key: k, e: e})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].key < items[j].key })
	for _, it := range items {
		if it.e.IsDir() {
			if err := f.walk(ctx, it.key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		fi, err := it.e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if err := fn(ObjectInfo{Key: it.key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements Backend. Directories left empty are removed, up to
// (not including) the root.
func (f *File) Delete(ctx context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	// Best effort: a directory that is not empty (or is being written to)
	// stays, which ends the loop.
	for dir := filepath.Dir(p); dir != f.root && strings.HasPrefix(dir, f.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

func mapFileErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	// "a/b" where "a" is a file: ENOTDIR means the key does not exist.
	if errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// AbortStaleUploads removes the temporary files that writes of killed runs
// left under prefix (a write goes to a temporary file that is renamed
// into place, so a crash leaves the file, never a partial object): the
// file store's equivalent of incomplete multipart uploads. stale decides
// per file, given the key the file sits at and its modification time.
func (f *File) AbortStaleUploads(ctx context.Context, prefix string, stale func(key string, initiated time.Time) bool) (int, error) {
	if err := validatePrefix(prefix); err != nil {
		return 0, err
	}
	dirKey := prefix[:strings.LastIndexByte(prefix, '/')+1]
	start := filepath.Join(f.root, filepath.FromSlash(dirKey))
	n := 0
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		rel, err := filepath.Rel(f.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // renamed into place meanwhile: a write that finished
		}
		if err != nil {
			return err
		}
		if !stale(key, info.ModTime()) {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove temporary file %s: %w", key, err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("sweep temporary files under %q: %w", prefix, err)
	}
	return n, nil
}
