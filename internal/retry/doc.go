// Package retry is the one retry loop of the engine: a bounded number of
// attempts with doubling, capped waits, stopping on the first error the
// caller does not call transient and as soon as the context ends.
//
// Every caller retries only what is safe to repeat (a snapshot that has
// not started streaming, an idempotent catalog statement, a shard
// recovery that replaces the whole shard, an unlock); the caller decides
// that through Policy.Retryable.
package retry
