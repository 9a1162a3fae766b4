// Command mcpctl is the kubectl-style CLI of mcpctl.
package main

import (
	"os"

	"github.com/mcpctl/mcpctl/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
