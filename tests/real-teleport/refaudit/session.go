package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gravitational/teleport/api/client/proto"
	auditlogpb "github.com/gravitational/teleport/api/gen/proto/go/teleport/auditlog/v1"
	apievents "github.com/gravitational/teleport/api/types/events"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// errRecordingNotFound: the recording was still missing when --recording-wait ran out.
var errRecordingNotFound = errors.New("recording not found")

// errRecordingCorrupt: the server could not read the recording (Unknown, InvalidArgument) or
// sent an event that does not convert.
var errRecordingCorrupt = errors.New("recording corrupt or truncated")

// recordingOptions are the session flags shared by `session` and `tail --session-recordings`.
type recordingOptions struct {
	skip map[string]bool
	wait time.Duration
}

// addRecordingFlags registers --skip-session-types and --recording-wait.
func addRecordingFlags(fs *flag.FlagSet) (*string, *time.Duration) {
	skip := fs.String("skip-session-types", "print", "recording event types not to deliver, comma separated (none: all)")
	wait := fs.Duration("recording-wait", 10*time.Minute, "how long a missing recording is retried")
	return skip, wait
}

func parseSkip(list string) map[string]bool {
	skip := map[string]bool{}
	if strings.TrimSpace(list) == "none" {
		return skip
	}
	for _, t := range strings.Split(list, ",") {
		if t = strings.TrimSpace(t); t != "" {
			skip[t] = true
		}
	}
	return skip
}

// streamRecording reads one session's recording from index `from` (inclusive), as Teleport's Go
// client does: the unstructured RPC, and on Unimplemented the legacy one with FromOneOf +
// ToUnstructured. Each event that is not skipped goes to each as a JSON line with `sid` (added
// when the event has none) and its ei. A NotFound before the first event is retried until
// o.wait has passed.
func streamRecording(ctx context.Context, conn *grpc.ClientConn, sid string, from int64, o recordingOptions, each func(line []byte, ei int64) error) error {
	deadline := time.Now().Add(o.wait)
	got := 0
	emit := func(ev *auditlogpb.EventUnstructured) error {
		got++
		st := ev.Unstructured
		if st == nil {
			st = &structpb.Struct{}
		}
		if st.Fields == nil {
			st.Fields = map[string]*structpb.Value{}
		}
		ei := int64(st.Fields["ei"].GetNumberValue())
		if o.skip[ev.Type] {
			return each(nil, ei)
		}
		if _, ok := st.Fields["sid"]; !ok {
			st.Fields["sid"] = structpb.NewStringValue(sid)
		}
		line, err := protojson.Marshal(st)
		if err != nil {
			return fmt.Errorf("%w: %v", errRecordingCorrupt, err)
		}
		return each(line, ei)
	}
	for {
		err := unstructuredRecording(ctx, conn, sid, from, emit)
		if status.Code(err) == codes.Unimplemented {
			err = legacyRecording(ctx, conn, sid, from, emit)
		}
		switch {
		case err == nil:
			return nil
		case status.Code(err) == codes.NotFound && got == 0 && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return errInterrupted
			case <-time.After(time.Second):
			}
			continue
		case status.Code(err) == codes.NotFound && got == 0:
			return fmt.Errorf("session %s: %w after %s (%w)", sid, errRecordingNotFound, o.wait, err)
		case status.Code(err) == codes.Unknown || status.Code(err) == codes.InvalidArgument:
			return fmt.Errorf("session %s: %w after %d events (%w)", sid, errRecordingCorrupt, got, err)
		default:
			return fmt.Errorf("session %s: %w", sid, err)
		}
	}
}

func unstructuredRecording(ctx context.Context, conn *grpc.ClientConn, sid string, from int64, emit func(*auditlogpb.EventUnstructured) error) error {
	stream, err := auditlogpb.NewAuditLogServiceClient(conn).StreamUnstructuredSessionEvents(ctx,
		&auditlogpb.StreamUnstructuredSessionEventsRequest{SessionId: sid, StartIndex: int32(from)})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
}

func legacyRecording(ctx context.Context, conn *grpc.ClientConn, sid string, from int64, emit func(*auditlogpb.EventUnstructured) error) error {
	stream, err := proto.NewAuthServiceClient(conn).StreamSessionEvents(ctx,
		&proto.StreamSessionEventsRequest{SessionID: sid, StartIndex: int32(from)})
	if err != nil {
		return err
	}
	for {
		one, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ev, err := apievents.FromOneOf(*one)
		if err != nil {
			return fmt.Errorf("%w: %v", errRecordingCorrupt, err)
		}
		u, err := apievents.ToUnstructured(ev)
		if err != nil {
			return fmt.Errorf("%w: %v", errRecordingCorrupt, err)
		}
		if err := emit(u); err != nil {
			return err
		}
	}
}

// session prints one session's recording as NDJSON on stdout.
func session(ctx context.Context, conn *grpc.ClientConn, sid string, from int64, o recordingOptions) error {
	return streamRecording(ctx, conn, sid, from, o, func(line []byte, _ int64) error {
		if line == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errInterrupted
		}
		_, err := fmt.Fprintf(os.Stdout, "%s\n", line)
		return err
	})
}
