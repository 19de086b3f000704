package stacktest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// PrivateS3 is a MinIO process of the test's own, with TLS and a KMS.
type PrivateS3 struct {
	S3Env
	// CAFile holds the PEM certificate the endpoint's TLS certificate is
	// signed with (AWS_CA_BUNDLE for the SDK).
	CAFile string
	// KMSKeyName is the name of MinIO's static KMS key, which SSE-S3 and
	// SSE-KMS use (the only key id --s3-sse-kms-key-id may name).
	KMSKeyName string
	// Client is an S3 client of the root user that trusts CAFile.
	Client *s3.Client
	// HTTP is an HTTP client that trusts CAFile.
	HTTP *http.Client
}

// minioBinary finds the MinIO the stack built and cached.
func minioBinary(t testing.TB) string {
	t.Helper()
	cache := os.Getenv("QBACKUP_STACK_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "qbackup-stack")
	}
	found, _ := filepath.Glob(filepath.Join(cache, "minio-*", "minio"))
	if len(found) == 0 {
		t.Fatalf("no MinIO binary under %s: run e2e/stack/stack.sh up once to build it", cache)
	}
	sort.Strings(found)
	return found[len(found)-1]
}

// StartPrivateS3 starts a MinIO of the test's own on a free loopback port,
// served over TLS with a certificate of a generated CA and with a static
// KMS key (MINIO_KMS_SECRET_KEY): SSE-C needs TLS, SSE-S3 and SSE-KMS need
// a KMS, and the shared stack's MinIO has neither. It creates one bucket
// and stops the process (by its own pid) when the test ends.
func StartPrivateS3(t testing.TB) *PrivateS3 { t.Helper(); return startPrivateS3(t, true) }

// StartPrivateS3PlainHTTP is StartPrivateS3 served over plain http, as
// MinIO often runs inside a cluster (no SSE-C then; CAFile is empty).
func StartPrivateS3PlainHTTP(t testing.TB) *PrivateS3 { t.Helper(); return startPrivateS3(t, false) }

func startPrivateS3(t testing.TB, useTLS bool) *PrivateS3 {
	t.Helper()
	bin := minioBinary(t)
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	caFile, scheme := "", "http"
	if useTLS {
		caFile, scheme = writeTestCert(t, certs), "https"
	}
	port, console := freePort(t), freePort(t)
	kmsKey := make([]byte, 32)
	if _, err := rand.Read(kmsKey); err != nil {
		t.Fatal(err)
	}
	p := &PrivateS3{
		S3Env: S3Env{
			Endpoint: scheme + "://127.0.0.1:" + strconv.Itoa(port), Region: "us-east-1", Bucket: "qbackup-private",
			AccessKey: "root" + randomHex(t, 4), SecretKey: randomHex(t, 16),
		},
		CAFile:     caFile,
		KMSKeyName: "qbackup-test-key",
	}
	cmd := exec.Command(bin, "server", "--quiet", "--certs-dir", certs,
		"--address", "127.0.0.1:"+strconv.Itoa(port), "--console-address", "127.0.0.1:"+strconv.Itoa(console),
		filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+p.AccessKey, "MINIO_ROOT_PASSWORD="+p.SecretKey,
		"MINIO_KMS_SECRET_KEY="+p.KMSKeyName+":"+base64.StdEncoding.EncodeToString(kmsKey),
		"MINIO_SITE_REGION="+p.Region, "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	logFile, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start private MinIO: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
	})

	p.HTTP = &http.Client{Timeout: 10 * time.Second}
	if useTLS {
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(pem)
		p.HTTP.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := p.HTTP.Get(p.Endpoint + "/minio/health/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("private MinIO exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("private MinIO not ready after 60s (last error %v): %s", err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.Client = s3.New(s3.Options{
		Region:       p.Region,
		BaseEndpoint: aws.String(p.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(p.AccessKey, p.SecretKey, ""),
		HTTPClient:   p.HTTP,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(p.Bucket)}); err != nil {
		t.Fatalf("create bucket in private MinIO: %v", err)
	}
	return p
}

// CreateBucket creates another bucket in the private MinIO, with Object
// Lock enabled when objectLock is set (which also turns on versioning;
// only at creation can a bucket get it).
func (p *PrivateS3) CreateBucket(t testing.TB, name string, objectLock bool) {
	t.Helper()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := p.Client.CreateBucket(context.Background(), in); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// writeTestCert writes a CA-signed certificate for 127.0.0.1 as MinIO
// expects it (public.crt, private.key in certs) and returns the CA file.
func writeTestCert(t testing.TB, certs string) string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "qbackup test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(certs, "public.crt"), "CERTIFICATE", der)
	write(filepath.Join(certs, "private.key"), "PRIVATE KEY", keyDER)
	caFile := filepath.Join(filepath.Dir(certs), "ca.crt")
	write(caFile, "CERTIFICATE", caDER)
	return caFile
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// String formats the private endpoint without secrets.
func (p *PrivateS3) String() string { return fmt.Sprintf("private MinIO %s", p.Endpoint) }
