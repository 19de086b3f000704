package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/printer"
	"github.com/qbackup/qbackup/internal/verify"
)

type verifyCmd struct {
	config.Source `embed:""`
	Backup        string `arg:"" name:"backup" default:"latest" help:"Backup id, or latest."`
	config.Output `embed:""`
}

func (c *verifyCmd) Help() string {
	return `Re-reads every object of a backup and checks its size and SHA-256 against
the manifest. An encrypted set (backup --encrypt-recipient) is also
decrypted with QBACKUP_AGE_IDENTITY and the snapshots inside checked against
the manifest's. The result is recorded in the catalog (verified or
corrupt). Exits 5 and names each bad object when the set is corrupt.

Example:
  qbackup verify latest

` + config.StorageSecretsHelp
}

func (c *verifyCmd) Run(ctx context.Context, env *runEnv) error {
	env.report.Cluster = c.Cluster
	rs, err := cli.OpenReadSide(ctx, c.Source, env.log)
	if err != nil {
		return err
	}
	defer rs.Close()
	m, err := rs.Load(ctx, c.Cluster, c.Backup)
	if err != nil {
		return err
	}
	rep, err := verify.Run(ctx, rs.Store, m, rs.Identities)
	if err != nil && !errors.Is(err, verify.ErrCorrupt) {
		// Storage failed or no identity opens the set: that says nothing
		// about the set, so nothing is recorded.
		return err
	}
	status, detail := catalog.VerifyVerified, ""
	if !rep.OK() {
		status, detail = catalog.VerifyCorrupt, badObjects(rep)
	}
	openSummaries(c.Source, env.log).verified(m, status, detail)
	if rs.Catalog != nil {
		if err := rs.Catalog.SetVerifyStatus(ctx, m.Cluster, m.BackupID, status, detail); err != nil {
			return fmt.Errorf("record the verification of %s: %w", m.BackupID, err)
		}
	}
	if c.Format == "json" || c.Format == "yaml" {
		if err := printer.Structured(env.stdout, c.Format, rep); err != nil {
			return err
		}
	} else if rep.OK() {
		fmt.Fprintf(env.stdout, "backup %s is intact: %d objects, %s read, sizes and SHA-256 match the manifest\n", m.BackupID, rep.Objects, printer.Bytes(rep.Bytes))
	}
	if !rep.OK() {
		return fmt.Errorf("backup %s: %s: %w", m.BackupID, badObjects(rep), verify.ErrCorrupt)
	}
	env.summary = fmt.Sprintf("backup %s is intact: %d objects, %d bytes read", m.BackupID, rep.Objects, rep.Bytes)
	return nil
}

func badObjects(rep *verify.Report) string {
	parts := make([]string, 0, len(rep.Bad))
	for _, b := range rep.Bad {
		parts = append(parts, b.String())
	}
	return fmt.Sprintf("%d bad objects: %s", len(rep.Bad), strings.Join(parts, "; "))
}
