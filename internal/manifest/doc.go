// Package manifest defines the backup set manifest — the file written last
// into storage that turns a pile of shard objects into one backup — and the
// object layout that every other package uses to name keys.
//
// Storage is the source of truth: a backup exists if and only if its
// manifest.json exists and decodes (for a set whose manifest is
// encrypted, manifest.json is the manifest's readable part, see Public). The catalog is an index rebuilt from
// manifests. The JSON produced here is therefore a compatibility contract:
// fields are only added, never renamed; readers ignore unknown fields; the
// format version is bumped when an older reader would misread a newer file.
package manifest
