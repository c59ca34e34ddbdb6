package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	auditlogpb "github.com/gravitational/teleport/api/gen/proto/go/teleport/auditlog/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// searcher runs GetUnstructuredEvents over one window.
type searcher struct {
	clt      auditlogpb.AuditLogServiceClient
	from, to time.Time
}

func newSearcher(conn *grpc.ClientConn) *searcher {
	now := time.Now().UTC()
	return &searcher{clt: auditlogpb.NewAuditLogServiceClient(conn), from: now.Add(-6 * time.Hour), to: now.Add(time.Hour)}
}

func (s *searcher) request(order auditlogpb.Order, limit int32, startKey string) *auditlogpb.GetUnstructuredEventsRequest {
	return &auditlogpb.GetUnstructuredEventsRequest{
		StartDate: timestamppb.New(s.from), EndDate: timestamppb.New(s.to),
		Limit: limit, StartKey: startKey, Order: order,
	}
}

func (s *searcher) call(ctx context.Context, req *auditlogpb.GetUnstructuredEventsRequest) (*auditlogpb.EventsUnstructured, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.clt.GetUnstructuredEvents(ctx, req)
}

// page is one response summarised.
type page struct {
	Items   int    `json:"items"`
	LastKey string `json:"last_key"`
	FirstID string `json:"first_id,omitempty"`
	LastID  string `json:"last_id,omitempty"`
}

func summarize(rsp *auditlogpb.EventsUnstructured) page {
	p := page{Items: len(rsp.Items), LastKey: rsp.LastKey}
	if n := len(rsp.Items); n > 0 {
		p.FirstID, p.LastID = rsp.Items[0].Id, rsp.Items[n-1].Id
	}
	return p
}

// walk pages through the whole window with the given order and page size.
func (s *searcher) walk(ctx context.Context, order auditlogpb.Order, limit int32) ([]*auditlogpb.EventUnstructured, []page, error) {
	var all []*auditlogpb.EventUnstructured
	var pages []page
	key := ""
	for i := 0; i < 100000; i++ {
		rsp, err := s.call(ctx, s.request(order, limit, key))
		if err != nil {
			return all, pages, err
		}
		all = append(all, rsp.Items...)
		pages = append(pages, summarize(rsp))
		if rsp.LastKey == "" {
			return all, pages, nil
		}
		key = rsp.LastKey
	}
	return all, pages, fmt.Errorf("more than 100000 pages")
}

// eventJSON is the unstructured payload as JSON text.
func eventJSON(e *auditlogpb.EventUnstructured) string {
	b, err := protojson.Marshal(e.Unstructured)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// field returns a top-level string field of the unstructured payload.
func field(e *auditlogpb.EventUnstructured, name string) string {
	if e.Unstructured == nil {
		return ""
	}
	v, ok := e.Unstructured.Fields[name]
	if !ok {
		return ""
	}
	return v.GetStringValue()
}

func isAscending(items []*auditlogpb.EventUnstructured) bool {
	return sort.SliceIsSorted(items, func(i, j int) bool { return items[i].Time.AsTime().Before(items[j].Time.AsTime()) })
}

func isDescending(items []*auditlogpb.EventUnstructured) bool {
	return sort.SliceIsSorted(items, func(i, j int) bool { return items[i].Time.AsTime().After(items[j].Time.AsTime()) })
}

func direction(items []*auditlogpb.EventUnstructured) string {
	switch {
	case len(items) < 2:
		return "too few items to tell"
	case isAscending(items) && !isDescending(items):
		return "ascending"
	case isDescending(items) && !isAscending(items):
		return "descending"
	default:
		return "neither"
	}
}

// fracDigits is the number of digits after the seconds' decimal point in an RFC 3339 time.
func fracDigits(s string) int {
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return 0
	}
	n := 0
	for _, c := range s[dot+1:] {
		if c < '0' || c > '9' {
			break
		}
		n++
	}
	return n
}
