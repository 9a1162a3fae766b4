// Command mcplocal is the MCP gateway on the user's side. Its gateway modes
// (stdio, serve) arrive with the gateway; this build knows its version.
package main

import (
	"fmt"
	"os"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("mcplocal", v1.Version)
		return
	}
	fmt.Fprintln(os.Stderr, "mcplocal: the gateway modes (stdio, serve) are not in this build yet; only `mcplocal version` works")
	os.Exit(2)
}
