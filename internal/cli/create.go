package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/spf13/cobra"
)

// NewCmdCreate builds `mcpctl create` and its subcommands, one per kind.
func NewCmdCreate(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create KIND NAME [flags]",
		Short: "Create a resource from flags",
		Long:  "Create one resource from command-line flags. To create from files use `mcpctl apply -f`.",
	}
	cmd.AddCommand(newCmdCreateSecret(f), newCmdCreateServer(f), newCmdCreateTemplate(f),
		newCmdCreateProject(f), newCmdCreatePrompt(f), newCmdCreateGroup(f), newCmdCreateRbac(f),
		newCmdCreateUser(f), newCmdCreateMcpToken(f))
	return cmd
}

// createOptions are what every create subcommand shares.
type createOptions struct {
	f      *Factory
	labels []string
	dryRun bool
	output string
}

func (c *createOptions) flags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&c.labels, "label", "l", nil, "label KEY=VALUE (repeatable)")
	cmd.Flags().BoolVar(&c.dryRun, "dry-run", false, "print the object instead of creating it (yaml unless -o json)")
	cmd.Flags().StringVarP(&c.output, "output", "o", "", "print the created object: json or yaml")
}

// create checks obj locally and sends it; with --dry-run it only prints it.
func (c *createOptions) create(ctx context.Context, obj *v1.Object) error {
	labels, err := parsePairs("--label", c.labels)
	if err != nil {
		return err
	}
	for k, v := range labels {
		if obj.Metadata.Labels == nil {
			obj.Metadata.Labels = map[string]string{}
		}
		obj.Metadata.Labels[k] = v
	}
	obj.APIVersion = v1.APIVersion
	if err := obj.Prepare(); err != nil {
		return err
	}
	if c.dryRun {
		format := c.output
		if format != "json" {
			format = "yaml"
		}
		return printObjects(c.f.IO.Out, format, []v1.Object{*obj}, true, timeNow())
	}
	cl, err := c.f.APIClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	out, err := cl.Create(ctx, obj)
	if err != nil {
		return err
	}
	if c.output == "json" || c.output == "yaml" {
		return printObjects(c.f.IO.Out, c.output, []v1.Object{*out}, true, timeNow())
	}
	fmt.Fprintf(c.f.IO.Out, "%s created\n", out.ID())
	return nil
}

// parsePairs reads KEY=VALUE flags; a repeated key is an error.
func parsePairs(flag string, pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, &UsageError{Msg: fmt.Sprintf("%s %q is not KEY=VALUE", flag, p)}
		}
		if _, dup := out[k]; dup {
			return nil, &UsageError{Msg: fmt.Sprintf("%s sets %s twice", flag, k)}
		}
		out[k] = v
	}
	return out, nil
}

func newCmdCreateSecret(f *Factory) *cobra.Command {
	c := &createOptions{f: f}
	var data, fromFile, stdinKey []string
	cmd := &cobra.Command{
		Use:   "secret NAME [--data KEY=VALUE] [--from-file KEY=PATH] [--data-stdin KEY]",
		Short: "Create a secret",
		Long: `Create a secret. Values given with --data are visible to other users of
this machine in the process list while mcpctl runs; prefer --from-file or
--data-stdin for real secrets.

  mcpctl create secret github --from-file TOKEN=./token.txt
  printf %s "$TOKEN" | mcpctl create secret github --data-stdin TOKEN`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			values, err := parsePairs("--data", data)
			if err != nil {
				return err
			}
			files, err := parsePairs("--from-file", fromFile)
			if err != nil {
				return err
			}
			spec := &v1.SecretSpec{Data: map[string]*string{}}
			set := func(k, v string) error {
				if _, dup := spec.Data[k]; dup {
					return &UsageError{Msg: fmt.Sprintf("key %s is given twice", k)}
				}
				spec.Data[k] = &v
				return nil
			}
			for k, v := range values {
				if err := set(k, v); err != nil {
					return err
				}
			}
			for k, path := range files {
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("--from-file %s: %w", k, err)
				}
				if err := set(k, string(b)); err != nil {
					return err
				}
			}
			switch len(stdinKey) {
			case 0:
			case 1:
				b, err := io.ReadAll(io.LimitReader(f.IO.In, v1.MaxSecretValue+1))
				if err != nil {
					return fmt.Errorf("--data-stdin: %w", err)
				}
				if err := set(stdinKey[0], strings.TrimSuffix(string(b), "\n")); err != nil {
					return err
				}
			default:
				return &UsageError{Msg: "--data-stdin can be given once: standard input holds one value"}
			}
			if len(spec.Data) == 0 {
				return &UsageError{Msg: "a secret needs at least one key: --data KEY=VALUE, --from-file KEY=PATH or --data-stdin KEY"}
			}
			return c.create(cmd.Context(), &v1.Object{Kind: "Secret", Metadata: v1.ObjectMeta{Name: args[0]}, Spec: spec})
		},
	}
	cmd.Flags().StringArrayVar(&data, "data", nil, "KEY=VALUE (repeatable)")
	cmd.Flags().StringArrayVar(&fromFile, "from-file", nil, "KEY=PATH: the file's content is the value (repeatable)")
	cmd.Flags().StringArrayVar(&stdinKey, "data-stdin", nil, "KEY: read the value from standard input")
	c.flags(cmd)
	return cmd
}

// serverFlags are the flags that describe a server spec. descFlag names
// the flag of the server's description ("description" unless the command
// has a description of its own).
type serverFlags struct {
	descFlag                                                          string
	description, command, image, url, transport, runtime, sessionMode string
	args, env, envFromSecret                                          []string
	replicas, port                                                    int
}

func (s *serverFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	if s.descFlag == "" {
		s.descFlag = "description"
	}
	fl.StringVar(&s.description, s.descFlag, "", "what the server is for")
	fl.StringVar(&s.command, "command", "", "run this command as a process (with --arg)")
	fl.StringArrayVar(&s.args, "arg", nil, "an argument of the command or image (repeatable, in order)")
	fl.StringVar(&s.image, "image", "", "run this container image")
	fl.IntVar(&s.port, "port", 0, "the container port an HTTP image listens on")
	fl.StringVar(&s.url, "url", "", "connect to a server that runs elsewhere")
	fl.StringVar(&s.transport, "transport", "", "stdio, streamable-http or sse (default: stdio, or streamable-http for --url)")
	fl.StringArrayVar(&s.env, "env", nil, "environment variable KEY=VALUE (repeatable)")
	fl.StringArrayVar(&s.envFromSecret, "env-from-secret", nil, "environment variable from a secret: KEY=SECRET/KEY (repeatable)")
	fl.IntVar(&s.replicas, "replicas", -1, "instances to keep running, 0 to 10 (default 1)")
	fl.StringVar(&s.runtime, "runtime", "", "process, docker or kubernetes (default: process for --command, docker for --image)")
	fl.StringVar(&s.sessionMode, "session-mode", "", "shared or per-session (default shared)")
}

// apply writes the flags that were set over spec.
func (s *serverFlags) apply(cmd *cobra.Command, spec *v1.ServerSpec) error {
	changed := cmd.Flags().Changed
	set := func(flag string, dst *string, v string) {
		if changed(flag) {
			*dst = v
		}
	}
	set(s.descFlag, &spec.Description, s.description)
	set("command", &spec.Command, s.command)
	set("image", &spec.Image, s.image)
	set("url", &spec.URL, s.url)
	set("transport", &spec.Transport, s.transport)
	set("runtime", &spec.Runtime, s.runtime)
	set("session-mode", &spec.SessionMode, s.sessionMode)
	if changed("arg") {
		spec.Args = s.args
	}
	if changed("port") {
		spec.Port = s.port
	}
	if changed("replicas") {
		r := s.replicas
		spec.Replicas = &r
	}
	setEnv := func(e v1.EnvVar) {
		for i := range spec.Env {
			if spec.Env[i].Name == e.Name {
				spec.Env[i] = e
				return
			}
		}
		spec.Env = append(spec.Env, e)
	}
	seen := map[string]bool{}
	for _, p := range s.env {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return &UsageError{Msg: fmt.Sprintf("--env %q is not KEY=VALUE", p)}
		}
		if seen[k] {
			return &UsageError{Msg: fmt.Sprintf("environment variable %s is set twice", k)}
		}
		seen[k] = true
		setEnv(v1.EnvVar{Name: k, Value: &v})
	}
	for _, p := range s.envFromSecret {
		k, ref, ok := strings.Cut(p, "=")
		secret, key, ok2 := strings.Cut(ref, "/")
		if !ok || !ok2 || k == "" || secret == "" || key == "" {
			return &UsageError{Msg: fmt.Sprintf("--env-from-secret %q is not KEY=SECRET/KEY (e.g. GITHUB_TOKEN=github/TOKEN)", p)}
		}
		if seen[k] {
			return &UsageError{Msg: fmt.Sprintf("environment variable %s is set twice", k)}
		}
		seen[k] = true
		setEnv(v1.EnvVar{Name: k, SecretRef: &v1.SecretKeyRef{Name: secret, Key: key}})
	}
	return nil
}

func newCmdCreateServer(f *Factory) *cobra.Command {
	c := &createOptions{f: f}
	s := &serverFlags{}
	var fromTemplate string
	var sets []string
	cmd := &cobra.Command{
		Use:   "server NAME (--command CMD [--arg A...] | --image IMAGE | --url URL | --from-template T [--set K=V...])",
		Short: "Create a server",
		Long: `Create a server.

  mcpctl create server memory --command npx --arg -y --arg @modelcontextprotocol/server-memory
  mcpctl create server gh --image ghcr.io/github/github-mcp-server --env-from-secret GITHUB_TOKEN=github/TOKEN
  mcpctl create server docs --url https://mcp.example.com/mcp
  mcpctl create server fs --from-template filesystem --set ROOT=/srv/data

With --from-template the template's server spec is the start; each --set
fills an input, and flags given beside it override the template. Input
values are stored in the spec in plain text (and are visible in the
process list while mcpctl runs): credentials belong in secrets.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := &v1.ServerSpec{}
			obj := &v1.Object{Kind: "Server", Metadata: v1.ObjectMeta{Name: args[0]}, Spec: spec}
			if fromTemplate != "" {
				values, err := parsePairs("--set", sets)
				if err != nil {
					return err
				}
				cl, err := f.APIClient()
				if err != nil {
					return err
				}
				t, err := cl.Get(cmd.Context(), kindNamed("Template"), "", fromTemplate, false)
				cl.Close()
				if err != nil {
					return err
				}
				inst, err := t.Spec.(*v1.TemplateSpec).Instantiate(values)
				if err != nil {
					return &UsageError{Msg: "template " + fromTemplate + ": " + err.Error()}
				}
				*spec = inst
				obj.Metadata.Labels = map[string]string{"mcpctl.dev/template": fromTemplate}
			} else if len(sets) > 0 {
				return &UsageError{Msg: "--set fills template inputs: use it with --from-template"}
			}
			if err := s.apply(cmd, spec); err != nil {
				return err
			}
			return c.create(cmd.Context(), obj)
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&fromTemplate, "from-template", "", "start from this template")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "template input KEY=VALUE (repeatable)")
	c.flags(cmd)
	return cmd
}

func newCmdCreateTemplate(f *Factory) *cobra.Command {
	c := &createOptions{f: f}
	s := &serverFlags{descFlag: "server-description"}
	var inputs, required []string
	var description string
	cmd := &cobra.Command{
		Use:   "template NAME (--command ... | --image ... | --url ...) [--input NAME[=DEFAULT]] [--required-input NAME]",
		Short: "Create a template: a server spec with inputs",
		Long: `Create a template. Inputs become environment variables of the servers made
from it, and ${NAME} in the command, args, image, url and env values is
replaced by the input's value. Input values are stored in the server's
spec in plain text: for credentials, give the template an env entry with
a secretRef instead of an input.

  mcpctl create template filesystem --command npx --arg -y \
      --arg @modelcontextprotocol/server-filesystem --arg '${ROOT}' --required-input ROOT`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := &v1.TemplateSpec{Description: description}
			if err := s.apply(cmd, &spec.Server); err != nil {
				return err
			}
			for _, in := range inputs {
				name, def, _ := strings.Cut(in, "=")
				spec.Inputs = append(spec.Inputs, v1.TemplateInput{Name: name, Default: def})
			}
			for _, name := range required {
				spec.Inputs = append(spec.Inputs, v1.TemplateInput{Name: name, Required: true})
			}
			return c.create(cmd.Context(), &v1.Object{Kind: "Template", Metadata: v1.ObjectMeta{Name: args[0]}, Spec: spec})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&description, "description", "", "what the template is for")
	cmd.Flags().StringArrayVar(&inputs, "input", nil, "an optional input NAME or NAME=DEFAULT (repeatable)")
	cmd.Flags().StringArrayVar(&required, "required-input", nil, "a required input NAME (repeatable)")
	c.flags(cmd)
	return cmd
}

func newCmdCreateProject(f *Factory) *cobra.Command {
	c := &createOptions{f: f}
	var servers, allow, deny []string
	var description, separator string
	var gated bool
	cmd := &cobra.Command{
		Use:   "project NAME [--server S...] [--allow SERVER:TOOL] [--deny SERVER:TOOL]",
		Short: "Create a project: one MCP endpoint over several servers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := &v1.ProjectSpec{Description: description, Servers: servers, Gated: gated}
			if cmd.Flags().Changed("separator") {
				spec.Separator = &separator
			}
			add := func(flag string, list []string, allowList bool) error {
				for _, p := range list {
					srv, tool, ok := strings.Cut(p, ":")
					if !ok || srv == "" || tool == "" {
						return &UsageError{Msg: fmt.Sprintf("%s %q is not SERVER:TOOL", flag, p)}
					}
					if spec.Tools == nil {
						spec.Tools = map[string]v1.ToolFilter{}
					}
					tf := spec.Tools[srv]
					if allowList {
						tf.Allow = append(tf.Allow, tool)
					} else {
						tf.Deny = append(tf.Deny, tool)
					}
					spec.Tools[srv] = tf
				}
				return nil
			}
			if err := add("--allow", allow, true); err != nil {
				return err
			}
			if err := add("--deny", deny, false); err != nil {
				return err
			}
			return c.create(cmd.Context(), &v1.Object{Kind: "Project", Metadata: v1.ObjectMeta{Name: args[0]}, Spec: spec})
		},
	}
	cmd.Flags().StringArrayVar(&servers, "server", nil, "a server of the project (repeatable)")
	cmd.Flags().StringArrayVar(&allow, "allow", nil, "allow only these tools of a server: SERVER:TOOL (repeatable)")
	cmd.Flags().StringArrayVar(&deny, "deny", nil, "hide and refuse a tool of a server: SERVER:TOOL (repeatable)")
	cmd.Flags().StringVar(&description, "description", "", "what the project is for")
	cmd.Flags().StringVar(&separator, "separator", v1.DefaultSeparator, "joins server and tool names")
	cmd.Flags().BoolVar(&gated, "gated", false, "clients see a gate until they pick what they need")
	c.flags(cmd)
	return cmd
}

func newCmdCreatePrompt(f *Factory) *cobra.Command {
	c := &createOptions{f: f}
	var project, text, textFile string
	var priority int
	var tags []string
	cmd := &cobra.Command{
		Use:   "prompt NAME -p PROJECT (--text TEXT | --text-file PATH|-)",
		Short: "Create a prompt in a project",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if project == "" {
				return &UsageError{Msg: "a prompt belongs to a project: add -p PROJECT"}
			}
			if (text == "") == (textFile == "") {
				return &UsageError{Msg: "give the text with --text or --text-file, one of the two"}
			}
			if textFile != "" {
				var b []byte
				var err error
				if textFile == "-" {
					b, err = io.ReadAll(bufio.NewReader(io.LimitReader(f.IO.In, v1.MaxPromptText+1)))
				} else {
					b, err = os.ReadFile(textFile)
				}
				if err != nil {
					return fmt.Errorf("--text-file: %w", err)
				}
				text = string(b)
			}
			spec := &v1.PromptSpec{Text: text, Priority: priority, Tags: tags}
			return c.create(cmd.Context(), &v1.Object{Kind: "Prompt", Metadata: v1.ObjectMeta{Name: args[0], Project: project}, Spec: spec})
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "", "the project")
	cmd.Flags().StringVar(&text, "text", "", "the prompt text")
	cmd.Flags().StringVar(&textFile, "text-file", "", "read the text from a file, or - for standard input")
	cmd.Flags().IntVar(&priority, "priority", 0, "1 (lowest) to 10 (default 5)")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "a tag (repeatable)")
	c.flags(cmd)
	return cmd
}
