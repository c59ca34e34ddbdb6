// Command refaudit is a reference implementation of the teleport-audit command-line contract
// that run.sh checks (identity, ping, tail), written with Teleport's own Go client. It exists to
// prove the harness: `TELEPORT_AUDIT_BIN=<cache>/refaudit run.sh` must pass every check, so a
// failure with the real teleport-audit is the library's, not the harness's.
//
//	refaudit identity PATH
//	refaudit ping --proxy HOST:PORT --identity-file PATH
//	refaudit tail --proxy HOST:PORT --identity-file PATH --backfill-start RFC3339 --cursor-file PATH [--until-now] [--poll 5s]
//
// tail writes one event (the `unstructured` JSON) per line to stdout. Its cursor names a search
// page (`start_key`) and how many events of that page were written, so it resumes exactly after
// the last written event; on SIGTERM or SIGINT it stops between two events and saves it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	apiclient "github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/client/proto"
	auditlogpb "github.com/gravitational/teleport/api/gen/proto/go/teleport/auditlog/v1"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"teleport-audit.test/realteleport/internal/authconn"
)

// ascending is the wire value of `order` that Teleport answers oldest first (see
// docs/real-teleport-findings.md: the proto's enum names are the other way round).
const ascending = auditlogpb.Order(0)

const pageSize = 100

func main() {
	logrus.SetOutput(io.Discard)
	if len(os.Args) < 2 {
		fail("usage", errors.New("refaudit identity|ping|tail ..."))
	}
	var err error
	switch os.Args[1] {
	case "identity":
		if len(os.Args) != 3 {
			fail("usage", errors.New("refaudit identity PATH"))
		}
		err = identity(os.Args[2])
	case "ping", "tail":
		err = connected(os.Args[1], os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(os.Args[1], err)
	}
}

func fail(step string, err error) {
	fmt.Fprintf(os.Stderr, "refaudit %s: %v\n", step, err)
	os.Exit(1)
}

func identity(path string) error {
	cfg, err := apiclient.LoadIdentityFile(path).TLSConfig()
	if err != nil {
		return err
	}
	leaf, err := authconn.Leaf(path)
	if err != nil {
		return err
	}
	cluster, err := authconn.ClusterName(path)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"cluster": cluster, "user": leaf.Subject.CommonName, "not_after": leaf.NotAfter.UTC(),
		"server_name": cfg.ServerName,
	})
}

func connected(cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	proxy := fs.String("proxy", "", "proxy host:port")
	identityFile := fs.String("identity-file", "", "identity file")
	backfill := fs.String("backfill-start", "", "tail: RFC 3339 start of the backfill (default: now)")
	cursorFile := fs.String("cursor-file", "", "tail: where the cursor is kept")
	untilNow := fs.Bool("until-now", false, "tail: stop once caught up")
	poll := fs.Duration("poll", 5*time.Second, "tail: poll interval once caught up")
	_ = fs.Parse(args)
	cluster, err := authconn.ClusterName(*identityFile)
	if err != nil {
		return err
	}
	// Teleport's rejection of an expired certificate reaches the client as anything from a TLS
	// alert to a broken pipe: check first.
	if leaf, err := authconn.Leaf(*identityFile); err == nil && time.Now().After(leaf.NotAfter) {
		return fmt.Errorf("the identity's certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	t := authconn.Target{Proxy: *proxy, Identity: *identityFile, Cluster: cluster}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, err := authconn.DialGRPC(dctx, t, 0)
	if err != nil {
		return err
	}
	defer conn.Close()
	rsp, err := proto.NewAuthServiceClient(conn).Ping(dctx, &proto.PingRequest{})
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if cmd == "ping" {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"cluster_name": rsp.ClusterName, "server_version": rsp.ServerVersion})
	}
	if *cursorFile == "" {
		return errors.New("--cursor-file is required")
	}
	start := time.Now().UTC()
	if *backfill != "" {
		if start, err = time.Parse(time.RFC3339, *backfill); err != nil {
			return fmt.Errorf("--backfill-start: %w", err)
		}
	}
	probeExport(ctx, conn)
	return tail(ctx, conn, start, *cursorFile, *untilNow, *poll)
}

// probeExport asks for today's export chunks; on Unimplemented the search API is the way.
func probeExport(ctx context.Context, conn *grpc.ClientConn) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := conn.NewStream(cctx, &grpc.StreamDesc{ServerStreams: true}, "/teleport.auditlog.v1.AuditLogService/GetEventExportChunks")
	if err == nil {
		if err = stream.SendMsg(&emptypb.Empty{}); err == nil {
			if err = stream.CloseSend(); err == nil {
				err = stream.RecvMsg(&emptypb.Empty{})
			}
		}
	}
	if status.Code(err) == codes.Unimplemented {
		fmt.Fprintf(os.Stderr, "refaudit: export RPCs are unimplemented (%s); falling back to search\n", status.Convert(err).Message())
	}
}

// cursor is the saved position: the page's start_key, and how many of its events were written.
type cursor struct {
	Start   time.Time `json:"start"`
	PageKey string    `json:"page_key"`
	Written int       `json:"written"`
}

func tail(ctx context.Context, conn *grpc.ClientConn, start time.Time, path string, untilNow bool, poll time.Duration) error {
	cur := cursor{Start: start}
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &cur); err != nil {
			return fmt.Errorf("cursor file %s: %w", path, err)
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	save := func() error {
		if err := out.Flush(); err != nil {
			return err
		}
		data, _ := json.Marshal(cur)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Clean(path))
	}
	clt := auditlogpb.NewAuditLogServiceClient(conn)
	for {
		rsp, err := clt.GetUnstructuredEvents(context.Background(), &auditlogpb.GetUnstructuredEventsRequest{
			StartDate: timestamppb.New(cur.Start), EndDate: timestamppb.New(time.Now().UTC()),
			Limit: pageSize, StartKey: cur.PageKey, Order: ascending,
		})
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		for i := cur.Written; i < len(rsp.Items); i++ {
			if ctx.Err() != nil {
				return save()
			}
			line, err := protojson.Marshal(rsp.Items[i].Unstructured)
			if err != nil {
				return fmt.Errorf("event %s: %w", rsp.Items[i].Id, err)
			}
			out.Write(line)
			out.WriteByte('\n')
			cur.Written = i + 1
		}
		if rsp.LastKey != "" {
			cur.PageKey, cur.Written = rsp.LastKey, 0
		}
		if err := save(); err != nil {
			return err
		}
		if rsp.LastKey == "" {
			if untilNow {
				return nil
			}
			select {
			case <-ctx.Done():
				return save()
			case <-time.After(poll):
			}
		}
	}
}
