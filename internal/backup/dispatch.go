package backup

import (
	"context"
	"slices"

	"golang.org/x/sync/errgroup"
)

// dispatch starts the jobs with at most Concurrency running overall (the
// errgroup limit) and PerPeerConcurrency per peer. Jobs are handed out in
// peer round-robin order, and a job whose peer is busy is passed over for
// one whose peer is free, so a busy peer never holds global slots idle.
// It returns how many jobs were started.
func (r *run) dispatch(ctx context.Context, g *errgroup.Group, jobs []job, do func(context.Context, int) error) int {
	sems := map[uint64]chan struct{}{}
	for _, j := range jobs {
		if _, ok := sems[j.PeerID]; !ok {
			sems[j.PeerID] = make(chan struct{}, r.opts.PerPeerConcurrency)
		}
	}
	order := dispatchOrder(jobs)
	freed := make(chan struct{}, 1)
	started := 0
	for len(order) > 0 {
		if ctx.Err() != nil {
			return started
		}
		pick := slices.IndexFunc(order, func(i int) bool {
			select {
			case sems[jobs[i].PeerID] <- struct{}{}:
				return true
			default:
				return false
			}
		})
		if pick < 0 {
			select {
			case <-freed:
			case <-ctx.Done():
			}
			continue
		}
		i := order[pick]
		order = slices.Delete(order, pick, pick+1)
		started++
		g.Go(func() error {
			defer func() {
				<-sems[jobs[i].PeerID]
				select {
				case freed <- struct{}{}:
				default:
				}
			}()
			return do(ctx, i)
		})
	}
	return started
}

// dispatchOrder is the order dispatch hands jobs out in, before busy peers
// reorder it: peer round-robin, each peer's jobs in their given order.
func dispatchOrder(jobs []job) []int {
	queues := map[uint64][]int{}
	var peers []uint64
	for i, j := range jobs {
		if _, ok := queues[j.PeerID]; !ok {
			peers = append(peers, j.PeerID)
		}
		queues[j.PeerID] = append(queues[j.PeerID], i)
	}
	order := make([]int, 0, len(jobs))
	for len(order) < len(jobs) {
		for _, p := range peers {
			if q := queues[p]; len(q) > 0 {
				order = append(order, q[0])
				queues[p] = q[1:]
			}
		}
	}
	return order
}
