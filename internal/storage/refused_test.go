package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
)

func TestIsWriteRefused(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"a read-only directory", fmt.Errorf("put x: %w", &os.PathError{Op: "open", Path: "/d/x", Err: syscall.EACCES}), true},
		{"a read-only file system", fmt.Errorf("put x: %w", &os.PathError{Op: "open", Path: "/d/x", Err: syscall.EROFS}), true},
		{"a full disk", fmt.Errorf("put x: %w", &os.PathError{Op: "write", Path: "/d/x", Err: syscall.ENOSPC}), true},
		{"S3 access denied", fmt.Errorf("put x: %w", &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied."}), true},
		{"an object lock", fmt.Errorf("put x: %w", &smithy.GenericAPIError{Code: "ObjectLocked"}), true},
		{"the sentinel", fmt.Errorf("open: %w", ErrAccessDenied), true},
		{"a server error is passing", fmt.Errorf("put x: %w", &smithy.GenericAPIError{Code: "InternalError"}), false},
		{"a missing object is not a refusal", fmt.Errorf("open: %w", fs.ErrNotExist), false},
		{"a plain error", errors.New("connection reset by peer"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsWriteRefused(tt.err); got != tt.want {
				t.Errorf("IsWriteRefused(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
