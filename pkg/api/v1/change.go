package v1

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Change is one field an update changes, for dry runs.
type Change struct {
	Path string `json:"path"`
	// Old and New are JSON values; absent means the field is added or
	// removed.
	Old json.RawMessage `json:"old,omitempty"`
	New json.RawMessage `json:"new,omitempty"`
}

func (c Change) String() string {
	switch {
	case c.Old == nil:
		return fmt.Sprintf("%s: + %s", c.Path, c.New)
	case c.New == nil:
		return fmt.Sprintf("%s: - %s", c.Path, c.Old)
	}
	return fmt.Sprintf("%s: %s -> %s", c.Path, c.Old, c.New)
}

// Diff lists the leaf differences between two JSON-compatible values,
// with paths such as "spec.replicas" or "spec.args". Lists are compared
// whole.
func Diff(path string, old, new any) []Change {
	var out []Change
	diffValue(&out, path, toGeneric(old), toGeneric(new))
	return out
}

func toGeneric(v any) any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var g any
	json.Unmarshal(b, &g) //nolint:errcheck // we just marshalled it
	return g
}

func diffValue(out *[]Change, path string, a, b any) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			av, ain := am[k]
			bv, bin := bm[k]
			p := joinPath(path, k)
			switch {
			case !ain:
				*out = append(*out, Change{Path: p, New: raw(bv)})
			case !bin:
				*out = append(*out, Change{Path: p, Old: raw(av)})
			default:
				diffValue(out, p, av, bv)
			}
		}
		return
	}
	ra, rb := raw(a), raw(b)
	if string(ra) != string(rb) {
		*out = append(*out, Change{Path: path, Old: ra, New: rb})
	}
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// MergePatch applies an RFC 7386 JSON merge patch to doc: objects merge
// key by key, null deletes a key, anything else replaces.
func MergePatch(doc, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	dm, ok := doc.(map[string]any)
	if !ok {
		dm = map[string]any{}
	} else {
		cp := make(map[string]any, len(dm))
		for k, v := range dm {
			cp[k] = v
		}
		dm = cp
	}
	for k, v := range pm {
		if v == nil {
			delete(dm, k)
			continue
		}
		dm[k] = MergePatch(dm[k], v)
	}
	return dm
}
