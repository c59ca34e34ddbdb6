// Command probe asks a real Teleport cluster the questions whose answers the teleport-audit
// simulator must match, and prints each answer as one JSON line (`{"probe": NAME, ...}`).
//
// It dials the Auth Service the way teleport-audit does: TCP to the proxy's single TLS port,
// TLS with ALPN `teleport-auth@<hex(cluster)>.teleport.cluster.local` then `h2`, server name
// `teleport.cluster.local`, the identity file's CAs as the only roots; then gRPC over that
// connection. The identity file is read by Teleport's own api/client.
//
// Subcommands:
//
//	probe facts   -proxy ADDR -identity FILE -cluster NAME [-keepalive]   search/stream/export semantics, ALPN, /webapi/find
//	probe access  -proxy ADDR -identity FILE -cluster NAME -label LABEL   what a given identity gets (errors)
//	probe compare -proxy ADDR -identity FILE -cluster NAME -log-dir DIR   API events against the file audit log
//	probe session-events -proxy ADDR -identity FILE -cluster NAME -sid SID [-start N]   one recording via Teleport's Go client (JSON lines)
//	probe session-facts  -proxy ADDR -identity FILE -cluster NAME -sid SID -label L    what each recording RPC answers for SID
//	probe wrong-ca IN OUT                                                 copy of an identity file whose TLS CAs are a fresh, unrelated CA
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sirupsen/logrus"
	"teleport-audit.test/realteleport/internal/authconn"
)

func main() {
	// Teleport's client logs through logrus; the findings are the JSON lines on stdout.
	logrus.SetOutput(io.Discard)
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "facts", "access", "compare", "session-events", "session-facts":
		err = runCluster(cmd, args)
	case "wrong-ca":
		if len(args) != 2 {
			usage()
		}
		err = writeWrongCAIdentity(args[0], args[1])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe facts|access|compare|session-events|session-facts -proxy ADDR -identity FILE -cluster NAME [...] | probe wrong-ca IN OUT")
	os.Exit(2)
}

func runCluster(cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	var t authconn.Target
	fs.StringVar(&t.Proxy, "proxy", "", "proxy address host:port (TLS routing)")
	fs.StringVar(&t.Identity, "identity", "", "identity file from tctl auth sign --format=file")
	fs.StringVar(&t.Cluster, "cluster", "", "cluster name")
	label := fs.String("label", "", "access: a name for this identity in the output")
	logDir := fs.String("log-dir", "", "compare: the directory holding Teleport's file audit log (*.log)")
	sid := fs.String("sid", "", "session-events, session-facts: the session id")
	start := fs.Int64("start", 0, "session-events: the start index")
	keepaliveTest := fs.Bool("keepalive", false, "facts: also measure the server's keepalive enforcement (about 45 s)")
	_ = fs.Parse(args)
	if t.Proxy == "" || t.Identity == "" || t.Cluster == "" {
		return fmt.Errorf("%s needs -proxy, -identity and -cluster", cmd)
	}
	switch cmd {
	case "facts":
		return runFacts(t, *keepaliveTest)
	case "access":
		return runAccess(t, *label)
	case "session-events":
		return runSessionEvents(t, *sid, *start)
	case "session-facts":
		return runSessionFacts(t, *sid, *label)
	default:
		if *logDir == "" {
			return fmt.Errorf("compare needs -log-dir")
		}
		return runCompare(t, *logDir)
	}
}

// emit prints one finding as a JSON line.
func emit(probe string, fields map[string]any) {
	out := map[string]any{"probe": probe}
	for k, v := range fields {
		out[k] = v
	}
	line, err := json.Marshal(out)
	if err != nil {
		line = []byte(fmt.Sprintf(`{"probe":%q,"marshal_error":%q}`, probe, err.Error()))
	}
	fmt.Println(string(line))
}

// rfc3339 formats a time the way the findings quote it.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
