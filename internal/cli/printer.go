package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"sigs.k8s.io/yaml"
)

// Output formats of get.
var outputFormats = []string{"table", "wide", "json", "yaml", "name"}

func checkOutput(o string) error {
	for _, f := range outputFormats {
		if o == f {
			return nil
		}
	}
	return &UsageError{Msg: fmt.Sprintf("-o %q is not supported: use %s", o, strings.Join(outputFormats, ", "))}
}

// listOf is what -o json prints for several items; apply reads it back.
type listOf[T any] struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []T    `json:"items"`
}

// printObjects writes objs in format; single says a name was asked for, so
// json and yaml print the object itself rather than a list.
func printObjects(w io.Writer, format string, objs []v1.Object, single bool, now time.Time) error {
	if format == "table" || format == "wide" {
		return printTables(w, objs, format == "wide", now)
	}
	return printList(w, format, objs, single, "", func(o v1.Object) string { return o.ID() }, nil, nil, nil)
}

// printList prints items in format: json (one item when single, else a
// List), yaml documents, names (namePrefix + name), or a table of cols
// and row.
func printList[T any](w io.Writer, format string, items []T, single bool, namePrefix string, name func(T) string,
	cols []string, row func(T) []string, errOut io.Writer) error {
	switch format {
	case "json":
		if items == nil {
			items = []T{} // "items": [], not null: scripts iterate it
		}
		var v any = listOf[T]{APIVersion: v1.APIVersion, Kind: "List", Items: items}
		if single && len(items) == 1 {
			v = items[0]
		}
		return printJSON(w, v)
	case "yaml":
		for i, it := range items {
			if i > 0 {
				fmt.Fprintln(w, "---")
			}
			b, err := yaml.Marshal(it)
			if err != nil {
				return err
			}
			w.Write(b) //nolint:errcheck // a broken pipe ends the command anyway
		}
		return nil
	case "name":
		for _, it := range items {
			fmt.Fprintln(w, namePrefix+name(it))
		}
		return nil
	}
	if len(items) == 0 {
		fmt.Fprintln(errOut, "No resources found.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, it := range items {
		fmt.Fprintln(tw, strings.Join(row(it), "\t"))
	}
	return tw.Flush()
}

func toYAML(o *v1.Object) ([]byte, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(j)
}

// printTables prints one table per kind, in apply order, each titled when
// there is more than one kind (as in `get all`).
func printTables(w io.Writer, objs []v1.Object, wide bool, now time.Time) error {
	byKind := map[string][]v1.Object{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	n := 0
	for _, k := range v1.Kinds {
		items := byKind[k.Kind]
		if len(items) == 0 {
			continue
		}
		if n > 0 {
			fmt.Fprintln(w)
		}
		n++
		tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		cols, row := columns(k, wide, now)
		prefix := ""
		if len(byKind) > 1 {
			prefix = k.Singular + "/"
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
		for i := range items {
			cells := row(&items[i])
			cells[0] = prefix + cells[0]
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// columns returns a kind's table header and row function.
func columns(k v1.Kind, wide bool, now time.Time) ([]string, func(*v1.Object) []string) {
	age := func(o *v1.Object) string { return Age(o.Metadata.CreatedAt, now) }
	labels := func(o *v1.Object) string { return formatLabels(o.Metadata.Labels) }
	switch k.Kind {
	case "Server":
		cols := []string{"NAME", "TRANSPORT", "RUNTIME", "REPLICAS", "SOURCE", "AGE"}
		if wide {
			cols = append(cols, "SESSION", "ENV", "LABELS")
		}
		return cols, func(o *v1.Object) []string {
			s := o.Spec.(*v1.ServerSpec)
			src := s.Source()
			if !wide {
				src = truncate(src, 48)
			}
			replicas := "-"
			if s.Replicas != nil {
				replicas = strconv.Itoa(*s.Replicas)
			}
			row := []string{o.Metadata.Name, s.Transport, dash(s.Runtime), replicas, src, age(o)}
			if wide {
				row = append(row, s.SessionMode, strconv.Itoa(len(s.Env)), labels(o))
			}
			return row
		}
	case "Secret":
		cols := []string{"NAME", "KEYS", "AGE"}
		if wide {
			cols = append(cols, "LABELS")
		}
		return cols, func(o *v1.Object) []string {
			s := o.Spec.(*v1.SecretSpec)
			keys := strings.Join(s.Keys(), ",")
			if !wide {
				keys = truncate(keys, 48)
			}
			row := []string{o.Metadata.Name, dash(keys), age(o)}
			if wide {
				row = append(row, labels(o))
			}
			return row
		}
	case "Template":
		cols := []string{"NAME", "INPUTS", "SOURCE", "AGE"}
		if wide {
			cols = append(cols, "DESCRIPTION", "LABELS")
		}
		return cols, func(o *v1.Object) []string {
			s := o.Spec.(*v1.TemplateSpec)
			names := make([]string, len(s.Inputs))
			for i, in := range s.Inputs {
				names[i] = in.Name
			}
			row := []string{o.Metadata.Name, dash(strings.Join(names, ",")), truncate(s.Server.Source(), 48), age(o)}
			if wide {
				row = append(row, dash(s.Description), labels(o))
			}
			return row
		}
	case "Project":
		cols := []string{"NAME", "SERVERS", "GATED", "AGE"}
		if wide {
			cols = append(cols, "SEPARATOR", "DESCRIPTION", "LABELS")
		}
		return cols, func(o *v1.Object) []string {
			s := o.Spec.(*v1.ProjectSpec)
			servers := strings.Join(s.Servers, ",")
			if !wide {
				servers = truncate(servers, 48)
			}
			row := []string{o.Metadata.Name, dash(servers), strconv.FormatBool(s.Gated), age(o)}
			if wide {
				sep := ""
				if s.Separator != nil {
					sep = strconv.Quote(*s.Separator)
				}
				row = append(row, sep, dash(s.Description), labels(o))
			}
			return row
		}
	case "Group":
		cols := []string{"NAME", "MEMBERS", "AGE"}
		if wide {
			cols = append(cols, "DESCRIPTION", "LABELS")
		}
		return cols, func(o *v1.Object) []string {
			s := o.Spec.(*v1.GroupSpec)
			members := strings.Join(s.Members, ",")
			if !wide {
				members = truncate(members, 60)
			}
			row := []string{o.Metadata.Name, dash(members), age(o)}
			if wide {
				row = append(row, dash(s.Description), labels(o))
			}
			return row
		}
	case "RbacDefinition":
		cols := []string{"NAME", "SUBJECTS", "BINDINGS", "AGE"}
		if wide {
			cols = append(cols, "LABELS")
		}
		return cols, func(o *v1.Object) []string {
			s := o.Spec.(*v1.RbacDefinitionSpec)
			bs := make([]string, len(s.RoleBindings))
			for i, b := range s.RoleBindings {
				bs[i] = b.String()
			}
			subjects, bindings := strings.Join(s.Subjects, " "), strings.Join(bs, " ")
			if !wide {
				subjects, bindings = truncate(subjects, 48), truncate(bindings, 60)
			}
			row := []string{o.Metadata.Name, subjects, bindings, age(o)}
			if wide {
				row = append(row, labels(o))
			}
			return row
		}
	}
	cols := []string{"NAME", "PROJECT", "PRIORITY", "TAGS", "AGE"}
	if wide {
		cols = append(cols, "TEXT", "LABELS")
	}
	return cols, func(o *v1.Object) []string {
		s := o.Spec.(*v1.PromptSpec)
		row := []string{o.Metadata.Name, o.Metadata.Project, strconv.Itoa(s.Priority), dash(strings.Join(s.Tags, ",")), age(o)}
		if wide {
			row = append(row, truncate(strings.Join(strings.Fields(s.Text), " "), 60), labels(o))
		}
		return row
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

func formatLabels(l map[string]string) string {
	if len(l) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, ",")
}

// Age formats how long ago t was, kubectl-style: 45s, 12m, 5h, 3d, 2y.
func Age(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < 2*time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	case d < 2*365*24*time.Hour:
		return strconv.Itoa(int(d.Hours()/24)) + "d"
	}
	return strconv.Itoa(int(d.Hours()/24/365)) + "y"
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// timeNow is the clock of printed ages.
var timeNow = time.Now

// printable drops control characters (ESC, CR, NUL, C1) from text that
// came from a server (instance messages, events, probe errors): mcpd
// sanitises them already; this keeps an older or foreign mcpd from
// driving the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f {
			return -1
		}
		return r
	}, s)
}
