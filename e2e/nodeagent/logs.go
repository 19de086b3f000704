package nodeagent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// logServer serves the kubelet's container log endpoint,
// GET /containerLogs/{namespace}/{pod}/{container}, which the API server
// calls for pods/log (`kubectl logs`). The API server does not verify a
// kubelet's certificate unless --kubelet-certificate-authority is set,
// and the stack does not set it, so a self-signed certificate serves.
type logServer struct {
	srv  *http.Server
	addr string
	port int
}

func startLogServer(a *Agent) (*logServer, error) {
	cert, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("node agent: log endpoint certificate: %w", err)
	}
	l, err := net.Listen("tcp", hostPort(0))
	if err != nil {
		return nil, fmt.Errorf("node agent: log endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		a.serveLogs(w, r)
	})
	s := &logServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}},
		addr: l.Addr().String(),
		port: l.Addr().(*net.TCPAddr).Port,
	}
	go func() { _ = s.srv.ServeTLS(l, "", "") }()
	return s, nil
}

func (s *logServer) close() { _ = s.srv.Close() }

// serveLogs writes a container's output, honouring tailLines, limitBytes
// and follow (until the container exits).
func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, name := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	c := a.container(ns, pod, name)
	if c == nil {
		http.Error(w, fmt.Sprintf("container %q in pod %q is not available", name, pod), http.StatusNotFound)
		return
	}
	qs := r.URL.Query()
	exited := c.exitedCh()
	if exited == nil {
		// The kubelet's answer for a container not started yet.
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: %s", name, pod, c.waitingReason()), http.StatusBadRequest)
		return
	}
	logPath := c.logPath
	if strings.EqualFold(qs.Get("previous"), "true") {
		// `kubectl logs --previous`: the instance before a restart, which
		// has ended; there is nothing to follow.
		logPath += ".previous"
		if !fileExists(logPath) {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", name, pod), http.StatusBadRequest)
			return
		}
		closed := make(chan struct{})
		close(closed)
		exited = closed
	}
	b, err := os.ReadFile(logPath)
	if err != nil && !os.IsNotExist(err) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	off := int64(len(b)) // where following continues
	if n, err := strconv.Atoi(qs.Get("tailLines")); err == nil && n >= 0 {
		t := tail(b, n, len(b))
		if t != "" {
			t += "\n"
		}
		b = []byte(t)
	}
	limit := -1
	if n, err := strconv.Atoi(qs.Get("limitBytes")); err == nil && n > 0 {
		limit = n
	}
	w.Header().Set("Content-Type", "text/plain")
	write := func(p []byte) bool {
		if limit >= 0 {
			if len(p) > limit {
				p = p[:limit]
			}
			limit -= len(p)
		}
		_, err := w.Write(p)
		return err == nil && limit != 0
	}
	if !write(b) || !strings.EqualFold(qs.Get("follow"), "true") {
		return
	}
	f, err := os.Open(logPath)
	if err != nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 32*1024)
	for {
		n, _ := f.ReadAt(buf, off)
		if n > 0 {
			off += int64(n)
			if !write(buf[:n]) {
				return
			}
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			continue
		}
		select {
		case <-exited:
			// What the process wrote just before it ended.
			if n, _ := f.ReadAt(buf[:1], off); n > 0 {
				continue
			}
			return
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "qbackup-node-agent"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP(nodeIP)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
