package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/printer"
)

// options configure one demo run.
type options struct {
	QBackup string // path of the qbackup binary
	Seed    uint64 // sample data and placement
	Verbose bool   // show qbackup's logs too
	Budget  time.Duration
}

// demo is the state of one run, kept for the final report.
type demo struct {
	opts       options
	out        io.Writer
	q          *qbackup
	cl         *cluster
	dir        string
	data       []*collection
	steps      []stepTime
	placements []namedPlacement
	checked    int
	// backupBytes and backupObjects measure the backup in storage right
	// after it was taken, before restores add their journals.
	backupBytes   int64
	backupObjects int
}

type stepTime struct {
	Name string
	Took time.Duration
}

type namedPlacement struct {
	Title string
	*placement
}

// runDemo runs the whole demo and cleans up after it, also when a step
// fails or ctx is cancelled (Ctrl-C).
func runDemo(ctx context.Context, opts options, out io.Writer) (err error) {
	start := time.Now()
	bin, err := filepath.Abs(opts.QBackup)
	if err != nil {
		return fmt.Errorf("qbackup binary %q: %w", opts.QBackup, err)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("qbackup binary: %w (build it with make build, or pass --qbackup=PATH)", err)
	}
	dir, err := os.MkdirTemp("", "qbackup-demo-")
	if err != nil {
		return fmt.Errorf("create temporary folder: %w", err)
	}
	d := &demo{opts: opts, out: out, dir: dir, data: dataset(opts.Seed),
		q: &qbackup{bin: bin, out: out, verbose: opts.Verbose}}
	defer func() {
		var errs []error
		if d.cl != nil {
			errs = append(errs, d.cl.close())
		}
		errs = append(errs, os.RemoveAll(dir))
		if cerr := errors.Join(errs...); cerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", cerr))
		}
	}()

	fmt.Fprintf(out, "qbackup demo: a backup of a 3-pod Qdrant cluster, restored onto 2 pods, then onto 4.\n")
	fmt.Fprintf(out, "Qdrant is simulated in this process; storage is %s; no catalog.\n", d.storageURL())
	for _, s := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"Start a simulated Qdrant cluster with 3 pods", d.start},
		{"Load sample data over REST", d.load},
		{"Back up the whole cluster", d.backup},
		{"Inspect the backup: list, verify, describe", d.inspect},
		{"Disaster: a pod is gone and so are the collections", d.disaster},
		{"Plan the restore onto 2 pods (--dry-run)", d.plan},
		{"Restore onto 2 pods (consolidate)", d.restoreConsolidate},
		{"Check every point against the loaded data", d.check},
		{"Scale the cluster up to 4 pods", d.scaleUp},
		{"Restore again onto 4 pods (--overwrite: direct, then redistribute)", d.restoreRedistribute},
		{"Check every point again", d.check},
	} {
		if err := d.step(ctx, s.name, s.fn); err != nil {
			return err
		}
	}
	return d.report(time.Since(start))
}

// step runs one step, timing it and naming it in any error.
func (d *demo) step(ctx context.Context, name string, fn func(context.Context) error) error {
	n := len(d.steps) + 1
	fmt.Fprintf(d.out, "\n== %d. %s\n", n, name)
	start := time.Now()
	err := fn(ctx)
	took := time.Since(start)
	if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
		return fmt.Errorf("step %d (%s): interrupted: %w", n, name, err)
	}
	if err != nil {
		return fmt.Errorf("step %d (%s) failed after %s: %w", n, name, took.Round(time.Millisecond), err)
	}
	d.steps = append(d.steps, stepTime{Name: name, Took: took})
	fmt.Fprintf(d.out, "-- done in %s\n", took.Round(time.Millisecond))
	return nil
}

func (d *demo) storageURL() string { return "file://" + filepath.Join(d.dir, "backups") }

// source are the flags that name the backups: the storage and the cluster.
func (d *demo) source() []string {
	return []string{"--storage=" + d.storageURL(), "--cluster=demo"}
}

// target are the discovery flags for the pods running now.
func (d *demo) target() []string {
	return append([]string{"--discovery=static"}, d.cl.urlFlags()...)
}

func (d *demo) start(ctx context.Context) error {
	cl, err := startCluster(ctx, 3, d.opts.Seed)
	if err != nil {
		return err
	}
	d.cl = cl
	fmt.Fprint(d.out, indent(strings.Join(cl.legend(), "\n"), "  "))
	return nil
}

func (d *demo) load(ctx context.Context) error {
	if err := load(ctx, d.cl.api(), d.data); err != nil {
		return err
	}
	for _, c := range d.data {
		fmt.Fprintf(d.out, "  %-9s %5d points  %s\n", c.Name, len(c.Points), describeCollection(c))
	}
	return d.showPlacement(ctx, "backed up (3 pods)")
}

func (d *demo) backup(ctx context.Context) error {
	args := append([]string{"backup"}, d.target()...)
	if _, err := d.q.run(ctx, append(args, d.source()...)...); err != nil {
		return err
	}
	var err error
	d.backupBytes, d.backupObjects, err = d.backupSize()
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  In storage: %s in %d files under %s\n", printer.Bytes(d.backupBytes), d.backupObjects, filepath.Join(d.dir, "backups"))
	return nil
}

func (d *demo) inspect(ctx context.Context) error {
	for _, cmd := range [][]string{{"list"}, {"verify", "latest"}, {"describe", "latest"}} {
		if _, err := d.q.run(ctx, append(cmd, d.source()...)...); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) disaster(ctx context.Context) error {
	gone, err := d.cl.removeLast()
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  %s removed with its volume (StatefulSet scaled down to 2): its replicas are gone.\n", gone)
	api := d.cl.api()
	for _, c := range d.data {
		if err := api.do(ctx, "DELETE", "/collections/"+c.Name, nil, nil); err != nil {
			return fmt.Errorf("delete collection %q: %w", c.Name, err)
		}
	}
	var list struct {
		Collections []struct {
			Name string `json:"name"`
		} `json:"collections"`
	}
	if err := api.do(ctx, "GET", "/collections", nil, &list); err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	fmt.Fprintf(d.out, "  Every collection deleted (their aliases with them): GET /collections lists %d collections.\n", len(list.Collections))
	fmt.Fprint(d.out, indent(strings.Join(d.cl.legend(), "\n"), "  "))
	return nil
}

func (d *demo) plan(ctx context.Context) error {
	fmt.Fprintf(d.out, "  The backup was taken on 3 pods; 2 are left. qbackup plans before it touches anything:\n")
	fmt.Fprintf(d.out, "  same shard counts (point routing depends on them), several shards per pod.\n")
	args := append([]string{"restore", "latest", "--dry-run"}, d.target()...)
	_, err := d.q.run(ctx, append(args, d.source()...)...)
	return err
}

func (d *demo) restoreConsolidate(ctx context.Context) error {
	args := append([]string{"restore", "latest"}, d.target()...)
	if _, err := d.q.run(ctx, append(args, d.source()...)...); err != nil {
		return err
	}
	return d.showPlacement(ctx, "consolidated (2 pods)")
}

func (d *demo) scaleUp(ctx context.Context) error {
	for range 2 {
		if _, err := d.cl.addPeer(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.out, "  Two empty pods joined the cluster:\n")
	fmt.Fprint(d.out, indent(strings.Join(d.cl.legend(), "\n"), "  "))
	return nil
}

func (d *demo) restoreRedistribute(ctx context.Context) error {
	fmt.Fprintf(d.out, "  The collections restored in step 7 exist: --overwrite replaces them (without it the\n")
	fmt.Fprintf(d.out, "  restore stops before changing anything). With 4 pods for a 3-pod backup, the auto plan\n")
	fmt.Fprintf(d.out, "  restores directly, then moves and replicates shards until all 4 pods share them.\n")
	args := append([]string{"restore", "latest", "--overwrite"}, d.target()...)
	if _, err := d.q.run(ctx, append(args, d.source()...)...); err != nil {
		return err
	}
	return d.showPlacement(ctx, "redistributed (4 pods)")
}

func (d *demo) check(ctx context.Context) error {
	res, err := checkContent(ctx, d.cl.api(), d.data)
	if err != nil {
		return err
	}
	if res.Points != totalPoints(d.data) {
		return fmt.Errorf("read back %d points, loaded %d", res.Points, totalPoints(d.data))
	}
	d.checked += res.Points
	fmt.Fprintf(d.out, "  %d points in %d collections equal to what was loaded: ids, vectors, payloads, shard keys.\n", res.Points, res.Collections)
	fmt.Fprintf(d.out, "  Collection configs as created; alias, shard keys and payload index back too\n")
	fmt.Fprintf(d.out, "  (Qdrant snapshots carry none of these three: qbackup recreates them).\n")
	return nil
}

// showPlacement prints where the shards are, checks every replica is Active,
// and keeps the placement for the report.
func (d *demo) showPlacement(ctx context.Context, title string) error {
	l, err := d.cl.readPlacement(ctx, d.data)
	if err != nil {
		return err
	}
	if bad := l.notActive(); len(bad) > 0 {
		return fmt.Errorf("replicas not Active after the step: %s", strings.Join(bad, "; "))
	}
	if short := l.replicaShortfall(d.data); len(short) > 0 {
		return fmt.Errorf("replication factor not met: %s", strings.Join(short, "; "))
	}
	d.placements = append(d.placements, namedPlacement{Title: title, placement: l})
	fmt.Fprintf(d.out, "\n  Shards per pod, %s (GET /collections/{c}/cluster on each pod;\n", title)
	fmt.Fprintf(d.out, "  every replica Active, every shard at its replication factor):\n")
	return printPlacement(d.out, l, d.data)
}

// backupSize sums the objects written to storage.
func (d *demo) backupSize() (bytes int64, objects int, err error) {
	err = filepath.WalkDir(filepath.Join(d.dir, "backups"), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		bytes += info.Size()
		objects++
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("measure the backup: %w", err)
	}
	return bytes, objects, nil
}
