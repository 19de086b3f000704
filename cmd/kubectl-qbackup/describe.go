package main

import (
	"context"
	"fmt"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/printer"
)

type describeCmd struct {
	storeFlags `embed:""`
	Backup     string `arg:"" name:"backup" optional:"" default:"latest" help:"Backup id, or latest (the newest complete set)."`
	Output     string `name:"output" short:"o" enum:"text,json,yaml" default:"text" help:"Output format: text, json or yaml."`
}

func (c *describeCmd) Help() string {
	return `Shows one backup in full, as qbackup describe does (the same printer):
status, verification, Qdrant version, skew, size, the peers, each
collection and its shards. It reads the set's summary (the ConfigMap the
Jobs record; kubectl access alone) when there is one, else its manifest
in storage, as list does; from a summary the shards' object keys and
checksums are "-" (they are in storage: --read-from=storage shows them),
and -o json|yaml carry "summary" (the recorded summary) instead of
"manifest".

Examples:
  kubectl qbackup -n qdrant describe latest
  kubectl qbackup describe 20261125T133000Z-3f9c -o json
  kubectl qbackup describe latest --read-from=storage

` + config.StorageSecretsHelp
}

// Validate runs before the API server or storage is contacted.
func (c *describeCmd) Validate() error {
	if err := c.storeFlags.Validate(); err != nil {
		return err
	}
	if c.Backup != "latest" && !manifest.IsBackupID(c.Backup) {
		return config.Invalidf("%q is not a backup id (e.g. 20261125T133000Z-3f9c) or latest: see kubectl qbackup list", c.Backup)
	}
	return nil
}

func (c *describeCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	l, err := loadBackup(ctx, env, c.storeFlags, k.client, c.Backup, false)
	if err != nil {
		return err
	}
	rep := printer.Description{Manifest: l.Manifest, Catalog: l.Row}
	if l.Summary != nil {
		rep.Manifest, rep.Summary, rep.Source = nil, l.Summary, "summary"
	}
	if c.Output == printer.JSON || c.Output == printer.YAML {
		return printer.Structured(env.stdout, c.Output, rep)
	}
	rep.Manifest = l.Manifest
	rep.ShardsOmitted = l.Summary != nil && l.Summary.Detail != kube.DetailFull
	if err := printer.Describe(env.stdout, rep); err != nil {
		return err
	}
	if l.Summary != nil {
		switch {
		case l.Summary.ManifestEncrypted:
			fmt.Fprintf(env.stdout, "\nPeers and collections: in the encrypted manifest only (--read-from=storage with QBACKUP_AGE_IDENTITY shows them).\n")
		case l.Summary.Detail == kube.DetailCollections:
			fmt.Fprintf(env.stdout, "\nShards: not in the summary (%d shards did not fit in %d bytes).\n", l.Summary.ShardCount, kube.MaxSummaryBytes)
		case l.Summary.Detail == kube.DetailTotals:
			fmt.Fprintf(env.stdout, "\nPeers and collections: not in the summary (%d collections, %d shards did not fit in %d bytes).\n",
				l.Summary.CollectionCount, l.Summary.ShardCount, kube.MaxSummaryBytes)
		}
		_, err = fmt.Fprintf(env.stdout, "\nRead from %s; object keys and checksums are in storage (--read-from=storage).\n", l.Source)
	}
	return err
}
