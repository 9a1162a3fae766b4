package gateway

import "strings"

// names turns a server's own names into the project's and back. Tools and
// prompts are <server><sep><name>; resource URIs and templates are
// <server>+<uri>, which is again an absolute URI (its scheme gains the
// server as a prefix, as in git+https) and splits back at the first '+'.
// A project with the empty separator (one server) passes names through.
type names struct {
	sep     string
	servers map[string]bool
	// only is the one server of a pass-through project.
	only string
}

func newNames(p *Project) names {
	n := names{sep: p.Separator, servers: map[string]bool{}}
	for _, s := range p.Servers {
		n.servers[s.Name] = true
	}
	if n.sep == "" && len(p.Servers) == 1 {
		n.only = p.Servers[0].Name
	}
	return n
}

func (n names) passThrough() bool { return n.sep == "" }

// item is the project's name of a server's tool or prompt.
func (n names) item(server, name string) string {
	if n.passThrough() {
		return name
	}
	return server + n.sep + name
}

// uri is the project's URI (or URI template) of a server's resource.
func (n names) uri(server, uri string) string {
	if n.passThrough() {
		return uri
	}
	return server + "+" + uri
}

// splitURI finds the server and its own URI of a project URI.
func (n names) splitURI(uri string) (server, own string, ok bool) {
	if n.passThrough() {
		return n.only, uri, n.only != ""
	}
	server, own, ok = strings.Cut(uri, "+")
	if !ok || !n.servers[server] {
		return "", "", false
	}
	return server, own, true
}
