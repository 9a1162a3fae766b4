package v1

// GatewayConfig is what a gateway needs of a project, as
// GET /api/v1/projects/{p}/gateway answers it to anyone who may view the
// project (an McpToken of it too): its servers with their session modes,
// its filters and separator, and its prompts.
type GatewayConfig struct {
	Project   string                `json:"project"`
	Separator string                `json:"separator"`
	Servers   []GatewayServer       `json:"servers"`
	Tools     map[string]ToolFilter `json:"tools,omitempty"`
	Prompts   []GatewayPrompt       `json:"prompts,omitempty"`
}

// GatewayServer is one server of a project.
type GatewayServer struct {
	Name        string `json:"name"`
	SessionMode string `json:"sessionMode"`
}

// GatewayPrompt is one of a project's prompts.
type GatewayPrompt struct {
	Name     string   `json:"name"`
	Text     string   `json:"text"`
	Priority int      `json:"priority,omitempty"`
	Tags     []string `json:"tags,omitempty"`
}
