package restore

import "errors"

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrInvalidOptions covers option combinations no plan can satisfy.
	ErrInvalidOptions = errors.New("invalid restore options")
	// ErrUnknownCollection is a --collections or --rename name that the
	// backup does not contain.
	ErrUnknownCollection = errors.New("collection not in the backup")
	// ErrUnknownTargetNode is a --target-node that matches no current peer.
	ErrUnknownTargetNode = errors.New("target node not in the cluster")
	// ErrTooFewPods is a direct restore asked for on fewer pods than the
	// backup had.
	ErrTooFewPods = errors.New("too few pods for a direct restore")
	// ErrNoPeers is a target cluster without any peer.
	ErrNoPeers = errors.New("target cluster has no peers")

	// ErrObjectMissing, ErrObjectSize and ErrObjectChecksum are preflight
	// failures of a stored shard object.
	ErrObjectMissing  = errors.New("backup object missing")
	ErrObjectSize     = errors.New("backup object size differs from the manifest")
	ErrObjectChecksum = errors.New("backup object checksum differs from the manifest")
	// ErrPeerNotReady is a target peer that is not Ready or not in consensus.
	ErrPeerNotReady = errors.New("target peer not ready")
	// ErrNodeCount is a disagreement between pods found and peers in
	// consensus.
	ErrNodeCount = errors.New("node count check failed")
	// ErrTransferInProgress is a shard transfer running on a target
	// collection.
	ErrTransferInProgress = errors.New("shard transfer in progress")
	// ErrCollectionExists is a target collection that already exists
	// without --overwrite.
	ErrCollectionExists = errors.New("target collection already exists")
	// ErrTargetTooOld is a target Qdrant older than the backup's.
	ErrTargetTooOld = errors.New("target qdrant version older than the backup's")

	// ErrVerify is a restored collection that differs from the manifest.
	ErrVerify = errors.New("restore verification failed")
	// ErrTimeout is a wait (replicas Active, transfers) that ran out.
	ErrTimeout = errors.New("timed out")
)

// corrupt reports whether err says a backup object is missing, of the
// wrong size or not what the manifest recorded: no retry can help.
func corrupt(err error) bool {
	return errors.Is(err, ErrObjectChecksum) || errors.Is(err, ErrObjectSize) || errors.Is(err, ErrObjectMissing)
}
