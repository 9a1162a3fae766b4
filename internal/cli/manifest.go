package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	yaml "go.yaml.in/yaml/v3"
)

// MaxManifestSize bounds one manifest file (or stdin): larger input is
// refused before it is parsed.
const MaxManifestSize = 16 << 20

// maxNodes bounds the values one document may expand to, so a YAML alias
// bomb is refused instead of eating memory.
const maxNodes = 1_000_000

// Document is one decoded, validated resource document and where it came
// from, so later errors (from mcpd too) can name the file and line.
type Document struct {
	Object *v1.Object
	// Source names the file ("-" for stdin) and Index the document in it
	// (1-based).
	Source string
	Index  int
	// Line is the first line of the document; lines maps field paths to
	// their lines.
	Line  int
	lines map[string]int
}

// Where names the document: "file.yaml: document 2 (line 14)".
func (d *Document) Where() string {
	return fmt.Sprintf("%s: document %d (line %d)", d.Source, d.Index, d.Line)
}

// LineOf returns the line of a field path, or of its nearest ancestor.
func (d *Document) LineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := d.lines[p]; ok {
			return l
		}
	}
	return d.Line
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// FieldMessage formats a problem with a field of the document.
func (d *Document) FieldMessage(f v1.FieldError) string {
	if f.Field == "" {
		return fmt.Sprintf("%s: %s", d.Where(), f.Message)
	}
	return fmt.Sprintf("%s: %s (line %d): %s", d.Where(), f.Field, d.LineOf(f.Field), f.Message)
}

// ManifestError lists every problem found in the input; nothing was sent.
type ManifestError struct{ Problems []string }

func (e *ManifestError) Error() string {
	return "the input is not valid; nothing was applied:\n  " + strings.Join(e.Problems, "\n  ")
}

// ReadManifests reads every document of the given paths: files, directories
// (their *.yaml, *.yml and *.json files, sorted, not recursive) or "-" for
// in. Every document is decoded and validated; all problems come back in
// one *ManifestError.
func ReadManifests(paths []string, in io.Reader) ([]*Document, error) {
	var docs []*Document
	var problems []string
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := readLimited(f, in)
			if err != nil {
				return nil, err
			}
			ds, probs := ParseManifest(f, data)
			docs = append(docs, ds...)
			problems = append(problems, probs...)
		}
	}
	// The same object twice is refused here, before mcpd sees it.
	seen := map[string]*Document{}
	for _, d := range docs {
		id := d.Object.ID()
		if first, dup := seen[id]; dup {
			problems = append(problems, fmt.Sprintf("%s: %s is also defined at %s; keep one", d.Where(), id, first.Where()))
			continue
		}
		seen[id] = d
	}
	if len(problems) > 0 {
		return nil, &ManifestError{Problems: problems}
	}
	if len(docs) == 0 {
		return nil, &UsageError{Msg: "no documents found in " + strings.Join(paths, ", ")}
	}
	return docs, nil
}

func expand(p string) ([]string, error) {
	if p == "-" {
		return []string{"-"}, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			out = append(out, filepath.Join(p, e.Name()))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("directory %s has no .yaml, .yml or .json files", p)}
	}
	return out, nil
}

func readLimited(name string, stdin io.Reader) ([]byte, error) {
	return readLimitedTo(name, stdin, MaxManifestSize, "manifests", "split it into several files")
}

// readLimitedTo reads a file, or stdin for "-", refusing more than limit
// bytes: a file by its size before reading, stdin after limit+1 bytes.
// what names the kind of input and hint the way out, for the message.
func readLimitedTo(name string, stdin io.Reader, limit int64, what, hint string) ([]byte, error) {
	r := stdin
	if name != "-" {
		fi, err := os.Stat(name)
		if err != nil {
			return nil, err
		}
		if fi.Size() > limit {
			return nil, fmt.Errorf("%s is %s; %s are limited to %s: %s", name, humanBytes(fi.Size()), what, humanBytes(limit), hint)
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	if r == nil {
		return nil, &UsageError{Msg: "no standard input to read " + name + " from"}
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %s, the limit of %s: %s", name, humanBytes(limit), what, hint)
	}
	return data, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// ParseManifest decodes and validates every document of one YAML (or JSON)
// stream. Empty documents are skipped.
func ParseManifest(source string, data []byte) ([]*Document, []string) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*Document
	var problems []string
	for i := 1; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The stream cannot be read past a syntax error.
			problems = append(problems, fmt.Sprintf("%s: document %d: %s", source, i, strings.TrimPrefix(err.Error(), "yaml: ")))
			break
		}
		if len(n.Content) == 0 || isNull(n.Content[0]) {
			i-- // an empty document (e.g. after a trailing ---)
			continue
		}
		// A List (what `get -o json` prints for several objects) stands
		// for its items.
		nodes := []*yaml.Node{n.Content[0]}
		if items := listItems(n.Content[0]); items != nil {
			nodes = items
		}
		for j, node := range nodes {
			d := &Document{Source: source, Index: i, Line: node.Line, lines: map[string]int{}}
			if len(nodes) > 1 || node != n.Content[0] {
				d.Source = fmt.Sprintf("%s: list item %d", source, j+1)
			}
			if d.Object, err = decodeNode(d, node); err != nil {
				problems = append(problems, fieldProblems(d, err)...)
				continue
			}
			docs = append(docs, d)
		}
	}
	return docs, problems
}

// listItems returns the items of a `kind: List` mapping, or nil.
func listItems(n *yaml.Node) []*yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var kind string
	var items *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "kind":
			kind = n.Content[i+1].Value
		case "items":
			items = n.Content[i+1]
		}
	}
	if kind != "List" || items == nil || items.Kind != yaml.SequenceNode {
		return nil
	}
	return append([]*yaml.Node{}, items.Content...)
}

// decodeNode converts, decodes and validates one document.
func decodeNode(d *Document, node *yaml.Node) (*v1.Object, error) {
	// Measure first: converting a bomb up to the limit would already cost
	// seconds and hundreds of MiB.
	if expandedSize(node, map[*yaml.Node]int{}) > maxNodes {
		return nil, errAliasBomb
	}
	c := converter{lines: d.lines}
	v, err := c.value(node, "", 0)
	if err != nil {
		return nil, err
	}
	obj, err := v1.DecodeValue(v)
	if err != nil {
		return nil, err
	}
	return obj, obj.Prepare()
}

func fieldProblems(d *Document, err error) []string {
	var ve *v1.ValidationError
	if !errors.As(err, &ve) {
		return []string{fmt.Sprintf("%s: %v", d.Where(), err)}
	}
	out := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		out[i] = d.FieldMessage(f)
	}
	return out
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

var errAliasBomb = fmt.Errorf("the document expands to more than %d values (a YAML alias bomb?); refused", maxNodes)

// expandedSize counts the values n expands to, as converter.value would,
// without expanding aliases: each node is measured once. A node that
// contains an alias to itself counts as too large.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if s, ok := memo[n]; ok {
		return s
	}
	memo[n] = maxNodes + 1 // until measured: a cycle is infinite
	s := 1
	children := n.Content
	switch {
	case n.Kind == yaml.AliasNode && n.Alias != nil:
		children = []*yaml.Node{n.Alias}
	case n.Kind == yaml.MappingNode:
		// Keys are not values.
		children = nil
		for i := 1; i < len(n.Content); i += 2 {
			children = append(children, n.Content[i])
		}
	}
	for _, c := range children {
		if s += expandedSize(c, memo); s > maxNodes {
			s = maxNodes + 1
			break
		}
	}
	memo[n] = s
	return s
}

// converter turns a YAML node tree into maps, slices and scalars, noting
// the line of every path and bounding alias expansion.
type converter struct {
	lines map[string]int
	nodes int
}

func (c *converter) value(n *yaml.Node, path string, depth int) (any, error) {
	c.nodes++
	if c.nodes > maxNodes {
		return nil, errAliasBomb
	}
	if depth > 64 {
		return nil, errors.New("the document nests deeper than 64 levels; refused")
	}
	if path != "" {
		if _, ok := c.lines[path]; !ok {
			c.lines[path] = n.Line
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		return c.value(n.Alias, path, depth+1)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: YAML merge keys (<<) are not supported; write the fields out", k.Line)
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key must be a string", k.Line)
			}
			key := k.Value
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice in the same mapping", k.Line, key)
			}
			p := joinPath(path, key)
			c.lines[p] = k.Line
			val, err := c.value(v, p, depth+1)
			if err != nil {
				return nil, err
			}
			m[key] = val
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, e := range n.Content {
			val, err := c.value(e, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			s[i] = val
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			// The decoder's message quotes the value, which may be secret.
			return nil, fmt.Errorf("line %d: the value cannot be read as %s", n.Line, n.Tag)
		}
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case uint64:
			return float64(x), nil
		}
		return v, nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], path, depth)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
