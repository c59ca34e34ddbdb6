package main

import (
	"context"
	"time"

	"github.com/gravitational/teleport/api/client/proto"
	auditlogpb "github.com/gravitational/teleport/api/gen/proto/go/teleport/auditlog/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"teleport-audit.test/realteleport/internal/authconn"
)

const (
	orderZero = auditlogpb.Order_ORDER_DESCENDING_UNSPECIFIED
	orderOne  = auditlogpb.Order_ORDER_ASCENDING
)

// ascWire and descWire are the wire values of `order` that the server answers in ascending and
// descending time order: orderFacts finds them (the proto's names say 1 and 0).
var ascWire, descWire = orderOne, orderZero

func runFacts(t authconn.Target, keepaliveTest bool) error {
	ctx := context.Background()
	conn, err := authconn.DialGRPC(ctx, t, 0)
	if err != nil {
		return err
	}
	defer conn.Close()

	pingFacts(ctx, conn)
	s := newSearcher(conn)
	asc := orderFacts(ctx, s)
	limitFacts(ctx, s)
	pagingFacts(ctx, s, asc)
	edgeFacts(ctx, s, asc)
	filterFacts(ctx, s, asc)
	eventFacts(asc)
	sessionStreamFacts(ctx, conn)
	exportFacts(ctx, conn)
	alpnFacts(t)
	webFacts(t)
	if keepaliveTest {
		keepaliveFacts(t)
	}
	return nil
}

func pingFacts(ctx context.Context, conn *grpc.ClientConn) {
	rsp, err := proto.NewAuthServiceClient(conn).Ping(ctx, &proto.PingRequest{})
	f := authconn.Status(err)
	if err == nil {
		f["cluster_name"] = rsp.ClusterName
		f["server_version"] = rsp.ServerVersion
		f["proxy_public_addr"] = rsp.ProxyPublicAddr
		f["remote_addr"] = rsp.RemoteAddr
		f["is_boring"] = rsp.IsBoring
	}
	emit("ping", f)
}

// orderFacts finds what the two wire values of `order` do, and returns every event of the
// window in ascending order.
func orderFacts(ctx context.Context, s *searcher) []*auditlogpb.EventUnstructured {
	var ascending []*auditlogpb.EventUnstructured
	for _, o := range []auditlogpb.Order{orderZero, orderOne} {
		items, pages, err := s.walk(ctx, o, 100)
		f := authconn.Status(err)
		f["order_wire_value"] = int32(o)
		f["order_proto_name"] = o.String()
		f["items"] = len(items)
		f["pages"] = len(pages)
		f["direction"] = direction(items)
		if len(items) > 0 {
			f["first_time"] = rfc3339(items[0].Time.AsTime())
			f["last_time"] = rfc3339(items[len(items)-1].Time.AsTime())
		}
		emit("order", f)
		if direction(items) == "ascending" {
			ascending = items
			ascWire, descWire = o, 1-o
		}
	}
	return ascending
}

func limitFacts(ctx context.Context, s *searcher) {
	for _, limit := range []int32{0, -1, 1, 10000, 10001} {
		rsp, err := s.call(ctx, s.request(ascWire, limit, ""))
		f := authconn.Status(err)
		f["limit"] = limit
		if err == nil {
			f["page"] = summarize(rsp)
		}
		emit("limit", f)
	}
	// Start after end, and no dates at all.
	req := s.request(ascWire, 10, "")
	req.StartDate, req.EndDate = req.EndDate, req.StartDate
	rsp, err := s.call(ctx, req)
	f := authconn.Status(err)
	if err == nil {
		f["page"] = summarize(rsp)
	}
	emit("start_after_end", f)
	req = s.request(ascWire, 10, "")
	req.StartDate, req.EndDate = timestamppb.New(s.to), timestamppb.New(s.to.Add(-72*time.Hour))
	rsp, err = s.call(ctx, req)
	f = authconn.Status(err)
	if err == nil {
		f["page"] = summarize(rsp)
	}
	emit("start_72h_after_end", f)
	rsp, err = s.call(ctx, &auditlogpb.GetUnstructuredEventsRequest{Limit: 10, Order: ascWire})
	f = authconn.Status(err)
	if err == nil {
		f["page"] = summarize(rsp)
	}
	emit("no_dates", f)
}

func pagingFacts(ctx context.Context, s *searcher, asc []*auditlogpb.EventUnstructured) {
	n := int32(len(asc))
	if n < 3 {
		emit("paging", map[string]any{"skipped": "fewer than 3 events"})
		return
	}
	// A page size that does not divide the total: the last page is short.
	short := int32(7)
	if n%short == 0 {
		short = 8
	}
	items, pages, err := s.walk(ctx, ascWire, short)
	f := authconn.Status(err)
	f["limit"] = short
	f["total"] = len(items)
	f["same_as_single_walk"] = sameIDs(items, asc)
	f["first_pages"] = pages[:min(3, len(pages))]
	f["final_page"] = pages[len(pages)-1]
	if len(pages) > 0 && len(asc) >= int(short) {
		f["last_key_equals_last_item_id"] = pages[0].LastKey == pages[0].LastID
		f["last_key_equals_last_item_uid"] = pages[0].LastKey == field(asc[short-1], "uid")
	}
	emit("paging_short_final_page", f)

	// A page size equal to the total: a full final page.
	items, pages, err = s.walk(ctx, ascWire, n)
	f = authconn.Status(err)
	f["limit"] = n
	f["pages"] = pages
	f["total"] = len(items)
	emit("paging_exact_final_page", f)

	// An unknown start_key, and a well-formed one from the other direction.
	for _, key := range []string{"not-a-key", "00000000-0000-0000-0000-000000000000", asc[n-1].Id} {
		rsp, err := s.call(ctx, s.request(ascWire, 10, key))
		f := authconn.Status(err)
		f["start_key"] = key
		if err == nil {
			f["page"] = summarize(rsp)
		}
		emit("start_key", f)
	}
	// Descending paging resumes too.
	items, pages, err = s.walk(ctx, descWire, short)
	f = authconn.Status(err)
	f["order_wire_value"] = int32(descWire)
	f["total"] = len(items)
	f["pages"] = len(pages)
	f["direction"] = direction(items)
	emit("paging_other_order", f)
}

func sameIDs(a, b []*auditlogpb.EventUnstructured) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Id != b[i].Id {
			return false
		}
	}
	return true
}

// edgeFacts checks whether start_date and end_date are inclusive, at full time precision.
func edgeFacts(ctx context.Context, s *searcher, asc []*auditlogpb.EventUnstructured) {
	if len(asc) < 2 {
		return
	}
	e := asc[len(asc)/2]
	t := e.Time.AsTime()
	try := func(name string, from, to time.Time) {
		req := &auditlogpb.GetUnstructuredEventsRequest{StartDate: timestamppb.New(from), EndDate: timestamppb.New(to), Limit: 100, Order: ascWire}
		rsp, err := s.call(ctx, req)
		f := authconn.Status(err)
		f["case"] = name
		f["event_time"] = rfc3339(t)
		if err == nil {
			found := false
			for _, it := range rsp.Items {
				if it.Id == e.Id {
					found = true
				}
			}
			f["contains_event"] = found
			f["items"] = len(rsp.Items)
		}
		emit("range_edge", f)
	}
	try("start=end=t", t, t)
	try("start=t+1ns", t.Add(time.Nanosecond), t.Add(time.Hour))
	try("end=t-1ns", t.Add(-time.Hour), t.Add(-time.Nanosecond))
	try("start=t-1ms, end=t+999999ns", t.Add(-time.Millisecond), t.Add(999999*time.Nanosecond))
}

func filterFacts(ctx context.Context, s *searcher, asc []*auditlogpb.EventUnstructured) {
	for _, types := range [][]string{{"role.created"}, {"user.login", "cert.create"}, {"no.such.type"}, {"T9000I"}} {
		req := s.request(ascWire, 10000, "")
		req.EventTypes = types
		rsp, err := s.call(ctx, req)
		f := authconn.Status(err)
		f["event_types"] = types
		if err == nil {
			counts := map[string]int{}
			for _, it := range rsp.Items {
				counts[it.Type]++
			}
			f["items"] = len(rsp.Items)
			f["types_returned"] = counts
			want := 0
			for _, e := range asc {
				for _, ty := range types {
					if e.Type == ty {
						want++
					}
				}
			}
			f["matching_in_unfiltered"] = want
		}
		emit("event_types_filter", f)
	}
}

// eventFacts records the shape of events: id vs uid, index vs ei, type vs event, precision,
// and one sample per interesting type.
func eventFacts(asc []*auditlogpb.EventUnstructured) {
	idIsUID, typeIsEvent, indexIsEI, noUID := 0, 0, 0, 0
	digits := map[int]int{}
	wireNanosNonZero := 0
	for _, e := range asc {
		if uid := field(e, "uid"); uid == "" {
			noUID++
		} else if uid == e.Id {
			idIsUID++
		}
		if e.Type == field(e, "event") {
			typeIsEvent++
		}
		if ei, ok := e.Unstructured.GetFields()["ei"]; ok && int64(ei.GetNumberValue()) == e.Index {
			indexIsEI++
		}
		digits[fracDigits(field(e, "time"))]++
		if e.Time.GetNanos() != 0 {
			wireNanosNonZero++
		}
	}
	emit("event_shape", map[string]any{
		"events": len(asc), "id_equals_uid": idIsUID, "without_uid": noUID, "type_equals_event": typeIsEvent,
		"index_equals_ei": indexIsEI, "time_field_fraction_digits": digits, "wire_time_with_nanos": wireNanosNonZero,
	})
	seen := map[string]bool{}
	for _, e := range asc {
		key := e.Type + "/" + field(e, "code")
		if seen[key] {
			continue
		}
		seen[key] = true
		emit("sample_event", map[string]any{
			"type": e.Type, "id": e.Id, "index": e.Index, "wire_time": rfc3339(e.Time.AsTime()), "unstructured": eventJSON(e),
		})
	}
}

func sessionStreamFacts(ctx context.Context, conn *grpc.ClientConn) {
	clt := auditlogpb.NewAuditLogServiceClient(conn)
	for _, sid := range []string{"5b2d8a2e-0000-4000-8000-000000000000", "not-a-session-id", ""} {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		stream, err := clt.StreamUnstructuredSessionEvents(cctx, &auditlogpb.StreamUnstructuredSessionEventsRequest{SessionId: sid})
		n := 0
		if err == nil {
			for {
				_, err = stream.Recv()
				if err != nil {
					break
				}
				n++
			}
		}
		cancel()
		f := authconn.Status(err)
		f["session_id"] = sid
		f["events_before_end"] = n
		emit("session_stream", f)
	}
}

// exportFacts calls the export RPCs by name: this Teleport's protos may predate them.
func exportFacts(ctx context.Context, conn *grpc.ClientConn) {
	for _, method := range []string{
		"/teleport.auditlog.v1.AuditLogService/GetEventExportChunks",
		"/teleport.auditlog.v1.AuditLogService/ExportUnstructuredEvents",
	} {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		stream, err := conn.NewStream(cctx, &grpc.StreamDesc{ServerStreams: true}, method)
		if err == nil {
			if err = stream.SendMsg(&emptypb.Empty{}); err == nil {
				if err = stream.CloseSend(); err == nil {
					err = stream.RecvMsg(&emptypb.Empty{})
				}
			}
		}
		cancel()
		f := authconn.Status(err)
		f["method"] = method
		emit("export", f)
	}
}
