package manifest

import (
	"fmt"
	"path"
	"strings"
)

// Object layout under the storage root:
//
//	<cluster>/<backup-id>/manifest.json
//	<cluster>/<backup-id>/manifest.json.age   (with --encrypt-manifest: the manifest;
//	                                           manifest.json is then its readable part, see Public)
//	<cluster>/<backup-id>/shards/<n>.snapshot[.zst].age (shard objects of such a set)
//	<cluster>/<backup-id>/<collection>/<shard-id>.snapshot[.zst]
//	<cluster>/.locks/backup.json
//	<cluster>/.restores/<restore-id>.json
//	<cluster>/.rebalance/journal.json
//	<cluster>/.stored/<backup-id>/<peer-id>/<collection>/<shard-id>.json
//
// Cluster and collection names are escaped (see EscapeName) so any name
// Qdrant accepts maps to one safe path segment. Names starting with a dot
// are never produced by escaping, which keeps the lock and journal folders
// apart from backups.

// ManifestName is the file name of the commit marker.
const ManifestName = "manifest.json"

// EncryptedManifestName is the file name of a manifest encrypted with
// age; ManifestName then holds its readable part (see Public) and stays
// the commit marker.
const EncryptedManifestName = ManifestName + EncryptedSuffix

// ClusterPrefix is the prefix of everything stored for one cluster.
func ClusterPrefix(cluster string) string { return EscapeName(cluster) + "/" }

// BackupPrefix is the prefix of every object of one backup set.
func BackupPrefix(cluster, backupID string) string {
	return ClusterPrefix(cluster) + backupID + "/"
}

// ManifestKey is the key of a backup set's manifest.
func ManifestKey(cluster, backupID string) string {
	return BackupPrefix(cluster, backupID) + ManifestName
}

// EncryptedManifestKey is the key of a backup set's encrypted manifest.
func EncryptedManifestKey(cluster, backupID string) string {
	return BackupPrefix(cluster, backupID) + EncryptedManifestName
}

// Key is where m is stored: ManifestKey, or EncryptedManifestKey when
// the manifest is encrypted.
func (m *Manifest) Key() string {
	if m.ManifestEncrypted {
		return EncryptedManifestKey(m.Cluster, m.BackupID)
	}
	return ManifestKey(m.Cluster, m.BackupID)
}

// IsManifestName reports whether a file name is a set's manifest,
// readable or encrypted: what a deletion removes first, so that a set
// deleted half way is no longer a backup.
func IsManifestName(name string) bool {
	return name == ManifestName || name == EncryptedManifestName
}

// ManifestsFirst returns keys with the manifests first, the order in
// which a set's objects are deleted.
func ManifestsFirst(keys []string) []string {
	ordered := make([]string, 0, len(keys))
	for _, k := range keys {
		if IsManifestName(path.Base(k)) {
			ordered = append(ordered, k)
		}
	}
	for _, k := range keys {
		if !IsManifestName(path.Base(k)) {
			ordered = append(ordered, k)
		}
	}
	return ordered
}

// IsEncryptedManifestKey reports whether key names an encrypted
// manifest.
func IsEncryptedManifestKey(key string) bool { return path.Base(key) == EncryptedManifestName }

// ShardObjectKey is the key of one shard snapshot object.
func ShardObjectKey(cluster, backupID, collection string, shardID uint32, compression string) string {
	k := fmt.Sprintf("%s%s/%d.snapshot", BackupPrefix(cluster, backupID), EscapeName(collection), shardID)
	if compression == CompressionZstd {
		k += ".zst"
	}
	return k
}

// OpaqueShardObjectKey is the key of the n-th shard object of a set whose
// manifest is encrypted: it names neither the collection nor the shard,
// which only the manifest tells (readers take every shard's key from
// the manifest, Shard.Object).
func OpaqueShardObjectKey(cluster, backupID string, n int, compression string) string {
	k := fmt.Sprintf("%sshards/%d.snapshot", BackupPrefix(cluster, backupID), n)
	if compression == CompressionZstd {
		k += ".zst"
	}
	return k
}

// EncryptedSuffix ends the key of an object encrypted with age, after
// the compression's (0.snapshot.zst.age), as the age tool names files.
const EncryptedSuffix = ".age"

// LockKey is the key of the storage lock object used when no catalog is
// configured.
func LockKey(cluster string) string { return ClusterPrefix(cluster) + ".locks/backup.json" }

// RestoreJournalKey is the key of a restore's progress journal when no
// catalog is configured.
func RestoreJournalKey(cluster, restoreID string) string {
	return ClusterPrefix(cluster) + ".restores/" + restoreID + ".json"
}

// RebalanceJournalKey is the key of the journal of a cluster's last
// rebalance (qbackup rebalance).
func RebalanceJournalKey(cluster string) string {
	return ClusterPrefix(cluster) + ".rebalance/journal.json"
}

// StoredSnapshotsPrefix is the prefix of the records of stored snapshots
// a backup created on the peers and has not deleted yet.
func StoredSnapshotsPrefix(cluster string) string { return ClusterPrefix(cluster) + ".stored/" }

// StoredSnapshotKey is the key of the record of one stored snapshot of a
// backup (--snapshot-method=stored), written before the snapshot is
// created and deleted after it was deleted on the peer.
func StoredSnapshotKey(cluster, backupID string, peerID uint64, collection string, shardID uint32) string {
	return fmt.Sprintf("%s%s/%d/%s/%d.json", StoredSnapshotsPrefix(cluster), backupID, peerID, EscapeName(collection), shardID)
}

// ParseManifestKey splits a key produced by ManifestKey. ok is false for any
// other key.
func ParseManifestKey(key string) (cluster, backupID string, ok bool) {
	dir, file := path.Split(key)
	if file != ManifestName {
		return "", "", false
	}
	parts := strings.Split(strings.TrimSuffix(dir, "/"), "/")
	if len(parts) != 2 || !IsBackupID(parts[1]) {
		return "", "", false
	}
	c, err := UnescapeName(parts[0])
	if err != nil {
		return "", "", false
	}
	return c, parts[1], true
}

// EscapeName maps a cluster or collection name to one path segment: ASCII
// letters, digits, '-' and '_' stay, every other byte becomes %XX. The
// mapping is injective, so two names never share objects.
func EscapeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// UnescapeName reverses EscapeName.
func UnescapeName(seg string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		if seg[i] != '%' {
			b.WriteByte(seg[i])
			continue
		}
		if i+2 >= len(seg) {
			return "", fmt.Errorf("escaped name %q: truncated escape", seg)
		}
		var c byte
		if _, err := fmt.Sscanf(seg[i+1:i+3], "%02X", &c); err != nil {
			return "", fmt.Errorf("escaped name %q: bad escape at %d", seg, i)
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), nil
}
