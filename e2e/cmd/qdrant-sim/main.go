// Command qdrant-sim runs the multi-peer Qdrant simulator for demos and
// manual testing. When every peer is listening it prints one JSON line per
// peer to stdout, {"peer_id":N,"http":"http://127.0.0.2:6333","grpc":"127.0.0.2:6334"},
// then serves until SIGTERM or SIGINT.
//
//	qdrant-sim --peers 3 --version 1.19.0 --http-port 6333 --grpc-port 6334 --admin 127.0.0.1:7000
//
// --write-load RATE keeps writing RATE points per second (upserts,
// overwrites and deletes drawn from --seed) to every collection, or to
// those of --write-collections a,b; the admin API's /write-load shows the
// counters and changes the rate.
//
// --peer-rate 60MiB/s caps each peer's snapshot traffic (streams, stored
// snapshot downloads, uploads; all requests of a peer together), so that
// on one host the peers behave like separate machines in benchmarks.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "qdrant-sim:", err)
		os.Exit(1)
	}
}

// flagSet reports whether a flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// run starts the simulator, prints the peers and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("qdrant-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts qdrantsim.Options
	fs.IntVar(&opts.Peers, "peers", 3, "number of peers")
	fs.StringVar(&opts.Version, "version", "1.19.0", "emulated Qdrant version (1.15.x to 1.19.x)")
	fs.StringVar(&opts.BindBase, "bind-base", "127.0.0.2", "address of the first peer; peer i listens on base+i")
	fs.IntVar(&opts.HTTPPort, "http-port", 6333, "REST port of every peer (0 = a free port per peer)")
	fs.IntVar(&opts.GRPCPort, "grpc-port", 6334, "gRPC port of every peer (0 = a free port per peer)")
	fs.StringVar(&opts.APIKey, "api-key", os.Getenv("QDRANT_SIM_API_KEY"), "API key (default from $QDRANT_SIM_API_KEY)")
	fs.StringVar(&opts.ReadOnlyAPIKey, "read-only-api-key", os.Getenv("QDRANT_SIM_READ_ONLY_API_KEY"), "read-only API key (default from $QDRANT_SIM_READ_ONLY_API_KEY)")
	fs.StringVar(&opts.StateDir, "state-dir", "", "directory for stored snapshots (default: a temporary directory)")
	fs.Uint64Var(&opts.Seed, "seed", 0, "seed of every random choice (0 = pick one; printed at start)")
	fs.StringVar(&opts.Realism, "realism", "", "off, default or harsh (default $QDRANTSIM_REALISM, else off)")
	fs.Int64Var(&opts.TransferRate, "transfer-rate", 0, "shard transfer rate in bytes/s (0 = the realism profile's; off: --transfer-delay)")
	transferDelay := fs.Duration("transfer-delay", time.Second, "duration of a shard transfer (with --realism default or harsh only if given; they rate transfers by bytes)")
	fs.DurationVar(&opts.PeerDownDelay, "peer-down-delay", 2*time.Second, "delay before a stopped peer's replicas turn Dead")
	fs.DurationVar(&opts.Tick, "tick", 100*time.Millisecond, "period of the background loop")
	fs.BoolVar(&opts.ReshardingEnabled, "resharding-enabled", false, "offer Qdrant's resharding API (cluster.resharding_enabled; default refused as in open-source Qdrant)")
	fs.BoolVar(&opts.DisableSnapshotURLRecovery, "disable-snapshot-url-recovery", false, "refuse recovery from http(s) locations (1.18+)")
	fs.DurationVar(&opts.StreamIdleTimeout, "stream-idle-timeout", 0, "abort snapshot streams whose client stalls this long (default 5m from 1.18.2, off before)")
	fs.Float64Var(&opts.WriteLoad.Rate, "write-load", 0, "live writes in points per second (upserts, overwrites, deletes; 0 = off)")
	writeColls := fs.String("write-collections", "", "comma-separated collections the live writes go to (default: every collection)")
	fs.Int64Var(&opts.DiskCapacity, "disk-capacity", 0, "disk size of every peer in bytes (0 = unlimited)")
	fs.IntVar(&opts.MaxRequestSizeMB, "max-request-size-mb", 32, "largest JSON request body in MiB (service.max_request_size_mb)")
	peerRate := fs.String("peer-rate", "0", "cap of each peer's snapshot traffic in and out, e.g. 60MiB/s, 500KB/s or bytes per second (0 = unlimited)")
	admin := fs.String("admin", "", "address of the admin/fault JSON API, e.g. 127.0.0.1:7000 (empty = off)")
	verbose := fs.Bool("v", false, "log background events to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rate, err := parseRate(*peerRate)
	if err != nil {
		return fmt.Errorf("--peer-rate %q: %w", *peerRate, err)
	}
	opts.PeerRate = rate
	for _, name := range strings.Split(*writeColls, ",") {
		if name = strings.TrimSpace(name); name != "" {
			opts.WriteLoad.Collections = append(opts.WriteLoad.Collections, name)
		}
	}
	realism := opts.Realism
	if realism == "" {
		realism = os.Getenv(qdrantsim.RealismEnv)
	}
	if realism == "" || realism == qdrantsim.RealismOff || flagSet(fs, "transfer-delay") {
		opts.TransferDelay = *transferDelay
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	c, err := qdrantsim.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(stderr, "qdrant-sim: seed %d realism %s\n", c.Seed(), c.Realism())
	if *admin != "" {
		addr, err := c.ServeAdmin(ctx, *admin)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		fmt.Fprintf(stderr, "qdrant-sim: admin API on http://%s\n", addr)
	}
	enc := json.NewEncoder(stdout)
	for _, p := range c.Peers() {
		ep := p.Endpoint()
		if err := enc.Encode(struct {
			PeerID uint64 `json:"peer_id"`
			HTTP   string `json:"http"`
			GRPC   string `json:"grpc"`
		}{ep.PeerID, ep.HTTP, ep.GRPC}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// parseRate reads a rate such as "60MiB/s", "500KB/s", "1GiB" or a plain
// number of bytes per second; the "/s" is optional.
func parseRate(s string) (int64, error) {
	v := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("want a non-negative rate such as 60MiB/s, 500KB/s or a number of bytes per second")
	}
	return int64(f * mult), nil
}
