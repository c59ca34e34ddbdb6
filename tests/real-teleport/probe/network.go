package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gravitational/teleport/api/client/proto"
	"google.golang.org/grpc/grpclog"
	"teleport-audit.test/realteleport/internal/authconn"
)

// alpnFacts offers the proxy one ALPN value at a time (no client certificate, no verification)
// and records what it negotiates and whose certificate answers.
func alpnFacts(t authconn.Target) {
	offers := [][]string{
		nil,
		{"h2"},
		{"http/1.1"},
		{authconn.AuthALPN(t.Cluster)},
		{authconn.AuthALPN(t.Cluster), "h2"},
		{authconn.AuthALPN("no-such-cluster"), "h2"},
		{"teleport-auth@", "h2"},
		{"teleport-proxy-ssh"},
		{"teleport-reversetunnel"},
		{"teleport-proxy-grpc"},
		{"teleport-proxy-grpc-mtls"},
		{"teleport-tcp"},
		{"teleport-postgres"},
		{"teleport-mysql"},
		{"teleport-kube"},
		{"teleport-reversetunnel-ping"},
		{"no-such-protocol"},
	}
	for _, offer := range offers {
		f := map[string]any{"offered": offer}
		cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: offer} //nolint:gosec // probing, not trusting
		if len(offer) > 0 && strings.HasPrefix(offer[0], "teleport-auth@") {
			cfg.ServerName = authconn.AuthServerName
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", t.Proxy, cfg)
		if err != nil {
			f["handshake_error"] = err.Error()
		} else {
			st := conn.ConnectionState()
			f["negotiated"] = st.NegotiatedProtocol
			if len(st.PeerCertificates) > 0 {
				c := st.PeerCertificates[0]
				f["server_cert_subject"] = c.Subject.String()
				f["server_cert_issuer"] = c.Issuer.String()
				f["server_cert_dns_names"] = c.DNSNames
			}
			conn.Close()
		}
		emit("alpn", f)
	}
}

// webFacts records what the proxy's web API answers without credentials.
func webFacts(t authconn.Target) {
	clt := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // self-signed web cert
	}
	for _, path := range []string{"/webapi/find", "/webapi/ping", "/webapi/connectionupgrade", "/"} {
		f := map[string]any{"path": path}
		rsp, err := clt.Get("https://" + t.Proxy + path)
		if err != nil {
			f["error"] = err.Error()
		} else {
			body, _ := io.ReadAll(io.LimitReader(rsp.Body, 8192))
			rsp.Body.Close()
			f["status"] = rsp.StatusCode
			f["content_type"] = rsp.Header.Get("Content-Type")
			f["body"] = string(body)
			if rsp.TLS != nil && len(rsp.TLS.PeerCertificates) > 0 {
				f["web_cert_subject"] = rsp.TLS.PeerCertificates[0].Subject.String()
				f["web_cert_dns_names"] = rsp.TLS.PeerCertificates[0].DNSNames
			}
		}
		emit("web", f)
	}
}

// keepaliveFacts pings the Auth Service every 10 s (the shortest gRPC allows) and records
// whether and when it answers GOAWAY too_many_pings.
func keepaliveFacts(t authconn.Target) {
	logs := &syncBuffer{}
	grpclog.SetLoggerV2(grpclog.NewLoggerV2WithVerbosity(io.Discard, logs, logs, 2))
	ctx := context.Background()
	start := time.Now()
	conn, err := authconn.DialGRPC(ctx, t, 10*time.Second)
	if err != nil {
		emit("keepalive", map[string]any{"dial_error": err.Error()})
		return
	}
	defer conn.Close()
	if _, err := proto.NewAuthServiceClient(conn).Ping(ctx, &proto.PingRequest{}); err != nil {
		emit("keepalive", authconn.Status(err))
		return
	}
	f := map[string]any{"client_keepalive": "10s, permit without stream"}
	deadline := time.Now().Add(70 * time.Second)
	for time.Now().Before(deadline) {
		if bytes.Contains(logs.bytes(), []byte("too_many_pings")) {
			f["goaway_too_many_pings_after_seconds"] = int(time.Since(start).Seconds())
			break
		}
		time.Sleep(time.Second)
	}
	if _, ok := f["goaway_too_many_pings_after_seconds"]; !ok {
		f["goaway_too_many_pings_after_seconds"] = "none within 70 s"
	}
	_, err = proto.NewAuthServiceClient(conn).Ping(ctx, &proto.PingRequest{})
	f["ping_after"] = authconn.Status(err)
	for _, line := range strings.Split(string(logs.bytes()), "\n") {
		if strings.Contains(line, "GoAway") || strings.Contains(line, "too_many_pings") {
			f["grpc_log_line"] = line
			break
		}
	}
	emit("keepalive", f)
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
	log.SetOutput(io.Discard)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
