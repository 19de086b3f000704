package kube

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/qbackup/qbackup/internal/discovery"
)

// PeersComponent is the component label of a peers query Job.
const PeersComponent = "peers"

// peersJobTTL is how long a finished peers Job is kept should the plugin
// that created it die before deleting it: long enough to read its log.
const peersJobTTL = 300

// PeersJobName names a peers query Job after the time it was made.
func PeersJobName(now time.Time) string { return "qbackup-peers-" + timestamp(now) }

// PeersJobFromTemplate makes the Job that runs `qbackup peers -o json`
// from the installed restore template: its image, identity (the
// ServiceAccount lists the Qdrant pods) and the configuration and Secret
// the template's container reads from the environment (the Qdrant API key
// among them; never an argument, never logged). The query changes
// nothing and is not retried; it ends within deadline (activeDeadlineSeconds)
// and is deleted ttl after it ends if nobody deleted it sooner.
func PeersJobFromTemplate(tpl *batchv1.CronJob, name string, deadline time.Duration) (*batchv1.Job, error) {
	job, err := jobFromTemplate(tpl, name, []string{"peers", "-o", "json"})
	if err != nil {
		return nil, err
	}
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	job.Labels[ComponentLabel] = PeersComponent
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	job.Spec.Template.Labels[ComponentLabel] = PeersComponent
	zero, ttl := int32(0), int32(peersJobTTL)
	secs := max(int64((deadline+time.Second-1)/time.Second), 1)
	job.Spec.BackoffLimit = &zero
	job.Spec.PodFailurePolicy = nil
	job.Spec.TTLSecondsAfterFinished = &ttl
	job.Spec.ActiveDeadlineSeconds = &secs
	return job, nil
}

// ReadSurvey finds the survey in a peers Job's log: the one line that is
// a JSON document of kind discovery.SurveyKind (log records are
// interleaved with it).
func ReadSurvey(log io.Reader) (*discovery.Survey, error) {
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var s discovery.Survey
		if json.Unmarshal(line, &s) != nil || s.Kind != discovery.SurveyKind {
			continue
		}
		if s.Version != discovery.SurveyVersion {
			return nil, fmt.Errorf("the peers survey is version %d, this plugin reads version %d: use the plugin of the installed qbackup version", s.Version, discovery.SurveyVersion)
		}
		return &s, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no %s document in the log", discovery.SurveyKind)
}

// PeerCheck is Qdrant's own peer count set against the pods.
type PeerCheck struct {
	// Known: at least one pod answered, so Peers is Qdrant's count.
	Known bool
	// Peers is Qdrant's count: the peers in consensus as the leader (or,
	// without one, most answering pods) sees them.
	Peers int
	// ReadyPods and the StatefulSet's Replicas are Kubernetes' counts.
	ReadyPods   int
	StatefulSet string
	Replicas    int32
	// PlanPods are the names the restore preview plans onto, one per
	// peer in consensus: the pod that answers as it, else "peer <id>".
	PlanPods []string
	// Problems name each disagreement; empty when pods and peers agree.
	Problems []string
}

// Agrees says that Qdrant, the Ready pods and the StatefulSet agree.
func (c PeerCheck) Agrees() bool { return len(c.Problems) == 0 }

// Summary is the check in one line: the counts, then what disagrees.
func (c PeerCheck) Summary() string {
	line := fmt.Sprintf("Qdrant reports %d %s, %d %s Ready", c.Peers, plural(c.Peers, "peer", "peers"), c.ReadyPods, plural(c.ReadyPods, "pod", "pods"))
	if !c.Known {
		return "Qdrant's peer count is unknown: " + strings.Join(c.Problems, "; ")
	}
	if c.Agrees() {
		return line + ": they agree"
	}
	return line + ": " + strings.Join(c.Problems, "; ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ComparePeers sets what the Qdrant pods answered (s) against what
// Kubernetes shows (n): a Ready pod whose peer is not in consensus, a peer
// in consensus without a Ready pod, a peer still joining (a learner),
// pending consensus operations, a stopped consensus, a pod that did not
// answer, and the counts themselves.
func ComparePeers(n NodeCount, s *discovery.Survey) PeerCheck {
	c := PeerCheck{ReadyPods: len(n.Ready), StatefulSet: n.StatefulSet, Replicas: n.Replicas}
	ref, ok := reference(s.Pods)
	if !ok {
		c.Problems = append(c.Problems, noAnswer(s.Pods))
		return c
	}
	c.Known = true
	if ref.Standalone {
		c.Peers = 1
		c.PlanPods = []string{ref.Name()}
	} else {
		c.Peers = len(ref.Peers)
	}
	byPeer := map[uint64]string{}
	for _, p := range s.Pods {
		switch {
		case p.Error != "":
			c.Problems = append(c.Problems, fmt.Sprintf("%s did not answer: %s", p.Name(), p.Error))
		case p.Standalone && !ref.Standalone:
			c.Problems = append(c.Problems, p.Name()+" runs Qdrant without cluster mode")
		case p.Standalone:
			if p.Name() != ref.Name() {
				c.Problems = append(c.Problems, p.Name()+" is another Qdrant without cluster mode")
			}
		case ref.Standalone:
			c.Problems = append(c.Problems, fmt.Sprintf("%s (peer %d) runs in cluster mode beside %s, which does not", p.Name(), p.PeerID, ref.Name()))
		default:
			if _, in := ref.Peers[p.PeerID]; !in {
				c.Problems = append(c.Problems, fmt.Sprintf("%s (peer %d) has not joined consensus (it sees %d %s)", p.Name(), p.PeerID, len(p.Peers), plural(len(p.Peers), "peer", "peers")))
				continue
			}
			byPeer[p.PeerID] = p.Name()
			if p.Consensus != "" && p.Consensus != "working" {
				msg := fmt.Sprintf("%s (peer %d): consensus %s", p.Name(), p.PeerID, p.Consensus)
				if p.ConsensusError != "" {
					msg += ": " + p.ConsensusError
				}
				c.Problems = append(c.Problems, msg)
			}
			if !p.IsVoter {
				c.Problems = append(c.Problems, fmt.Sprintf("%s (peer %d) is still joining (a learner, not yet a voter)", p.Name(), p.PeerID))
			}
		}
	}
	if ref.Standalone {
		return c.withCounts()
	}
	ids := make([]uint64, 0, len(ref.Peers))
	for id := range ref.Peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if pod, ok := byPeer[id]; ok {
			c.PlanPods = append(c.PlanPods, pod)
			continue
		}
		c.PlanPods = append(c.PlanPods, "peer "+strconv.FormatUint(id, 10))
		c.Problems = append(c.Problems, fmt.Sprintf("peer %d (%s) has no Ready pod", id, ref.Peers[id]))
	}
	slices.SortFunc(c.PlanPods, cmp.Compare)
	if ref.PendingOperations > 0 {
		c.Problems = append(c.Problems, fmt.Sprintf("%d consensus %s pending (peers may still be joining or leaving)", ref.PendingOperations, plural(int(ref.PendingOperations), "operation", "operations")))
	}
	return c.withCounts()
}

// withCounts adds the count disagreements no pod-level problem explains:
// the StatefulSet's replicas and the Ready pods against Qdrant's count.
func (c PeerCheck) withCounts() PeerCheck {
	if len(c.Problems) == 0 && c.ReadyPods != c.Peers {
		c.Problems = append(c.Problems, "the counts differ")
	}
	if c.StatefulSet != "" && int(c.Replicas) != c.Peers {
		c.Problems = append(c.Problems, fmt.Sprintf("StatefulSet %s wants %d %s, Qdrant has %d", c.StatefulSet, c.Replicas, plural(int(c.Replicas), "replica", "replicas"), c.Peers))
	}
	return c
}

// reference is the answer whose view of consensus counts: the leader's
// (a peer that says it leads), else the view most answering peers share,
// the largest on a tie; a lone standalone peer is its own cluster.
func reference(pods []discovery.PodAnswer) (discovery.PodAnswer, bool) {
	var answered []discovery.PodAnswer
	for _, p := range pods {
		if p.Error == "" {
			answered = append(answered, p)
		}
	}
	if len(answered) == 0 {
		return discovery.PodAnswer{}, false
	}
	for _, p := range answered {
		if !p.Standalone && p.Role == "Leader" {
			return p, true
		}
	}
	views := map[string]int{}
	best, bestKey := -1, ""
	for i, p := range answered {
		if p.Standalone {
			continue
		}
		k := viewKey(p.Peers)
		views[k]++
		if best < 0 || views[k] > views[bestKey] || (views[k] == views[bestKey] && len(p.Peers) > len(answered[best].Peers)) {
			best, bestKey = i, k
		}
	}
	if best < 0 {
		return answered[0], true // standalone only
	}
	return answered[best], true
}

func viewKey(peers map[uint64]string) string {
	ids := make([]string, 0, len(peers))
	for id := range peers {
		ids = append(ids, strconv.FormatUint(id, 10))
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

func noAnswer(pods []discovery.PodAnswer) string {
	if len(pods) == 0 {
		return "no Ready pod to ask"
	}
	var parts []string
	for _, p := range pods {
		parts = append(parts, p.Name()+": "+p.Error)
	}
	return "no Ready pod answered as a Qdrant peer (" + strings.Join(parts, "; ") + ")"
}
