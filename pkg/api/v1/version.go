package v1

// Version is the release of this build; the build sets it with
// -ldflags "-X github.com/mcpctl/mcpctl/pkg/api/v1.Version=v0.1.0".
var Version = "dev"
