// Command mcplocal is the MCP gateway on the user's side: STDIO for
// desktop clients, Streamable HTTP ("HTTP mode"), or standalone from a
// project file. See internal/mcplocal.
package main

import (
	"os"

	"github.com/mcpctl/mcpctl/internal/mcplocal"
)

func main() {
	os.Exit(mcplocal.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
