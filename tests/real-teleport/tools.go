//go:build tools

// Package tools records, for `go mod tidy`, the Teleport command packages build.sh builds by
// import path (tctl, tsh), so that go.sum carries every module they need.
package tools

import (
	_ "github.com/gravitational/teleport/tool/tctl/common"
	_ "github.com/gravitational/teleport/tool/tsh"
)
