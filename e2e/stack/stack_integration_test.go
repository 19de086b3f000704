//go:build integration

package stack_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	_ "github.com/go-sql-driver/mysql"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// poll calls cond every interval until it reports done, fails the test on
// an error or when timeout passes.
func poll(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		done, err := cond(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not done after %s", what, timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "main", Image: "qbackup:test", Args: []string{"backup"}}},
	}}
}

// podsOwnedBy lists the Pods in ns whose controller is the object with uid.
func podsOwnedBy(ctx context.Context, cs kubernetes.Interface, ns string, uid types.UID) ([]corev1.Pod, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var owned []corev1.Pod
	for _, p := range pods.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == uid {
			owned = append(owned, p)
		}
	}
	return owned, nil
}

func TestJobControllerCreatesAPod(t *testing.T) {
	t.Parallel()
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	ctx := context.Background()

	job, err := cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "backup"},
		Spec:       batchv1.JobSpec{Template: podTemplate()},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	poll(t, 60*time.Second, "job controller creates a pod", func(ctx context.Context) (bool, error) {
		pods, err := podsOwnedBy(ctx, cs, ns, job.UID)
		return len(pods) > 0, err
	})
}

func TestCronJobControllerCreatesAJobThatCreatesAPod(t *testing.T) {
	t.Parallel()
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	ctx := context.Background()

	cj, err := cs.BatchV1().CronJobs(ns).Create(ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "backup"},
		Spec: batchv1.CronJobSpec{
			Schedule:          "* * * * *",
			ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate:       batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podTemplate()}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create cronjob: %v", err)
	}
	// The schedule fires at the next minute boundary: up to 60s away.
	var job batchv1.Job
	poll(t, 100*time.Second, "cronjob controller creates a job", func(ctx context.Context) (bool, error) {
		jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, j := range jobs.Items {
			if ref := metav1.GetControllerOf(&j); ref != nil && ref.UID == cj.UID {
				job = j
				return true, nil
			}
		}
		return false, nil
	})
	poll(t, 60*time.Second, "job controller creates a pod for the scheduled job", func(ctx context.Context) (bool, error) {
		pods, err := podsOwnedBy(ctx, cs, ns, job.UID)
		return len(pods) > 0, err
	})
}

func TestPodStatusIsPatchedThroughTheStatusSubresource(t *testing.T) {
	t.Parallel()
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	ctx := context.Background()

	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "qdrant-0", Labels: map[string]string{"app": "qdrant"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "qdrant", Image: "qdrant/qdrant"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	// Without a kubelet nothing else writes the status: what we read back
	// is what we patched.
	patch := `{"status":{"phase":"Running","podIP":"127.0.0.1","podIPs":[{"ip":"127.0.0.1"}],` +
		`"conditions":[{"type":"Ready","status":"True"}]}}`
	if _, err := cs.CoreV1().Pods(ns).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch),
		metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("patch pod status: %v", err)
	}
	got, err := cs.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod: %v", err)
	}
	if got.Status.Phase != corev1.PodRunning || got.Status.PodIP != "127.0.0.1" {
		t.Errorf("status = phase %q podIP %q, want Running 127.0.0.1", got.Status.Phase, got.Status.PodIP)
	}
	ready := false
	for _, c := range got.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		t.Errorf("pod conditions %v lack Ready=True", got.Status.Conditions)
	}
}

func TestServiceAccountTokenIsLimitedToItsRole(t *testing.T) {
	t.Parallel()
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	ctx := context.Background()

	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "qbackup"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "qbackup-pod-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "qbackup", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create role binding: %v", err)
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "qdrant-0"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "qdrant", Image: "qdrant/qdrant"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}

	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "qbackup", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("request service account token: %v", err)
	}
	admin := stacktest.Kube(t)
	saCfg := rest.AnonymousClientConfig(admin)
	saCfg.BearerToken = tok.Status.Token
	sa, err := kubernetes.NewForConfig(saCfg)
	if err != nil {
		t.Fatalf("create service account client: %v", err)
	}

	pods, err := sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods with the granted role: %v", err)
	}
	if len(pods.Items) != 1 {
		t.Errorf("service account sees %d pods, want 1", len(pods.Items))
	}
	refused := map[string]func() error{
		"delete pods": func() error {
			return sa.CoreV1().Pods(ns).Delete(ctx, "qdrant-0", metav1.DeleteOptions{})
		},
		"list secrets": func() error {
			_, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			return err
		},
		"list pods in another namespace": func() error {
			_, err := sa.CoreV1().Pods(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
			return err
		},
	}
	for verb, call := range refused {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: err = %v, want Forbidden", verb, err)
		}
	}
}

func TestS3MultipartUploadWithChecksumReadsBack(t *testing.T) {
	t.Parallel()
	env := stacktest.S3(t)
	ctx := context.Background()
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(env.Endpoint),
		Region:       env.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(env.AccessKey, env.SecretKey, ""),
		UsePathStyle: true,
	})

	const partSize = 5 << 20
	data := make([]byte, 2*partSize+123) // three parts, the last one short
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("stack-test/%d/multipart.bin", time.Now().UnixNano())
	t.Cleanup(func() {
		_, _ = client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &env.Bucket, Key: &key})
	})

	//lint:ignore SA1019 qbackup's storage streams through manager.Uploader; this proves it against MinIO.
	up := manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize = partSize })
	// A reader without Seek/Len hides the size, as a streamed snapshot does.
	//lint:ignore SA1019 see NewUploader above.
	out, err := up.Upload(ctx, &s3.PutObjectInput{
		Bucket:            &env.Bucket,
		Key:               &key,
		Body:              io.MultiReader(bytes.NewReader(data)),
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		t.Fatalf("multipart upload to %s: %v", env, err)
	}
	if out.UploadID == "" || len(out.CompletedParts) != 3 {
		t.Fatalf("upload id %q with %d parts, want a multipart upload of 3 parts", out.UploadID, len(out.CompletedParts))
	}
	// A multipart SHA-256 is composite: the digest of the parts' digests,
	// suffixed with the part count.
	var digests []byte
	for off := 0; off < len(data); off += partSize {
		d := sha256.Sum256(data[off:min(off+partSize, len(data))])
		digests = append(digests, d[:]...)
	}
	composite := sha256.Sum256(digests)
	want := base64.StdEncoding.EncodeToString(composite[:]) + "-3"
	if got := aws.ToString(out.ChecksumSHA256); got != want {
		t.Errorf("upload checksum = %q, want %q", got, want)
	}

	get, err := client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &env.Bucket, Key: &key, ChecksumMode: s3types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatalf("get object: %v", err)
	}
	defer func() { _ = get.Body.Close() }()
	back, err := io.ReadAll(get.Body)
	if err != nil {
		t.Fatalf("read object: %v", err)
	}
	if !bytes.Equal(back, data) {
		t.Errorf("read back %d bytes (sha256 %x), want %d bytes (sha256 %x)",
			len(back), sha256.Sum256(back), len(data), sha256.Sum256(data))
	}
	if got := aws.ToString(get.ChecksumSHA256); got != want {
		t.Errorf("stored checksum = %q, want %q", got, want)
	}
}

func TestMySQLConditionalUpdateGrantsTheLeaseToExactlyOneContender(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("mysql", stacktest.MySQLDSN(t))
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE lease (
		name       VARCHAR(64) NOT NULL PRIMARY KEY,
		holder     VARCHAR(64) NOT NULL,
		expires_at DATETIME(6) NOT NULL
	)`); err != nil {
		t.Fatalf("create table: %v", err)
	}

	const rounds, contenders = 10, 4
	db.SetMaxOpenConns(contenders)
	for round := range rounds {
		// An expired lease that everyone may take over.
		if _, err := db.ExecContext(ctx, `REPLACE INTO lease (name, holder, expires_at)
			VALUES ('backup', 'nobody', NOW(6) - INTERVAL 1 SECOND)`); err != nil {
			t.Fatalf("round %d: reset lease: %v", round, err)
		}
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			mu      sync.Mutex
			winners []string
		)
		for i := range contenders {
			wg.Go(func() {
				me := fmt.Sprintf("runner-%d", i)
				<-start
				res, err := db.ExecContext(ctx, `UPDATE lease SET holder = ?, expires_at = NOW(6) + INTERVAL 30 SECOND
					WHERE name = 'backup' AND expires_at < NOW(6)`, me)
				if err != nil {
					t.Errorf("round %d: %s takes lease: %v", round, me, err)
					return
				}
				n, err := res.RowsAffected()
				if err != nil {
					t.Errorf("round %d: rows affected: %v", round, err)
					return
				}
				if n == 1 {
					mu.Lock()
					winners = append(winners, me)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: winners %v, want exactly one", round, winners)
		}
		var holder string
		if err := db.QueryRowContext(ctx, `SELECT holder FROM lease WHERE name = 'backup'`).Scan(&holder); err != nil {
			t.Fatalf("round %d: read lease: %v", round, err)
		}
		if holder != winners[0] {
			t.Fatalf("round %d: lease held by %q, but %q won", round, holder, winners[0])
		}
	}
}
