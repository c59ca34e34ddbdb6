// Command teleport-noweb is Teleport's own `teleport` CLI with one change: `start` runs the proxy
// with the web UI disabled, because the web assets are not part of the Go module (they are built
// by Teleport's JavaScript toolchain). The web API (/webapi/...) still runs. Every other
// subcommand behaves as in `teleport`.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/gravitational/teleport/lib/observability/metrics"
	"github.com/gravitational/teleport/lib/service"
	"github.com/gravitational/teleport/tool/teleport/common"
)

func main() {
	metrics.RegisterPrometheusCollectors(metrics.BuildCollector())

	// InitOnly parses flags and the config file and runs every subcommand except `start`,
	// whose service config it hands back instead.
	_, command, conf := common.Run(common.Options{Args: os.Args[1:], InitOnly: true})
	if command != "start" || conf == nil {
		return
	}
	conf.Proxy.DisableWebInterface = true
	if err := service.Run(context.Background(), *conf, nil); err != nil {
		fmt.Fprintln(os.Stderr, "teleport-noweb:", err)
		os.Exit(1)
	}
}
