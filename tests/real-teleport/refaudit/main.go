// Command refaudit is a reference implementation of the teleport-audit command-line contract
// that run.sh checks (identity, ping, tail), written with Teleport's own Go client. It exists to
// prove the harness: `TELEPORT_AUDIT_BIN=<cache>/refaudit run.sh` must pass every check, so a
// failure with the real teleport-audit is the library's, not the harness's.
//
//	refaudit identity PATH
//	refaudit ping --proxy HOST:PORT --identity-file PATH
//	refaudit tail --proxy HOST:PORT --identity-file PATH --backfill-start RFC3339 --cursor-file PATH
//	    [--until-now] [--poll-interval 5s] [--page-size 100] [--types T1,T2] [--output FILE]
//	    [--session-recordings [--skip-session-types LIST] [--recording-wait DUR]]
//	refaudit session SID --proxy HOST:PORT --identity-file PATH [--from-index N]
//	    [--skip-session-types LIST] [--recording-wait DUR]
//
// tail writes one event (the `unstructured` JSON) per line to stdout, or appended to --output.
// Its cursor names a search page (`start_key`), how many events of that page were written and
// the output file's length then, so it resumes exactly after the last written event (cutting the
// output back to that length first); on SIGTERM or SIGINT it stops between two events, saves it
// and exits 130. The identity file is re-read at every dial (a renewed file is picked up); an
// expired identity or a permission error exits 77. --connection-upgrade always is not
// implemented (Teleport's client does it inside api/client, which this dialer bypasses).
//
// session prints one session's recording (session.go: the unstructured RPC, else the legacy one
// with Teleport's FromOneOf + ToUnstructured), `sid` added where an event has none, `print`
// skipped unless --skip-session-types says otherwise; a recording still missing after
// --recording-wait, or one the server cannot read, exits 1. With --session-recordings, tail
// writes each session.upload's recording right after it; its cursor then also names the
// session being read and the next index, saved every 10 recording events, so a resume goes on
// inside the recording; a missing or corrupt recording is a notice on stderr, and tail goes on.
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
	"strings"
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

func main() {
	logrus.SetOutput(io.Discard)
	if len(os.Args) < 2 {
		fail("usage", errors.New("refaudit identity|ping|tail|session ..."))
	}
	var err error
	switch os.Args[1] {
	case "identity":
		if len(os.Args) != 3 {
			fail("usage", errors.New("refaudit identity PATH"))
		}
		err = identity(os.Args[2])
	case "ping", "tail", "session":
		err = connected(os.Args[1], os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(os.Args[1], err)
	}
}

// errExpired marks an identity whose certificate has expired (checked before every dial).
var errExpired = errors.New("the identity expired")

// errInterrupted is a clean stop by SIGTERM or SIGINT, cursor saved.
var errInterrupted = errors.New("interrupted, cursor saved")

func fail(step string, err error) {
	fmt.Fprintf(os.Stderr, "refaudit %s: error: %v\n", step, err)
	switch {
	case errors.Is(err, errInterrupted):
		os.Exit(130)
	case errors.Is(err, errExpired) || status.Code(errors.Unwrap(err)) == codes.PermissionDenied || status.Code(err) == codes.PermissionDenied:
		os.Exit(77)
	}
	os.Exit(1)
}

// lastSerial is the serial number of the certificate checkExpiry last saw.
var lastSerial string

// checkExpiry reads the identity file (it may have been renewed) and refuses an expired one.
func checkExpiry(path string) error {
	leaf, err := authconn.Leaf(path)
	if err != nil {
		return err
	}
	if serial := leaf.SerialNumber.String(); serial != lastSerial {
		if lastSerial != "" {
			fmt.Fprintf(os.Stderr, "refaudit: identity file changed; using the new certificate (valid until %s)\n", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		lastSerial = serial
	}
	if time.Now().After(leaf.NotAfter) {
		return fmt.Errorf("%w at %s", errExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
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
	sid := ""
	if cmd == "session" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Println("refaudit session SID --proxy HOST:PORT --identity-file PATH [--from-index N] [--skip-session-types LIST] [--recording-wait DUR]")
			os.Exit(0)
		}
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return errors.New("usage: refaudit session SID --proxy HOST:PORT --identity-file PATH [...]")
		}
		sid, args = args[0], args[1:]
	}
	fromIndex := fs.Int64("from-index", 0, "session: the first event index")
	recordings := fs.Bool("session-recordings", false, "tail: each session.upload's recording after it")
	skipTypes, recordingWait := addRecordingFlags(fs)
	proxy := fs.String("proxy", "", "proxy host:port")
	identityFile := fs.String("identity-file", "", "identity file")
	backfill := fs.String("backfill-start", "", "tail: RFC 3339 start of the backfill (default: now)")
	cursorFile := fs.String("cursor-file", "", "tail: where the cursor is kept")
	untilNow := fs.Bool("until-now", false, "tail: stop once caught up")
	poll := fs.Duration("poll-interval", 2*time.Second, "tail: poll interval once caught up")
	pageSize := fs.Int("page-size", 100, "tail: events per page")
	types := fs.String("types", "", "tail: only these event types, comma separated (server-side)")
	output := fs.String("output", "", "tail: append events to this file, exactly once")
	upgrade := fs.String("connection-upgrade", "never", "not implemented beyond never/auto")
	_ = fs.String("proxy-ca", "", "ignored")
	_ = fs.Parse(args)
	if *upgrade == "always" {
		return errors.New("--connection-upgrade always is not implemented by refaudit")
	}
	cluster, err := authconn.ClusterName(*identityFile)
	if err != nil {
		return err
	}
	// Teleport's rejection of an expired certificate reaches the client as anything from a TLS
	// alert to a broken pipe: check first (and again before every dial, see DialGRPC).
	if err := checkExpiry(*identityFile); err != nil {
		return err
	}
	t := authconn.Target{Proxy: *proxy, Identity: *identityFile, Cluster: cluster}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, err := authconn.DialGRPCReloading(dctx, t, func() error { return checkExpiry(*identityFile) })
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
	recOpts := recordingOptions{skip: parseSkip(*skipTypes), wait: *recordingWait}
	if cmd == "session" {
		return session(ctx, conn, sid, *fromIndex, recOpts)
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
	opts := tailOptions{untilNow: *untilNow, poll: *poll, pageSize: int32(*pageSize), output: *output}
	if *recordings {
		opts.recordings = &recOpts
	}
	if *types != "" {
		for _, ty := range strings.Split(*types, ",") {
			opts.types = append(opts.types, strings.TrimSpace(ty))
		}
	}
	err = tail(ctx, conn, start, *cursorFile, opts)
	if err != nil && status.Code(errors.Unwrap(err)) == codes.Unavailable {
		// A redial refused because the identity (re-read) has expired.
		if expired := checkExpiry(*identityFile); expired != nil {
			return expired
		}
	}
	return err
}

type tailOptions struct {
	untilNow bool
	poll     time.Duration
	pageSize int32
	types    []string
	output   string
	// recordings: with --session-recordings, how to read them.
	recordings *recordingOptions
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

// cursor is the saved position: the page's start_key, how many of its events were written, and
// the output file's length once they were (with --output).
type cursor struct {
	Start     time.Time `json:"start"`
	PageKey   string    `json:"page_key"`
	Written   int       `json:"written"`
	OutputLen int64     `json:"output_len"`
	// RecSID is the session whose recording is being written (after its session.upload, the
	// last written event), RecNext the index to resume it from.
	RecSID  string `json:"rec_sid,omitempty"`
	RecNext int64  `json:"rec_next,omitempty"`
}

func tail(ctx context.Context, conn *grpc.ClientConn, start time.Time, path string, o tailOptions) error {
	cur := cursor{Start: start}
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &cur); err != nil {
			return fmt.Errorf("cursor file %s: %w", path, err)
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	var sink *os.File = os.Stdout
	if o.output != "" {
		f, err := os.OpenFile(o.output, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		// Cut back what a crash wrote after the last saved cursor.
		if err := f.Truncate(cur.OutputLen); err != nil {
			return err
		}
		if _, err := f.Seek(cur.OutputLen, io.SeekStart); err != nil {
			return err
		}
		sink = f
	}
	out := bufio.NewWriter(sink)
	save := func() error {
		if err := out.Flush(); err != nil {
			return err
		}
		if o.output != "" {
			if err := sink.Sync(); err != nil {
				return err
			}
			pos, err := sink.Seek(0, io.SeekCurrent)
			if err != nil {
				return err
			}
			cur.OutputLen = pos
		}
		data, _ := json.Marshal(cur)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Clean(path))
	}
	stop := func() error {
		if err := save(); err != nil {
			return err
		}
		return errInterrupted
	}
	// The recording of cur.RecSID, from cur.RecNext, then the cursor moves past it.
	recording := func() error {
		n := 0
		err := streamRecording(ctx, conn, cur.RecSID, cur.RecNext, *o.recordings, func(line []byte, ei int64) error {
			if ctx.Err() != nil {
				return errInterrupted
			}
			if line != nil {
				out.Write(line)
				out.WriteByte('\n')
			}
			cur.RecNext = ei + 1
			if n++; n%10 == 0 {
				return save()
			}
			return nil
		})
		switch {
		case errors.Is(err, errInterrupted):
			return stop()
		case errors.Is(err, errRecordingNotFound) || errors.Is(err, errRecordingCorrupt):
			fmt.Fprintf(os.Stderr, "refaudit: notice: %v\n", err)
		case err != nil:
			return err
		}
		cur.RecSID, cur.RecNext = "", 0
		return save()
	}
	if cur.RecSID != "" && o.recordings != nil {
		if err := recording(); err != nil {
			return err
		}
	}
	clt := auditlogpb.NewAuditLogServiceClient(conn)
	for {
		req := &auditlogpb.GetUnstructuredEventsRequest{
			StartDate: timestamppb.New(cur.Start), EndDate: timestamppb.New(time.Now().UTC()),
			Limit: o.pageSize, StartKey: cur.PageKey, Order: ascending, EventTypes: o.types,
		}
		rsp, err := clt.GetUnstructuredEvents(context.Background(), req)
		// A connection cut under a call in flight: try again a few times (the redial re-reads
		// the identity file).
		for retry := 0; retry < 5 && status.Code(err) == codes.Unavailable; retry++ {
			time.Sleep(time.Second)
			rsp, err = clt.GetUnstructuredEvents(context.Background(), req)
		}
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		for i := cur.Written; i < len(rsp.Items); i++ {
			if ctx.Err() != nil {
				return stop()
			}
			line, err := protojson.Marshal(rsp.Items[i].Unstructured)
			if err != nil {
				return fmt.Errorf("event %s: %w", rsp.Items[i].Id, err)
			}
			out.Write(line)
			out.WriteByte('\n')
			cur.Written = i + 1
			if o.recordings != nil && rsp.Items[i].Type == "session.upload" {
				cur.RecSID, cur.RecNext = rsp.Items[i].Unstructured.GetFields()["sid"].GetStringValue(), 0
				if err := recording(); err != nil {
					return err
				}
			}
		}
		if rsp.LastKey != "" {
			cur.PageKey, cur.Written = rsp.LastKey, 0
		}
		if err := save(); err != nil {
			return err
		}
		if rsp.LastKey == "" {
			if o.untilNow {
				return nil
			}
			select {
			case <-ctx.Done():
				return stop()
			case <-time.After(o.poll):
			}
		}
	}
}
