// Command go-peer reads a Teleport cluster's audit log with Teleport's own Go API client, the
// way Teleport's event handler plugin does, and writes it as NDJSON like `teleport-audit tail`:
// one event per line, the event's `unstructured` Struct as JSON. It is the peer that
// benches/go-peer/compare.py measures our client against (docs/benchmarks.md).
//
//	go-peer --proxy HOST:PORT --identity-file PATH --backfill-start RFC3339 [--page-size 500] [--alpn-auth]
//
// What it does, as the event handler (teleport-plugins, event-handler) does:
//   - client.New with the proxy address and client.LoadIdentityFile: the api client races its
//     dialers (Auth, proxy SSH, tunnel, TLS routing, TLS routing with connection upgrade) and
//     keeps the first that connects;
//   - SearchUnstructuredEvents in ascending order, `--page-size` events per call, each call
//     resuming from the previous call's last key, until a page comes back without one;
//   - each event's Struct turned into JSON with protojson (what Struct.MarshalJSON does).
//
// Differences, for a bounded measurement: the end of the searched range is fixed when the run
// starts (the plugin passes time.Now() on every call and never stops), and the run ends at the
// first page without a last key (the plugin would sleep and poll again).
//
// --alpn-auth sets the api client's ALPNSNIAuthDialClusterName (the cluster name read from the
// identity's certificate): the Auth Service is then dialed through the proxy's TLS routing by
// ALPN, the path teleport-audit takes. The simulated cluster needs it (its proxy does not serve
// the SSH reverse tunnel that the plugin's default configuration dials through).
//
// Stdout carries only events. The last stderr line is a JSON summary:
// {"events":N,"pages":N,"seconds":S,"api_version":"..."}.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gravitational/teleport/api"
	apiclient "github.com/gravitational/teleport/api/client"
	"github.com/gravitational/teleport/api/defaults"
	"github.com/gravitational/teleport/api/identityfile"
	"github.com/gravitational/teleport/api/types"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	logrus.SetOutput(io.Discard) // the api client logs its dial attempts through logrus
	proxy := flag.String("proxy", "", "proxy address HOST:PORT")
	identityFile := flag.String("identity-file", "", "identity file from `tctl auth sign --format=file`")
	backfill := flag.String("backfill-start", "", "RFC 3339 start of the searched range")
	pageSize := flag.Int("page-size", 500, "events per SearchUnstructuredEvents call (1 to 10000)")
	alpnAuth := flag.Bool("alpn-auth", false, "dial the Auth Service through the proxy's TLS routing (ALPN), as teleport-audit does")
	timeout := flag.Duration("timeout", 30*time.Second, "time allowed for connecting")
	flag.Parse()
	if err := run(*proxy, *identityFile, *backfill, *pageSize, *alpnAuth, *timeout); err != nil {
		fmt.Fprintf(os.Stderr, "go-peer: %v\n", err)
		os.Exit(1)
	}
}

func run(proxy, identityFile, backfill string, pageSize int, alpnAuth bool, timeout time.Duration) error {
	if proxy == "" || identityFile == "" || backfill == "" {
		return errors.New("--proxy, --identity-file and --backfill-start are required")
	}
	if pageSize < 1 || pageSize > 10000 {
		return fmt.Errorf("--page-size %d is not in 1..10000", pageSize)
	}
	from, err := time.Parse(time.RFC3339Nano, backfill)
	if err != nil {
		return fmt.Errorf("--backfill-start: %w", err)
	}
	started := time.Now()
	to := started.UTC()

	cfg := apiclient.Config{
		Addrs:       []string{proxy},
		Credentials: []apiclient.Credentials{apiclient.LoadIdentityFile(identityFile)},
		DialTimeout: timeout,
	}
	if alpnAuth {
		cluster, err := clusterName(identityFile)
		if err != nil {
			return err
		}
		cfg.ALPNSNIAuthDialClusterName = cluster
	}
	ctx := context.Background()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	clt, err := apiclient.New(dctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer clt.Close()

	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	events, pages, startKey := 0, 0, ""
	for {
		items, lastKey, err := clt.SearchUnstructuredEvents(ctx, from, to, defaults.Namespace, nil, pageSize, types.EventOrderAscending, startKey)
		if err != nil {
			return fmt.Errorf("search (page %d, after %d events): %w", pages+1, events, err)
		}
		pages++
		for _, item := range items {
			line, err := protojson.Marshal(item.Unstructured)
			if err != nil {
				return fmt.Errorf("event %s: %w", item.Id, err)
			}
			out.Write(line)
			out.WriteByte('\n')
			events++
		}
		if lastKey == "" {
			break
		}
		startKey = lastKey
	}
	if err := out.Flush(); err != nil {
		return err
	}
	summary, _ := json.Marshal(map[string]any{
		"events": events, "pages": pages, "seconds": time.Since(started).Seconds(), "api_version": api.Version,
	})
	fmt.Fprintln(os.Stderr, string(summary))
	return nil
}

// clusterName is the name of the cluster whose user CA signed the identity's TLS certificate
// (the issuer's organization), read with Teleport's own identity file parser.
func clusterName(path string) (string, error) {
	id, err := identityfile.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read identity %s: %w", path, err)
	}
	block, _ := pem.Decode(id.Certs.TLS)
	if block == nil {
		return "", fmt.Errorf("identity %s has no TLS certificate", path)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("identity %s: TLS certificate: %w", path, err)
	}
	if len(leaf.Issuer.Organization) == 0 {
		return "", fmt.Errorf("identity %s: the TLS certificate's issuer names no cluster", path)
	}
	return leaf.Issuer.Organization[0], nil
}
