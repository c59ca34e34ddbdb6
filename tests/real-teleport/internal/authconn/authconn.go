// Package authconn dials a Teleport Auth Service through the proxy's TLS-routing port, as
// teleport-audit does: TCP to the proxy, TLS with ALPN `teleport-auth@<hex(cluster)>.teleport.cluster.local`
// then `h2`, server name `teleport.cluster.local`, the identity file's CAs as the only roots, then
// gRPC. The identity file is read by Teleport's own api/client.
package authconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"time"

	apiclient "github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/identityfile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Target is where and as whom to connect.
type Target struct {
	Proxy    string // host:port of the proxy's TLS-routing port
	Identity string // identity file from `tctl auth sign --format=file`
	Cluster  string // cluster name (routes the connection to that cluster's Auth Service)
}

// AuthServerName is the name the Auth Service's certificate carries (*.teleport.cluster.local).
const AuthServerName = "teleport.cluster.local"

// AuthALPN is the ALPN value that makes the proxy route a TLS connection to the Auth Service.
func AuthALPN(cluster string) string {
	return "teleport-auth@" + hex.EncodeToString([]byte(cluster)) + "." + AuthServerName
}

// IdentityTLS loads the identity file with Teleport's own reader and returns the TLS config for
// the Auth Service, with TLS-routing ALPN.
func IdentityTLS(t Target) (*tls.Config, error) {
	cfg, err := apiclient.LoadIdentityFile(t.Identity).TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("load identity %s: %w", t.Identity, err)
	}
	cfg = cfg.Clone()
	cfg.ServerName = AuthServerName
	cfg.NextProtos = []string{AuthALPN(t.Cluster), "h2"}
	return cfg, nil
}

// DialTLS opens TCP to the proxy and runs the inner TLS handshake with the Auth Service.
func DialTLS(ctx context.Context, t Target, cfg *tls.Config) (*tls.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", t.Proxy)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// DialGRPC returns a gRPC connection to the Auth Service through the proxy. keepaliveTime 0
// leaves client keepalive off.
func DialGRPC(ctx context.Context, t Target, keepaliveTime time.Duration) (*grpc.ClientConn, error) {
	cfg, err := IdentityTLS(t)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS is done by the dialer
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			conn, err := DialTLS(ctx, t, cfg)
			if err != nil {
				return nil, err
			}
			if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
				conn.Close()
				return nil, fmt.Errorf("auth negotiated ALPN %q, not h2", p)
			}
			return conn, nil
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(4 << 20)),
	}
	if keepaliveTime > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: keepaliveTime, Timeout: 20 * time.Second, PermitWithoutStream: true,
		}))
	}
	return grpc.DialContext(ctx, "passthrough:///"+t.Proxy, opts...)
}

// DialGRPCReloading is DialGRPC for a long-running client: every dial (the first and each
// reconnection) re-reads the identity file, so a renewed file is used from the next connection
// on, and runs check first (for example: refuse an expired identity).
func DialGRPCReloading(ctx context.Context, t Target, check func() error) (*grpc.ClientConn, error) {
	return grpc.DialContext(ctx, "passthrough:///"+t.Proxy,
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS is done by the dialer
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			if err := check(); err != nil {
				return nil, err
			}
			cfg, err := IdentityTLS(t)
			if err != nil {
				return nil, err
			}
			conn, err := DialTLS(ctx, t, cfg)
			if err != nil {
				return nil, err
			}
			if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
				conn.Close()
				return nil, fmt.Errorf("auth negotiated ALPN %q, not h2", p)
			}
			return conn, nil
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(4<<20)),
	)
}

// Status describes an error as the fields the findings record.
func Status(err error) map[string]any {
	if err == nil {
		return map[string]any{"code": "OK"}
	}
	st, ok := status.FromError(err)
	if !ok {
		return map[string]any{"code": "not a gRPC status", "error": err.Error(), "go_type": fmt.Sprintf("%T", err)}
	}
	return map[string]any{"code": st.Code().String(), "message": st.Message()}
}

// Leaf returns the identity file's TLS client certificate, read by Teleport's own parser.
func Leaf(identity string) (*x509.Certificate, error) {
	id, err := identityfile.ReadFile(identity)
	if err != nil {
		return nil, fmt.Errorf("read identity %s: %w", identity, err)
	}
	block, _ := pem.Decode(id.Certs.TLS)
	if block == nil {
		return nil, fmt.Errorf("identity %s has no TLS certificate", identity)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity %s: TLS certificate: %w", identity, err)
	}
	return leaf, nil
}

// ClusterName reads the cluster name from the identity file's TLS certificate: the issuer's
// organization, which is the name of the cluster whose user CA signed it.
func ClusterName(identity string) (string, error) {
	leaf, err := Leaf(identity)
	if err != nil {
		return "", err
	}
	if len(leaf.Issuer.Organization) == 0 {
		return "", fmt.Errorf("identity %s: TLS certificate issuer has no organization (cluster name)", identity)
	}
	return leaf.Issuer.Organization[0], nil
}
