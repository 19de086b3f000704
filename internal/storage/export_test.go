package storage

// PartBuffersMade is how many upload part buffers an S3 backend has
// allocated so far.
func PartBuffersMade(b Backend) int { return b.(*S3).parts.allocated() }
