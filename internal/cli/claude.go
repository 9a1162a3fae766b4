package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/spf13/cobra"
)

// ConfigClaudeOptions are the inputs of `mcpctl config claude`.
type ConfigClaudeOptions struct {
	F       *Factory
	Project string
	// HTTP writes an entry for mcpd's project endpoint instead of mcplocal.
	HTTP bool
	// Token is the McpToken of an --http entry: --token, else $MCPCTL_TOKEN.
	Token    string
	Name     string
	File     string
	Print    bool
	MCPLocal string
}

// NewCmdConfigClaude builds `mcpctl config claude`; runF replaces the run
// function in tests.
func NewCmdConfigClaude(f *Factory, runF func(*ConfigClaudeOptions) error) *cobra.Command {
	o := &ConfigClaudeOptions{F: f}
	var tokenFlag bool
	cmd := &cobra.Command{
		Use:   "claude --project P [--http] [--token T] [--name NAME] [--file PATH] [--print] [--mcplocal PATH]",
		Short: "Add a project's MCP endpoint to Claude Code's .mcp.json",
		Long: `Write the MCP server entry of a project into Claude Code's project-scope
configuration (.mcp.json in the current directory, under "mcpServers"), or
print it with --print. Other keys and servers in the file are kept as they
are; a file that is not a JSON object is refused and left unchanged.

The default entry runs "mcplocal stdio --project P", which reaches mcpd with
your mcpctl login. With --http the entry points Claude Code at mcpd's
endpoint <mcpd URL of the context>/projects/P/mcp with an McpToken (--token
or $MCPCTL_TOKEN); the file is then written with mode 0600. Keep a file
holding a token out of version control.`,
		Example: `  mcpctl config claude --project demo
  mcpctl config claude --project demo --http --token "$(cat demo.token)"
  mcpctl config claude -p demo --print`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tokenFlag = cmd.Flags().Changed("token")
			if tokenFlag && !o.HTTP {
				return &UsageError{Msg: "--token is for --http entries; the default entry uses your mcpctl login through mcplocal"}
			}
			if cmd.Flags().Changed("mcplocal") && o.HTTP {
				return &UsageError{Msg: "--mcplocal is for the default (STDIO) entry, not --http"}
			}
			if o.HTTP && o.Token == "" {
				o.Token = os.Getenv("MCPCTL_TOKEN")
			}
			if runF != nil {
				return runF(o)
			}
			return configClaudeRun(o)
		},
	}
	cmd.Flags().StringVarP(&o.Project, "project", "p", "", "the project (required)")
	cmd.Flags().BoolVar(&o.HTTP, "http", false, "connect to mcpd's project endpoint over HTTP with an McpToken, instead of through mcplocal")
	cmd.Flags().StringVar(&o.Token, "token", "", "McpToken for --http (default $MCPCTL_TOKEN)")
	cmd.Flags().StringVar(&o.Name, "name", "", `name of the entry under "mcpServers" (default "mcpctl-<project>")`)
	cmd.Flags().StringVar(&o.File, "file", ".mcp.json", "the file to update")
	cmd.Flags().BoolVar(&o.Print, "print", false, "print the entry to standard output instead of writing the file")
	cmd.Flags().StringVar(&o.MCPLocal, "mcplocal", "mcplocal", "command that runs mcplocal (a name on PATH or a path)")
	return cmd
}

// claudeServer is one entry of "mcpServers" in Claude Code's .mcp.json:
// a STDIO command, or an HTTP endpoint with headers.
type claudeServer struct {
	Type    string            `json:"type"`
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// claudeServerName keeps an entry's name inside what MCP clients accept in
// tool names (Claude Code prefixes tools with mcp__<name>__).
var claudeServerName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func configClaudeRun(o *ConfigClaudeOptions) error {
	if o.Project == "" {
		return &UsageError{Msg: "--project is required: mcpctl config claude --project NAME"}
	}
	if msg := v1.ValidateName(o.Project); msg != "" {
		return &UsageError{Msg: fmt.Sprintf("--project %q %s", o.Project, msg)}
	}
	name := o.Name
	if name == "" {
		name = "mcpctl-" + o.Project
	}
	if !claudeServerName.MatchString(name) {
		return &UsageError{Msg: fmt.Sprintf("--name %q: use letters, digits, '_' and '-' (at most 64)", name)}
	}
	entry, err := o.entry()
	if err != nil {
		return err
	}
	hint := o.hint(name, entry)
	if o.Print {
		if err := printJSON(o.F.IO.Out, map[string]map[string]claudeServer{"mcpServers": {name: entry}}); err != nil {
			return err
		}
		fmt.Fprintln(o.F.IO.ErrOut, hint)
		return nil
	}
	replaced, err := mergeClaudeFile(o.File, name, entry, o.HTTP)
	if err != nil {
		return err
	}
	if replaced {
		fmt.Fprintf(o.F.IO.ErrOut, "replaced mcpServers.%s in %s\n", name, o.File)
	} else {
		fmt.Fprintf(o.F.IO.ErrOut, "wrote mcpServers.%s to %s\n", name, o.File)
	}
	if o.HTTP {
		fmt.Fprintf(o.F.IO.ErrOut, "%s holds a bearer token (mode 0600): keep it out of version control\n", o.File)
	}
	fmt.Fprintln(o.F.IO.ErrOut, hint)
	return nil
}

// entry builds the server entry: mcplocal over STDIO, or mcpd over HTTP.
func (o *ConfigClaudeOptions) entry() (claudeServer, error) {
	if !o.HTTP {
		if o.MCPLocal == "" {
			return claudeServer{}, &UsageError{Msg: "--mcplocal must not be empty"}
		}
		e := claudeServer{Type: "stdio", Command: o.MCPLocal, Args: []string{"stdio", "--project", o.Project}}
		if o.F.ContextName != "" {
			// mcplocal must use the context picked here, not the current one.
			if _, _, _, err := o.F.CurrentContext(); err != nil {
				return e, err
			}
			e.Env = map[string]string{"MCPCTL_CONTEXT": o.F.ContextName}
		}
		return e, nil
	}
	if o.Token == "" {
		return claudeServer{}, &UsageError{Msg: fmt.Sprintf("--http needs an McpToken: pass --token or set MCPCTL_TOKEN; create one with "+
			"`mcpctl create mcptoken NAME -p %s --bind role:view,resource:projects`", o.Project)}
	}
	cur, _, _, err := o.F.CurrentContext()
	if err != nil {
		return claudeServer{}, err
	}
	return claudeServer{
		Type:    "http",
		URL:     strings.TrimRight(cur.MCPDURL, "/") + "/projects/" + o.Project + "/mcp",
		Headers: map[string]string{"Authorization": "Bearer " + o.Token},
	}, nil
}

// hint is the same entry added with Claude Code's own CLI (project scope
// is .mcp.json); the token is left as a placeholder.
func (o *ConfigClaudeOptions) hint(name string, e claudeServer) string {
	words := []string{"claude", "mcp", "add", "--scope", "project"}
	if e.Type == "http" {
		words = append(words, "--transport", "http", name, shellQuote(e.URL), "--header", `"Authorization: Bearer <token>"`)
	} else {
		for k, v := range e.Env {
			words = append(words, "--env", shellQuote(k+"="+v))
		}
		words = append(words, name, "--", shellQuote(e.Command))
		for _, a := range e.Args {
			words = append(words, shellQuote(a))
		}
	}
	return "or with Claude Code's CLI: " + strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// mergeClaudeFile sets mcpServers[name] in the JSON file at path, keeping
// every other key and entry as written, and replaces the file atomically.
// It reports whether an entry of that name was there. A file that is not
// a JSON object is an error and is left as it is.
func mergeClaudeFile(path, name string, entry claudeServer, holdsToken bool) (bool, error) {
	target := path
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// Write where the link points, keeping the link.
		if target, err = filepath.EvalSymlinks(path); err != nil {
			return false, fmt.Errorf("follow %s: %w", path, err)
		}
	}
	perm := fs.FileMode(0o644)
	var top jsonObject
	data, err := os.ReadFile(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("read %s: %w", path, err)
	default:
		if err := json.Unmarshal(data, &top); err != nil {
			return false, fmt.Errorf("%s is not a JSON object (%v); fix it or pick another file with --file: it was not changed", path, err)
		}
		if fi, err := os.Stat(target); err == nil {
			perm = fi.Mode().Perm()
		}
	}
	var servers jsonObject
	if raw, ok := top.get("mcpServers"); ok {
		if err := json.Unmarshal(raw, &servers); err != nil {
			return false, fmt.Errorf("%s: mcpServers is not a JSON object (%v); fix it or pick another file with --file: it was not changed", path, err)
		}
	}
	value, err := marshalJSON(entry)
	if err != nil {
		return false, err
	}
	_, replaced := servers.get(name)
	servers.set(name, value)
	raw, err := marshalJSON(servers)
	if err != nil {
		return false, err
	}
	top.set("mcpServers", raw)
	var out bytes.Buffer
	if err := printJSON(&out, top); err != nil {
		return false, err
	}
	if holdsToken {
		perm = 0o600
	}
	if err := WriteFileAtomic(target, out.Bytes(), perm); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return replaced, nil
}

// jsonMember is one member of a JSON object, its value as written.
type jsonMember struct {
	Key   string
	Value json.RawMessage
}

// jsonObject is a JSON object that keeps its members in order and their
// values as written, so rewriting a file changes only what was set.
type jsonObject []jsonMember

// UnmarshalJSON implements json.Unmarshaler; anything but an object is an
// error.
func (o *jsonObject) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("want a JSON object {...}")
	}
	var out jsonObject
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		out = append(out, jsonMember{Key: tok.(string), Value: v})
	}
	*o = out
	return nil
}

// MarshalJSON implements json.Marshaler.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		key, err := marshalJSON(m.Key)
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(m.Value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o jsonObject) get(key string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// set replaces the value of key in place, or appends it.
func (o *jsonObject) set(key string, v json.RawMessage) {
	for i := range *o {
		if (*o)[i].Key == key {
			(*o)[i].Value = v
			return
		}
	}
	*o = append(*o, jsonMember{Key: key, Value: v})
}

// marshalJSON is json.Marshal without HTML escaping (a URL keeps its &).
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory renamed into place, so no reader sees half a file, with mode
// perm.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
