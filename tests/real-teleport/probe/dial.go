package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"time"

	apiclient "github.com/gravitational/teleport/api/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// authServerName is the name the Auth Service's certificate carries (*.teleport.cluster.local).
const authServerName = "teleport.cluster.local"

// authALPN is the ALPN value that makes the proxy route a TLS connection to the Auth Service.
func authALPN(cluster string) string {
	return "teleport-auth@" + hex.EncodeToString([]byte(cluster)) + "." + authServerName
}

// identityTLS loads the identity file with Teleport's own reader and returns the TLS config for
// the Auth Service, with TLS-routing ALPN.
func identityTLS(t target) (*tls.Config, error) {
	cfg, err := apiclient.LoadIdentityFile(t.identity).TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("load identity %s: %w", t.identity, err)
	}
	cfg = cfg.Clone()
	cfg.ServerName = authServerName
	cfg.NextProtos = []string{authALPN(t.cluster), "h2"}
	return cfg, nil
}

// dialTLS opens TCP to the proxy and runs the inner TLS handshake with the Auth Service.
func dialTLS(ctx context.Context, t target, cfg *tls.Config) (*tls.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", t.proxy)
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

// dialGRPC returns a gRPC connection to the Auth Service through the proxy. keepaliveTime 0
// leaves client keepalive off.
func dialGRPC(ctx context.Context, t target, keepaliveTime time.Duration) (*grpc.ClientConn, error) {
	cfg, err := identityTLS(t)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS is done by the dialer
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			conn, err := dialTLS(ctx, t, cfg)
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
	return grpc.DialContext(ctx, "passthrough:///"+t.proxy, opts...)
}

// grpcError describes an error as the fields the findings record.
func grpcError(err error) map[string]any {
	if err == nil {
		return map[string]any{"code": "OK"}
	}
	st, ok := status.FromError(err)
	if !ok {
		return map[string]any{"code": "not a gRPC status", "error": err.Error(), "go_type": fmt.Sprintf("%T", err)}
	}
	return map[string]any{"code": st.Code().String(), "message": st.Message()}
}
