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
)

// runCompare fetches every event of the window through the API and compares it, key by key,
// with the same event (by uid) in Teleport's file audit log.
func runCompare(t target, logDir string) error {
	ctx := context.Background()
	conn, err := dialGRPC(ctx, t, 0)
	if err != nil {
		return err
	}
	defer conn.Close()
	fileEvents, files, lines, err := readFileLog(logDir)
	if err != nil {
		return err
	}
	s := newSearcher(conn)
	items, _, err := s.walk(ctx, orderOne, 500)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if direction(items) == "descending" {
		items, _, err = s.walk(ctx, orderZero, 500)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
	}

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

func readFileLog(dir string) (map[string]map[string]any, []string, int, error) {
	events := map[string]map[string]any{}
	var files []string
	lines := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
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
			events[uid] = m
		}
		return sc.Err()
	})
	sort.Strings(files)
	return events, files, lines, err
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
