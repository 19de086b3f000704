package kube

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/discovery"
)

// answer is pod i answering as peer id, seeing peers (ids to URIs of
// their own), as a voting follower with consensus working.
func answer(i int, id uint64, peers ...uint64) discovery.PodAnswer {
	a := discovery.PodAnswer{Pod: pod(i), URL: "http://10.0.0." + string(rune('1'+i)) + ":6333", PeerID: id, Peers: map[uint64]string{},
		Role: "Follower", IsVoter: true, Consensus: "working", QdrantVersion: "1.19.0"}
	for _, p := range peers {
		a.Peers[p] = "http://qdrant-" + string(rune('0'+p-100)) + ".qdrant-headless:6335/"
	}
	return a
}

func leader(a discovery.PodAnswer) discovery.PodAnswer {
	a.Role, a.Leader = "Leader", a.PeerID
	return a
}

func survey(pods ...discovery.PodAnswer) *discovery.Survey {
	return &discovery.Survey{Kind: discovery.SurveyKind, Version: discovery.SurveyVersion, Pods: pods}
}

func TestComparePeers(t *testing.T) {
	three := []uint64{100, 101, 102}
	sts := func(ready int, replicas int32) NodeCount {
		return NodeCount{Namespace: "qdrant", Ready: pods(ready), StatefulSet: "qdrant", Replicas: replicas}
	}
	for _, tc := range []struct {
		name     string
		nodes    NodeCount
		survey   *discovery.Survey
		wantPlan []string
		want     string
	}{
		{
			name:     "all agree",
			nodes:    sts(3, 3),
			survey:   survey(leader(answer(0, 100, three...)), answer(1, 101, three...), answer(2, 102, three...)),
			wantPlan: pods(3),
			want:     "Qdrant reports 3 peers, 3 pods Ready: they agree",
		},
		{
			name:  "a pod that has not joined",
			nodes: sts(3, 3),
			survey: survey(leader(answer(0, 100, 100, 101)), answer(1, 101, 100, 101),
				answer(2, 777, 777)),
			wantPlan: pods(2),
			want:     "Qdrant reports 2 peers, 3 pods Ready: qdrant-2 (peer 777) has not joined consensus (it sees 1 peer); StatefulSet qdrant wants 3 replicas, Qdrant has 2",
		},
		{
			name:     "a peer with no pod",
			nodes:    sts(2, 2),
			survey:   survey(leader(answer(0, 100, three...)), answer(1, 101, three...)),
			wantPlan: []string{"peer 102", "qdrant-0", "qdrant-1"},
			want:     "Qdrant reports 3 peers, 2 pods Ready: peer 102 (http://qdrant-2.qdrant-headless:6335/) has no Ready pod; StatefulSet qdrant wants 2 replicas, Qdrant has 3",
		},
		{
			name:  "a learner still joining, operations pending",
			nodes: sts(3, 3),
			survey: func() *discovery.Survey {
				l := leader(answer(0, 100, three...))
				l.PendingOperations = 2
				learner := answer(2, 102, three...)
				learner.IsVoter = false
				return survey(l, answer(1, 101, three...), learner)
			}(),
			wantPlan: pods(3),
			want:     "Qdrant reports 3 peers, 3 pods Ready: qdrant-2 (peer 102) is still joining (a learner, not yet a voter); 2 consensus operations pending (peers may still be joining or leaving)",
		},
		{
			name:  "a pod that does not answer, no leader known: the shared view counts",
			nodes: sts(3, 3),
			survey: func() *discovery.Survey {
				down := answer(2, 0)
				down.Error, down.Peers = "connect: connection refused", nil
				return survey(answer(0, 100, three...), answer(1, 101, three...), down)
			}(),
			wantPlan: []string{"peer 102", "qdrant-0", "qdrant-1"},
			want:     "Qdrant reports 3 peers, 3 pods Ready: qdrant-2 did not answer: connect: connection refused; peer 102 (http://qdrant-2.qdrant-headless:6335/) has no Ready pod",
		},
		{
			name:  "consensus stopped",
			nodes: NodeCount{Ready: pods(2)},
			survey: func() *discovery.Survey {
				stopped := answer(1, 101, 100, 101)
				stopped.Consensus, stopped.ConsensusError = "stopped_with_err", "raft: storage error"
				return survey(leader(answer(0, 100, 100, 101)), stopped)
			}(),
			wantPlan: pods(2),
			want:     "Qdrant reports 2 peers, 2 pods Ready: qdrant-1 (peer 101): consensus stopped_with_err: raft: storage error",
		},
		{
			name:     "one standalone peer",
			nodes:    NodeCount{Ready: pods(1)},
			survey:   survey(discovery.PodAnswer{Pod: "qdrant-0", URL: "http://10.0.0.1:6333", Standalone: true}),
			wantPlan: pods(1),
			want:     "Qdrant reports 1 peer, 1 pod Ready: they agree",
		},
		{
			name:  "a standalone pod beside a cluster",
			nodes: NodeCount{Ready: pods(3)},
			survey: survey(leader(answer(0, 100, 100, 101)), answer(1, 101, 100, 101),
				discovery.PodAnswer{Pod: "qdrant-2", URL: "http://10.0.0.3:6333", Standalone: true}),
			wantPlan: pods(2),
			want:     "Qdrant reports 2 peers, 3 pods Ready: qdrant-2 runs Qdrant without cluster mode",
		},
		{
			name:     "counts differ with no pod to blame (the pods changed between the two reads)",
			nodes:    NodeCount{Ready: pods(3)},
			survey:   survey(leader(answer(0, 100, 100, 101)), answer(1, 101, 100, 101)),
			wantPlan: pods(2),
			want:     "Qdrant reports 2 peers, 3 pods Ready: the counts differ",
		},
		{
			name:  "no pod answers",
			nodes: sts(2, 2),
			survey: func() *discovery.Survey {
				a, b := answer(0, 0), answer(1, 0)
				a.Error, b.Error = "unauthorized: check QBACKUP_QDRANT_API_KEY", "timeout"
				return survey(a, b)
			}(),
			want: "Qdrant's peer count is unknown: no Ready pod answered as a Qdrant peer (qdrant-0: unauthorized: check QBACKUP_QDRANT_API_KEY; qdrant-1: timeout)",
		},
		{
			name:   "no Ready pod",
			nodes:  NodeCount{},
			survey: survey(),
			want:   "Qdrant's peer count is unknown: no Ready pod to ask",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ComparePeers(tc.nodes, tc.survey)
			if got := c.Summary(); got != tc.want {
				t.Errorf("summary\n got %s\nwant %s", got, tc.want)
			}
			if !slices.Equal(c.PlanPods, tc.wantPlan) {
				t.Errorf("plan pods %v, want %v", c.PlanPods, tc.wantPlan)
			}
			if c.Known != (tc.wantPlan != nil) {
				t.Errorf("known %v", c.Known)
			}
			if c.Known && c.Peers != len(c.PlanPods) {
				t.Errorf("%d peers but %d plan pods", c.Peers, len(c.PlanPods))
			}
		})
	}
}

func TestReadSurvey(t *testing.T) {
	doc := `{"kind":"QdrantPeers","version":1,"source":"pods","pods":[{"pod":"qdrant-0","url":"http://10.0.0.1:6333","peerId":100,"peers":{"100":"u"},"isVoter":true}]}`
	for _, tc := range []struct {
		name, log string
		wantPod   string
		wantErr   string
	}{
		{"between log records", `{"time":"t","level":"INFO","msg":"started"}` + "\nplain text\n" + doc + "\n" + `{"level":"INFO","msg":"summary"}` + "\n", "qdrant-0", ""},
		{"alone", doc, "qdrant-0", ""},
		{"none", `{"level":"INFO","msg":"x"}` + "\n", "", "no QdrantPeers document in the log"},
		{"another version", strings.Replace(doc, `"version":1`, `"version":2`, 1), "", "version 2, this plugin reads version 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReadSurvey(strings.NewReader(tc.log))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Pods) != 1 || s.Pods[0].Pod != tc.wantPod || s.Pods[0].Peers[100] != "u" {
				t.Errorf("survey %+v", s)
			}
		})
	}
}

func TestPeersJobFromTemplate(t *testing.T) {
	tpl := installed(t, "restore-template.yaml")
	job, err := PeersJobFromTemplate(tpl, PeersJobName(now), 90*time.Second+time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "qbackup-peers-20261125163005" {
		t.Errorf("name %s", job.Name)
	}
	c := job.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"peers", "-o", "json"}) {
		t.Errorf("args %q", c.Args)
	}
	// The API key reaches the query through the template's Secret, in the
	// environment; never in the arguments.
	if len(c.EnvFrom) != 2 || c.EnvFrom[1].SecretRef == nil || c.EnvFrom[1].SecretRef.Name != "qbackup-secrets" {
		t.Errorf("envFrom %+v", c.EnvFrom)
	}
	if job.Labels[ComponentLabel] != PeersComponent || job.Spec.Template.Labels[ComponentLabel] != PeersComponent {
		t.Errorf("labels %v, pod labels %v", job.Labels, job.Spec.Template.Labels)
	}
	if *job.Spec.BackoffLimit != 0 || *job.Spec.ActiveDeadlineSeconds != 91 || *job.Spec.TTLSecondsAfterFinished != peersJobTTL || job.Spec.PodFailurePolicy != nil {
		t.Errorf("spec: backoff %d, deadline %d, ttl %d, failure policy %v", *job.Spec.BackoffLimit, *job.Spec.ActiveDeadlineSeconds, *job.Spec.TTLSecondsAfterFinished, job.Spec.PodFailurePolicy)
	}
	if got := tpl.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"restore"}) {
		t.Errorf("the template was changed: args %q", got)
	}
	if tpl.Spec.JobTemplate.Spec.TTLSecondsAfterFinished == nil || *tpl.Spec.JobTemplate.Spec.TTLSecondsAfterFinished == peersJobTTL {
		t.Errorf("the template's ttl was changed")
	}
}
