package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/qbackup/qbackup/internal/manifest"
)

// SyncReport lists what SyncCatalog did.
type SyncReport struct {
	// Synced are the manifest keys recorded.
	Synced []string
	// Failed maps manifest keys to why they were not recorded.
	Failed map[string]string
}

// SyncCatalog records every manifest in storage in the catalogue
// (upserting, so running it twice changes nothing): storage is the truth
// and the catalogue an index rebuilt from it. A manifest that cannot be
// read or recorded does not stop the others; the errors are returned
// joined.
func SyncCatalog(ctx context.Context, store Store, cat IndexCatalog) (*SyncReport, error) {
	sets, err := scanSets(ctx, store, "")
	if err != nil {
		return nil, fmt.Errorf("catalog sync: %w", err)
	}
	rep := &SyncReport{Failed: map[string]string{}}
	var errs []error
	for _, s := range sets {
		if s.manifestKey == "" {
			continue
		}
		m, err := manifest.Read(ctx, store, s.manifestKey)
		if err == nil {
			err = cat.SyncManifest(ctx, m)
		}
		if err != nil {
			rep.Failed[s.manifestKey] = err.Error()
			errs = append(errs, fmt.Errorf("catalog sync of %s: %w", s.manifestKey, err))
			continue
		}
		rep.Synced = append(rep.Synced, s.manifestKey)
	}
	return rep, errors.Join(errs...)
}
