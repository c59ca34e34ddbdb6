package main

import (
	"context"
	"io"
	"time"

	apiclient "github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/client/proto"
	auditlogpb "github.com/gravitational/teleport/api/gen/proto/go/teleport/auditlog/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
	"teleport-audit.test/realteleport/internal/authconn"
)

// runAccess records what one identity gets from the cluster, step by step.
func runAccess(t authconn.Target, label string) error {
	ctx := context.Background()
	f := map[string]any{"label": label}

	cfg, err := authconn.IdentityTLS(t)
	if err != nil {
		f["load_error"] = err.Error()
		emit("access", f)
		return nil
	}
	if leaf, err := authconn.Leaf(t.Identity); err == nil {
		f["leaf_not_after"] = rfc3339(leaf.NotAfter)
		f["leaf_expired_now"] = time.Now().After(leaf.NotAfter)
		f["leaf_subject"] = leaf.Subject.String()
		f["leaf_issuer"] = leaf.Issuer.String()
	}

	// The inner TLS handshake alone, then one read: some rejections only show on first read.
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	conn, err := authconn.DialTLS(hctx, t, cfg)
	cancel()
	if err != nil {
		f["tls_handshake_error"] = err.Error()
	} else {
		f["tls_negotiated"] = conn.ConnectionState().NegotiatedProtocol
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 64)
		_, rerr := conn.Read(buf)
		if rerr != nil && rerr != io.EOF {
			f["tls_first_read_error"] = rerr.Error()
		} else if rerr == io.EOF {
			f["tls_first_read_error"] = "EOF"
		} else {
			f["tls_first_read"] = "server sent data (HTTP/2 settings)"
		}
		conn.Close()
	}

	gctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	gconn, err := authconn.DialGRPC(gctx, t, 0)
	if err != nil {
		f["grpc_dial_error"] = err.Error()
		emit("access", f)
		return nil
	}
	defer gconn.Close()
	_, err = proto.NewAuthServiceClient(gconn).Ping(gctx, &proto.PingRequest{})
	f["ping"] = authconn.Status(err)

	now := time.Now()
	_, err = auditlogpb.NewAuditLogServiceClient(gconn).GetUnstructuredEvents(gctx, &auditlogpb.GetUnstructuredEventsRequest{
		StartDate: timestamppb.New(now.Add(-time.Hour)), EndDate: timestamppb.New(now), Limit: 1, Order: orderZero,
	})
	f["get_unstructured_events"] = authconn.Status(err)

	stream, err := auditlogpb.NewAuditLogServiceClient(gconn).StreamUnstructuredSessionEvents(gctx,
		&auditlogpb.StreamUnstructuredSessionEventsRequest{SessionId: "5b2d8a2e-0000-4000-8000-000000000000"})
	if err == nil {
		_, err = stream.Recv()
	}
	f["stream_session_events"] = authconn.Status(err)

	// What a user of Teleport's own Go client sees.
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	clt, err := apiclient.New(cctx, apiclient.Config{
		Addrs:                      []string{t.Proxy},
		Credentials:                []apiclient.Credentials{apiclient.LoadIdentityFile(t.Identity)},
		ALPNSNIAuthDialClusterName: t.Cluster,
		InsecureAddressDiscovery:   true,
		DialTimeout:                10 * time.Second,
	})
	if err != nil {
		f["teleport_go_client_new_error"] = err.Error()
	} else {
		_, err = clt.Ping(cctx)
		if err != nil {
			f["teleport_go_client_ping_error"] = err.Error()
		} else {
			f["teleport_go_client_ping"] = "ok"
		}
		_, _, err = clt.SearchUnstructuredEvents(cctx, now.Add(-time.Hour), now, "", nil, 1, 0, "")
		if err != nil {
			f["teleport_go_client_search_error"] = err.Error()
		} else {
			f["teleport_go_client_search"] = "ok"
		}
		clt.Close()
	}
	emit("access", f)
	return nil
}
