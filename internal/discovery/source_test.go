package discovery

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func testPod(name, ns string, labels map[string]string, phase corev1.PodPhase, ready corev1.ConditionStatus, ip string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Status:     corev1.PodStatus{Phase: phase, PodIP: ip},
	}
	if ready != "" {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, Reason: map[corev1.ConditionStatus]string{corev1.ConditionFalse: "ContainersNotReady"}[ready]}}
	}
	return p
}

func TestKubernetesSourceKeepsRunningReadyPodsOfTheSelector(t *testing.T) {
	q := map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "prod"}
	other := map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "staging"}
	terminating := testPod("qdrant-3", "db", q, corev1.PodRunning, corev1.ConditionTrue, "10.0.0.4")
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	cs := fake.NewClientset(
		testPod("qdrant-1", "db", q, corev1.PodRunning, corev1.ConditionTrue, "10.0.0.2"),
		testPod("qdrant-0", "db", q, corev1.PodRunning, corev1.ConditionTrue, "fd00::1"),
		testPod("qdrant-2", "db", q, corev1.PodRunning, corev1.ConditionFalse, "10.0.0.3"),
		terminating,
		testPod("qdrant-4", "db", q, corev1.PodPending, "", ""),
		testPod("qdrant-s-0", "db", other, corev1.PodRunning, corev1.ConditionTrue, "10.0.1.1"),
		testPod("qdrant-0", "elsewhere", q, corev1.PodRunning, corev1.ConditionTrue, "10.9.0.1"),
	)
	src := &Kubernetes{Client: cs, Namespace: "db", Selector: "app.kubernetes.io/name=qdrant,app.kubernetes.io/instance=prod"}
	got, err := src.Candidates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Ready) != 2 || got.Ready[0].Pod != "qdrant-0" || got.Ready[1].Pod != "qdrant-1" {
		t.Fatalf("ready %+v", got.Ready)
	}
	if got.Ready[0].Addr.REST != "http://[fd00::1]:6333" || got.Ready[0].Addr.GRPC != "[fd00::1]:6334" || got.Ready[1].Addr.REST != "http://10.0.0.2:6333" {
		t.Fatalf("addresses %+v", got.Ready)
	}
	var notReady []string
	for _, p := range got.NotReady {
		notReady = append(notReady, p.String())
	}
	want := "qdrant-2 (Running, not Ready (ContainersNotReady)), qdrant-3 (Terminating), qdrant-4 (Pending)"
	if strings.Join(notReady, ", ") != want {
		t.Fatalf("not ready %q\nwant %q", strings.Join(notReady, ", "), want)
	}
}

func TestKubernetesSourceDefaultsToTheHelmChartLabel(t *testing.T) {
	cs := fake.NewClientset(testPod("qdrant-0", "db", map[string]string{"app.kubernetes.io/name": "qdrant"}, corev1.PodRunning, corev1.ConditionTrue, "10.0.0.1"))
	src := &Kubernetes{Client: cs, Namespace: "db", RESTPort: 7333, GRPCPort: 7334}
	got, err := src.Candidates(context.Background())
	if err != nil || len(got.Ready) != 1 || got.Ready[0].Addr.REST != "http://10.0.0.1:7333" || got.Ready[0].Addr.GRPC != "10.0.0.1:7334" {
		t.Fatalf("%+v %v", got, err)
	}
	if !strings.Contains(src.Describe(), `selector "app.kubernetes.io/name=qdrant"`) {
		t.Fatal(src.Describe())
	}
}

func TestStaticURLs(t *testing.T) {
	for _, tc := range []struct {
		in, rest, grpc, err string
	}{
		{in: "http://10.0.0.1:6333", rest: "http://10.0.0.1:6333", grpc: "10.0.0.1:6334"},
		{in: "http://qdrant.local", rest: "http://qdrant.local:6333", grpc: "qdrant.local:6334"},
		{in: "https://h:443/", rest: "https://h:443", grpc: "h:6334"},
		{in: "http://127.0.0.2:40001?grpc=40002", rest: "http://127.0.0.2:40001", grpc: "127.0.0.2:40002"},
		{in: "http://h:6333?grpc=g:7000", rest: "http://h:6333", grpc: "g:7000"},
		{in: "http://[::1]:6333", rest: "http://[::1]:6333", grpc: "[::1]:6334"},
		{in: "10.0.0.1:6333", err: "want http(s)://"},
		{in: "http://h:6333?grpc=x", err: "neither a port"},
		{in: "http://user:pw@h:6333", err: "credentials do not belong"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			a, err := ParseStaticURL(tc.in, 0)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Fatal("password in the error")
				}
				return
			}
			if err != nil || a.REST != tc.rest || a.GRPC != tc.grpc {
				t.Fatalf("%+v %v", a, err)
			}
		})
	}
	if _, err := (&Static{URLs: []string{"http://h:6333", "http://h:6333/"}}).Candidates(context.Background()); err == nil {
		t.Fatal("duplicate URL accepted")
	}
}

func TestStaticDiscoveryWithoutURLsSaysWhatIsMissing(t *testing.T) {
	_, err := (&Static{}).Candidates(context.Background())
	if !errors.Is(err, ErrNoPods) || !strings.Contains(err.Error(), "--qdrant-url") {
		t.Fatalf("%v", err)
	}
}

func TestPodsSortByOrdinal(t *testing.T) {
	names := []string{"qdrant-10", "qdrant-2", "other", "qdrant-1", "qdrant-x"}
	slices.SortFunc(names, comparePodNames)
	if strings.Join(names, " ") != "other qdrant-1 qdrant-2 qdrant-10 qdrant-x" {
		t.Fatalf("%v", names)
	}
}

func TestKubernetesSourceNamesWhatToFixWhenTheAPIRefusesTheListing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		selector string
		err      error
		want     error
		msgs     []string
	}{
		{"malformed selector", "app in (", nil, ErrInvalidSelector, []string{`"app in ("`, "fix --selector (QBACKUP_SELECTOR)", "expected"}},
		{"RBAC", "app=q", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New(`User "system:serviceaccount:db:qbackup" cannot list resource "pods"`)),
			ErrForbidden, []string{"grant get and list on pods in namespace db", "manifests/role.yaml", `cannot list resource "pods"`}},
		{"selector refused by the API server", "app=q", apierrors.NewBadRequest("unable to parse requirement"),
			ErrInvalidSelector, []string{`"app=q"`, "fix --selector (QBACKUP_SELECTOR)"}},
		{"other", "app=q", apierrors.NewServiceUnavailable("etcd down"), nil, []string{`list pods in namespace "db"`, "etcd down"}},
		{"API server unreachable", "app=q", &url.Error{Op: "Get", URL: "https://10.96.0.1:443/api/v1/namespaces/db/pods", Err: errors.New("connection refused")},
			ErrAPIServerUnreachable, []string{"the Kubernetes API server at 10.96.0.1:443 did not answer", "a retry succeeds", "connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			_, err := (&Kubernetes{Client: cs, Namespace: "db", Selector: tc.selector}).Candidates(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			for _, sentinel := range []error{ErrForbidden, ErrInvalidSelector, ErrAPIServerUnreachable} {
				if errors.Is(err, sentinel) != (sentinel == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, sentinel, sentinel != tc.want)
				}
			}
			for _, m := range tc.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%q does not say %q", err, m)
				}
			}
		})
	}
}
