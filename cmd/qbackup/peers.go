package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/printer"
	"github.com/qbackup/qbackup/internal/qdrant"
)

type peersCmd struct {
	config.Discovery `embed:""`
	config.Output    `embed:""`
}

func (c *peersCmd) Help() string {
	return `Asks every Ready Qdrant pod (or --qdrant-url) GET / and GET /cluster and
prints what each one says: its peer id, the peers in consensus as it sees
them, its raft role and whether it votes, pending consensus operations.
Read-only, and unlike backup and restore it refuses nothing: pods and
peers that disagree are shown as they are. kubectl qbackup restore runs
it as a short Job to compare Qdrant's peer count with the pods.

-o json prints the document on one line (kind QdrantPeers, version 1), so
a reader of the pod's log, where log records are interleaved, finds it.

Examples:
  qbackup peers
  qbackup peers -o json
  QBACKUP_DISCOVERY=static QBACKUP_QDRANT_URLS=http://10.0.0.1:6333 qbackup peers

` + config.SecretsHelp
}

func (c *peersCmd) Run(ctx context.Context, env *runEnv) error {
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return err
	}
	src, err := discoverySource(c.Discovery)
	if err != nil {
		return err
	}
	tlsCfg, err := c.TLS()
	if err != nil {
		return err
	}
	// Each candidate is dialled once, by its probe (concurrently): no
	// cache, but every client is closed at the end.
	var (
		mu     sync.Mutex
		opened []*qdrant.Client
	)
	defer func() {
		for _, cl := range opened {
			cl.Close()
		}
	}()
	dial := func(addr qdrant.PeerAddr) (discovery.ClusterReader, error) {
		cl, err := qdrant.New(ctx, addr, qdrant.Options{APIKey: secrets.QdrantAPIKey, TLS: tlsCfg, Logger: env.log})
		if err != nil {
			return nil, err
		}
		mu.Lock()
		opened = append(opened, cl)
		mu.Unlock()
		return cl, nil
	}
	s, err := discovery.SurveyPeers(ctx, src, dial, 0)
	if err != nil {
		return err
	}
	env.summary = surveySummary(s)
	switch c.Format {
	case "json":
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.stdout, "%s\n", b)
		return err
	case "yaml":
		return printer.Structured(env.stdout, c.Format, s)
	}
	return writeSurvey(env.stdout, s)
}

// discoverySource is where the candidates come from: pods by label, or
// the URLs given.
func discoverySource(d config.Discovery) (discovery.Source, error) {
	if d.Mode == "static" {
		return &discovery.Static{URLs: d.QdrantURLs}, nil
	}
	kc, ns, err := discovery.NewKubeClient(d.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("connect to the Kubernetes API: %w", err)
	}
	if d.Namespace != "" {
		ns = d.Namespace
	}
	return &discovery.Kubernetes{Client: kc, Namespace: ns, Selector: d.Selector, Scheme: d.QdrantScheme}, nil
}

// surveySummary is the run's one line: how many answered and the peer
// counts they reported.
func surveySummary(s *discovery.Survey) string {
	answered := 0
	var counts []string
	for _, p := range s.Pods {
		if p.Error != "" {
			continue
		}
		answered++
		if n := strconv.Itoa(len(p.Peers)); !p.Standalone && !slices.Contains(counts, n) {
			counts = append(counts, n)
		}
	}
	line := fmt.Sprintf("%d of %d Ready pods answered", answered, len(s.Pods))
	if len(counts) > 0 {
		line += "; peers in consensus: " + strings.Join(counts, " or ")
	}
	return line
}

// writeSurvey prints one row per pod, then the pods that are not Ready.
func writeSurvey(w io.Writer, s *discovery.Survey) error {
	fmt.Fprintf(w, "Qdrant peers of %s:\n", s.Source)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tPEER ID\tROLE\tVOTER\tCONSENSUS\tPEERS\tPENDING\tLEADER\tERROR")
	for _, p := range s.Pods {
		switch {
		case p.Error != "":
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\n", p.Name(), p.Error)
		case p.Standalone:
			fmt.Fprintf(tw, "%s\t-\tstandalone\t-\t-\t1\t-\t-\t-\n", p.Name())
		default:
			consensus := p.Consensus
			if p.ConsensusError != "" {
				consensus += ": " + p.ConsensusError
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%t\t%s\t%d\t%d\t%d\t-\n", p.Name(), p.PeerID, orDash(p.Role), p.IsVoter, orDash(consensus), len(p.Peers), p.PendingOperations, p.Leader)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range s.NotReady {
		fmt.Fprintf(w, "not Ready: %s (%s)\n", p.Name, p.Reason)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
