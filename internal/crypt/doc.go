// Package crypt encrypts backup objects on the client with age
// (https://age-encryption.org/v1): a backup writes every shard object
// through an age writer to X25519 recipients (public keys), and restore
// and verify read it back through an age reader with the matching
// identities (secret keys from a Secret). Both directions stream: age
// seals 64 KiB chunks with ChaCha20-Poly1305, so memory stays constant
// whatever the object size, and a truncated, reordered or altered chunk
// fails authentication instead of yielding wrong plaintext.
//
// Recipients are public and are recorded in the manifest; identities are
// secrets and never appear in an error, a log line or a manifest.
package crypt
