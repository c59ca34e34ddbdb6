package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	apiclient "github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/client/proto"
	auditlogpb "github.com/gravitational/teleport/api/gen/proto/go/teleport/auditlog/v1"
	apievents "github.com/gravitational/teleport/api/types/events"
	"github.com/gravitational/trace"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"teleport-audit.test/realteleport/internal/authconn"
)

// goClient opens Teleport's own Go client (api/client) with the identity file.
func goClient(ctx context.Context, t authconn.Target) (*apiclient.Client, error) {
	return apiclient.New(ctx, apiclient.Config{
		Addrs:                      []string{t.Proxy},
		Credentials:                []apiclient.Credentials{apiclient.LoadIdentityFile(t.Identity)},
		ALPNSNIAuthDialClusterName: t.Cluster,
		InsecureAddressDiscovery:   true,
		DialTimeout:                10 * time.Second,
	})
}

// goClientSessionEvents reads one session's recording the way Teleport's own tooling does:
// `client.StreamUnstructuredSessionEvents`, which on servers without teleport#37580 falls back
// to the legacy StreamSessionEvents RPC and converts each event with events.ToUnstructured.
// Each event's payload is passed to each (as protojson); the error is the stream's end.
func goClientSessionEvents(ctx context.Context, clt *apiclient.Client, sid string, start int64, each func(*auditlogpb.EventUnstructured)) error {
	ch, errc := clt.StreamUnstructuredSessionEvents(ctx, sid, start)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			each(ev)
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runSessionEvents prints one session's recording, as Teleport's Go client gives it, one JSON
// object (the event's unstructured payload) per line: the ground truth for `teleport-audit session`.
func runSessionEvents(t authconn.Target, sid string, start int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clt, err := goClient(ctx, t)
	if err != nil {
		return err
	}
	defer clt.Close()
	var werr error
	err = goClientSessionEvents(ctx, clt, sid, start, func(ev *auditlogpb.EventUnstructured) {
		b, err := protojson.Marshal(ev.Unstructured)
		if err != nil {
			werr = err
			return
		}
		fmt.Println(string(b))
	})
	if err == nil {
		err = werr
	}
	return err
}

// runSessionFacts records, for one session id, what each way of reading a recording answers:
// the unstructured RPC, the legacy RPC (from index 0 and from index 2, to see whether the start
// index is inclusive), and Teleport's Go client with its fallback.
func runSessionFacts(t authconn.Target, sid, label string) error {
	ctx := context.Background()
	conn, err := authconn.DialGRPC(ctx, t, 0)
	if err != nil {
		return err
	}
	defer conn.Close()

	// The unstructured RPC, called directly.
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	n := 0
	stream, err := auditlogpb.NewAuditLogServiceClient(conn).StreamUnstructuredSessionEvents(cctx,
		&auditlogpb.StreamUnstructuredSessionEventsRequest{SessionId: sid})
	if err == nil {
		for {
			if _, err = stream.Recv(); err != nil {
				break
			}
			n++
		}
	}
	cancel()
	f := authconn.Status(eofIsOK(err))
	f["label"], f["session_id"], f["events_before_end"] = label, sid, n
	emit("session_unstructured_rpc", f)

	// The legacy RPC, called directly.
	for _, start := range []int32{0, 2} {
		f := legacyFacts(ctx, conn, sid, start)
		f["label"] = label
		emit("session_legacy_rpc", f)
	}

	// Teleport's Go client (what the event handler uses).
	gctx, gcancel := context.WithTimeout(ctx, 60*time.Second)
	defer gcancel()
	f = map[string]any{"label": label, "session_id": sid}
	clt, err := goClient(gctx, t)
	if err != nil {
		f["client_error"] = err.Error()
		emit("session_go_client", f)
		return nil
	}
	defer clt.Close()
	n = 0
	types := map[string]int{}
	err = goClientSessionEvents(gctx, clt, sid, 0, func(ev *auditlogpb.EventUnstructured) {
		n++
		types[ev.Type]++
	})
	f["events"], f["types"] = n, types
	if err != nil {
		f["error"] = err.Error()
		f["trace_not_found"] = trace.IsNotFound(err)
		f["trace_not_implemented"] = trace.IsNotImplemented(err)
		f["trace_bad_parameter"] = trace.IsBadParameter(err)
		f["trace_access_denied"] = trace.IsAccessDenied(err)
	}
	emit("session_go_client", f)
	return nil
}

// legacyFacts reads a recording through proto.AuthService/StreamSessionEvents from one start
// index, and summarises the events: count, types, the order and gaps of their indices.
func legacyFacts(ctx context.Context, conn *grpc.ClientConn, sid string, start int32) map[string]any {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var indices []int64
	types := map[string]int{}
	variants := map[string]int{}
	withoutSID, decodeErrors := 0, 0
	stream, err := proto.NewAuthServiceClient(conn).StreamSessionEvents(cctx,
		&proto.StreamSessionEventsRequest{SessionID: sid, StartIndex: start})
	if err == nil {
		for {
			var one *apievents.OneOf
			if one, err = stream.Recv(); err != nil {
				break
			}
			variants[fmt.Sprintf("%T", one.Event)]++
			ev, derr := apievents.FromOneOf(*one)
			if derr != nil {
				decodeErrors++
				continue
			}
			indices = append(indices, ev.GetIndex())
			types[ev.GetType()]++
			if s, ok := ev.(interface{ GetSessionID() string }); !ok || s.GetSessionID() == "" {
				withoutSID++
			}
		}
	}
	f := authconn.Status(eofIsOK(err))
	f["session_id"], f["start_index"], f["events_before_end"] = sid, start, len(indices)
	f["types"], f["oneof_variants"], f["without_sid"], f["decode_errors"] = types, variants, withoutSID, decodeErrors
	if len(indices) > 0 {
		f["first_ei"], f["last_ei"] = indices[0], indices[len(indices)-1]
		f["ei_in_order"] = sort.SliceIsSorted(indices, func(i, j int) bool { return indices[i] < indices[j] })
		gaps, dups := 0, 0
		seen := map[int64]bool{}
		for i, x := range indices {
			if seen[x] {
				dups++
			}
			seen[x] = true
			if i > 0 && x != indices[i-1]+1 {
				gaps++
			}
		}
		f["ei_not_previous_plus_one"], f["ei_duplicates"] = gaps, dups
	}
	return f
}

// eofIsOK turns the end of a stream into no error.
func eofIsOK(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
