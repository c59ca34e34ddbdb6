package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	auditlogpb "github.com/gravitational/teleport/api/gen/proto/go/teleport/auditlog/v1"
	"teleport-audit.test/realteleport/internal/authconn"
)

// runCompare fetches every event of the window through the API and compares it, key by key,
// with the same event (by uid) in Teleport's file audit log.
func runCompare(t authconn.Target, logDir string) error {
	ctx := context.Background()
	conn, err := authconn.DialGRPC(ctx, t, 0)
	if err != nil {
		return err
	}
	defer conn.Close()
	fileEvents, files, lines, err := readFileLog(logDir)
	if err != nil {
		return err
	}
	s := newSearcher(conn)
	zero, _, err := s.walk(ctx, orderZero, 500)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	one, _, err := s.walk(ctx, orderOne, 500)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	items, desc := zero, one
	if direction(zero) == "descending" {
		items, desc = one, zero
	}
	orderOfEqualTimes(items, desc, fileEvents)

	apiByUID := map[string]map[string]any{}
	dupes := 0
	for _, it := range items {
		var m map[string]any
		if err := json.Unmarshal([]byte(eventJSON(it)), &m); err != nil {
			return fmt.Errorf("event %s: %w", it.Id, err)
		}
		uid, _ := m["uid"].(string)
		if _, ok := apiByUID[uid]; ok {
			dupes++
		}
		apiByUID[uid] = m
	}
	equal, differ, onlyFile, onlyAPI := 0, 0, 0, 0
	keyDiffs := map[string]int{}
	var samples []map[string]any
	for uid, fm := range fileEvents {
		fm = withoutLine(fm)
		am, ok := apiByUID[uid]
		if !ok {
			onlyFile++
			continue
		}
		if reflect.DeepEqual(fm, am) {
			equal++
			continue
		}
		differ++
		for _, k := range diffKeys(fm, am) {
			keyDiffs[k]++
		}
		if len(samples) < 3 {
			samples = append(samples, map[string]any{"uid": uid, "file": fm, "api": am})
		}
	}
	for uid := range apiByUID {
		if _, ok := fileEvents[uid]; !ok {
			onlyAPI++
		}
	}
	emit("compare_file_log", map[string]any{
		"log_files": files, "log_lines": lines, "file_events": len(fileEvents), "api_events": len(items),
		"api_duplicate_uids": dupes, "identical": equal, "different": differ, "only_in_file": onlyFile,
		"only_in_api": onlyAPI, "differing_keys": keyDiffs, "samples": samples,
	})
	return nil
}

// orderOfEqualTimes records how the server orders events that share a timestamp: against the
// order of their lines in the file, and between the two directions.
func orderOfEqualTimes(asc, desc []*auditlogpb.EventUnstructured, file map[string]map[string]any) {
	line := func(e *auditlogpb.EventUnstructured) int {
		n, _ := file[e.Id][lineKey].(int)
		return n
	}
	pairs, fileOrder, reversed := 0, 0, 0
	var sample []map[string]any
	for i := 1; i < len(asc); i++ {
		a, b := asc[i-1], asc[i]
		if !a.Time.AsTime().Equal(b.Time.AsTime()) {
			continue
		}
		pairs++
		if line(a) < line(b) {
			fileOrder++
		}
		if len(sample) < 3 {
			sample = append(sample, map[string]any{
				"time":   rfc3339(a.Time.AsTime()),
				"first":  map[string]any{"type": a.Type, "ei": a.Index, "sid": field(a, "sid"), "file_line": line(a)},
				"second": map[string]any{"type": b.Type, "ei": b.Index, "sid": field(b, "sid"), "file_line": line(b)},
			})
		}
	}
	// Does the descending walk list each equal-time group in the exact reverse of the ascending one?
	pos := map[string]int{}
	for i, e := range desc {
		pos[e.Id] = i
	}
	for i := 1; i < len(asc); i++ {
		if asc[i-1].Time.AsTime().Equal(asc[i].Time.AsTime()) && pos[asc[i-1].Id] > pos[asc[i].Id] {
			reversed++
		}
	}
	emit("equal_timestamps", map[string]any{
		"adjacent_equal_time_pairs_ascending": pairs, "in_file_line_order": fileOrder,
		"exactly_reversed_in_descending": reversed, "sample": sample,
	})
}

// lineKey holds, in a parsed file-log event, the global line number it was read from.
const lineKey = "\x00line"

func readFileLog(dir string) (map[string]map[string]any, []string, int, error) {
	events := map[string]map[string]any{}
	var files []string
	lines := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		// events.log is a symlink to the current day's file: read each file once.
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 || !strings.HasSuffix(path, ".log") {
			return err
		}
		files = append(files, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			lines++
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				return fmt.Errorf("%s line %d: %w", path, lines, err)
			}
			uid, _ := m["uid"].(string)
			m[lineKey] = lines
			events[uid] = m
		}
		return sc.Err()
	})
	sort.Strings(files)
	return events, files, lines, err
}

func withoutLine(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != lineKey {
			out[k] = v
		}
	}
	return out
}

func diffKeys(a, b map[string]any) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, k+" (file only)")
		} else if !reflect.DeepEqual(v, w) {
			out = append(out, k+" (values differ)")
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k+" (api only)")
		}
	}
	return out
}
