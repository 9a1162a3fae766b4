// Command mcpd is the mcpctl daemon: control plane and data plane.
package main

import (
	"os"

	"github.com/mcpctl/mcpctl/internal/server"
)

func main() {
	os.Exit(server.Main(os.Args[1:], os.Stdout, os.Stderr))
}
