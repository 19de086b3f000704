// Package stacktest gives integration tests access to the real services of
// the test stack (e2e/stack/stack.sh): the Kubernetes API, MinIO (S3) and
// MariaDB (the TiDB stand-in).
//
// The stack publishes its endpoints through environment variables written
// to an env file; `make test` and `make test-integration` source it. Every
// accessor fails the test when its variables are missing: a missing service
// is a failure, never a skip, so a misconfigured CI run cannot pass by
// testing nothing.
package stacktest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Environment variables written by stack.sh into its env file.
const (
	EnvKubeconfig    = "KUBECONFIG"
	EnvS3Endpoint    = "QBACKUP_TEST_S3_ENDPOINT"
	EnvS3Region      = "QBACKUP_TEST_S3_REGION"
	EnvS3Bucket      = "QBACKUP_TEST_S3_BUCKET"
	EnvS3AccessKey   = "QBACKUP_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey   = "QBACKUP_TEST_S3_SECRET_KEY"
	EnvMySQLDSN      = "QBACKUP_TEST_MYSQL_DSN"
	EnvMySQLAdminDSN = "QBACKUP_TEST_MYSQL_ADMIN_DSN"
	EnvPushgateway   = "QBACKUP_TEST_PUSHGATEWAY"
)

// Pushgateway returns the URL of the stack's Prometheus Pushgateway.
func Pushgateway(t testing.TB) string {
	t.Helper()
	return env(t, EnvPushgateway)
}

// cleanupTimeout bounds the work done in t.Cleanup, which runs after the
// test's own context is gone.
const cleanupTimeout = 30 * time.Second

// env returns the value of name or fails the test with instructions.
func env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s not set: run the tests with `make test` or source $(e2e/stack/stack.sh env-file)", name)
	}
	return v
}

// Kube returns a client config for the stack's API server, as the cluster
// admin (group system:masters).
func Kube(t testing.TB) *rest.Config {
	t.Helper()
	path := env(t, EnvKubeconfig)
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("load kubeconfig %s: %v", path, err)
	}
	// Tests create many objects quickly; the client-side default (5 qps)
	// would make them slow for no benefit against a private apiserver.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg
}

// KubeClient returns a typed clientset for the stack's API server, as the
// cluster admin.
func KubeClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(Kube(t))
	if err != nil {
		t.Fatalf("create kubernetes client: %v", err)
	}
	return cs
}

// Namespace creates a namespace with a unique name for this test and
// deletes it when the test ends. It returns once the namespace's default
// ServiceAccount exists: until the controller-manager has created it, the
// API server rejects Pods in the namespace.
func Namespace(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "qbt-" + dnsLabel(t.Name(), 40) + "-",
		Labels:       map[string]string{"qbackup.io/test": "true"},
	}}
	created, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create test namespace: %v", err)
	}
	name := created.Name
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete test namespace %s: %v", name, err)
		}
	})
	for {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return name
		}
		if !apierrors.IsNotFound(err) {
			t.Fatalf("get default service account of namespace %s: %v", name, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("namespace %s has no default service account after %s: is kube-controller-manager running?", name, cleanupTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// S3Env is the S3 endpoint and credentials of the stack's MinIO.
type S3Env struct {
	Endpoint  string // http://127.0.0.1:PORT; path-style addressing is required
	Region    string
	Bucket    string // exists already; shared by all tests, so use unique prefixes
	AccessKey string
	SecretKey string
}

// S3 returns the stack's S3 endpoint and credentials.
func S3(t testing.TB) S3Env {
	t.Helper()
	return S3Env{
		Endpoint:  env(t, EnvS3Endpoint),
		Region:    env(t, EnvS3Region),
		Bucket:    env(t, EnvS3Bucket),
		AccessKey: env(t, EnvS3AccessKey),
		SecretKey: env(t, EnvS3SecretKey),
	}
}

// MySQLDSN creates a fresh, uniquely named database, returns a
// go-sql-driver DSN for it (parseTime=true, no multiStatements) and drops
// the database when the test ends.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	adminDSN := env(t, EnvMySQLAdminDSN)
	admin, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvMySQLAdminDSN, err)
	}
	db, err := sql.Open("mysql", adminDSN)
	if err != nil {
		t.Fatalf("open admin connection: %v", err)
	}
	name := "qbt_" + strings.ReplaceAll(dnsLabel(t.Name(), 40), "-", "_") + "_" + randomHex(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	// The name is built from [a-z0-9_] only, so quoting with backticks is safe.
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		_ = db.Close()
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer func() { _ = db.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg := admin.Clone()
	cfg.DBName = name
	cfg.ParseTime = true
	cfg.MultiStatements = false
	return cfg.FormatDSN()
}

// dnsLabel turns a test name into a lowercase [a-z0-9-] fragment of at most
// max characters, so it can be part of object and database names.
func dnsLabel(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= max {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > max {
		out = strings.Trim(out[:max], "-")
	}
	if out == "" {
		out = "t"
	}
	return out
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random name: %v", err)
	}
	return hex.EncodeToString(b)
}

// String formats the S3 environment without the secret key, for logs.
func (e S3Env) String() string {
	return fmt.Sprintf("s3 %s bucket=%s region=%s", e.Endpoint, e.Bucket, e.Region)
}
