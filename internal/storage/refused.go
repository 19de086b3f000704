package storage

import (
	"errors"
	"io/fs"
	"net/http"
	"syscall"
)

// IsWriteRefused reports whether err is a store refusing a write for good
// rather than failing it for the moment: permission denied (a read-only
// directory, an S3 user or bucket policy without PutObject), a read-only
// file system, no space left, or an object lock that forbids it. A
// restore uses it to go on without writing (see restore --journal auto)
// where a retry would not help.
func IsWriteRefused(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrAccessDenied) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	switch apiErrorCode(err) {
	case "AccessDenied", "AllAccessDisabled", "ObjectLocked", "XMinioStorageFull", "XMinioAdminBucketQuotaExceeded":
		return true
	}
	return httpStatus(err) == http.StatusForbidden
}
