package v1

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
)

// DecodeObject strictly decodes one resource document from JSON: the
// document must be an object of a known kind, every field must be known and
// of the right type. Problems come back as a *ValidationError whose field
// paths ("spec.env[1].secretRef.key") the CLI maps to YAML lines. It does
// not run Validate.
func DecodeObject(data []byte) (*Object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, &ValidationError{Fields: FieldErrors{{Message: "malformed JSON: " + err.Error()}}}
	}
	return DecodeValue(doc)
}

// DecodeValue is DecodeObject for a document already parsed into maps,
// slices and scalars (numbers as json.Number or float64).
func DecodeValue(doc any) (*Object, error) {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, &ValidationError{Fields: FieldErrors{{Message: fmt.Sprintf(
			"the document is %s, not an object with kind, metadata and spec", describeJSON(doc))}}}
	}
	var fe FieldErrors
	kindName, _ := m["kind"].(string)
	if kindName == "" {
		fe.Add("kind", "is required; known kinds: %s", KindNames())
		return nil, fe.Err()
	}
	k, ok := LookupKind(kindName)
	if !ok || k.Kind != kindName {
		hint := ""
		if ok {
			hint = fmt.Sprintf(" (did you mean %s?)", k.Kind)
		}
		fe.Add("kind", "unknown kind %q%s; known kinds: %s", kindName, hint, KindNames())
		return nil, fe.Err()
	}
	obj := &Object{Spec: k.NewSpec()}
	if _, ok := m["spec"]; !ok {
		fe.Add("spec", "is required")
	}
	// status is server-owned: accepted (so `get -o yaml` output applies)
	// and ignored.
	delete(m, "status")
	checkValue(&fe, "", reflect.TypeOf(obj).Elem(), m, map[reflect.Type]reflect.Type{specType: reflect.TypeOf(obj.Spec)})
	if len(fe) > 0 {
		return nil, fe.Err()
	}
	// The shape is checked, so the typed decode cannot fail on types or
	// unknown fields.
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, obj); err != nil {
		return nil, &ValidationError{Fields: FieldErrors{{Message: err.Error()}}}
	}
	return obj, nil
}

var (
	specType            = reflect.TypeOf((*Spec)(nil)).Elem()
	anyType             = reflect.TypeOf((*any)(nil)).Elem()
	textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// checkValue reports, with its path, each field of v that t has no field
// for and each value of the wrong JSON type. subst replaces interface
// types by the concrete type they hold here (the kind's spec).
func checkValue(fe *FieldErrors, path string, t reflect.Type, v any, subst map[reflect.Type]reflect.Type) {
	if c, ok := subst[t]; ok {
		t = c
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return // null leaves a field unset
	}
	if t == anyType {
		return
	}
	want := ""
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		// time.Time and friends are strings in JSON.
		if _, ok := v.(string); !ok {
			fe.Add(path, "must be a string, not %s", describeJSON(v))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			want = "an object"
			break
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(m))
		for key := range m {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			f, ok := fields[key]
			p := joinPath(path, key)
			if !ok {
				fe.Add(p, "unknown field%s", suggest(key, fields))
				continue
			}
			checkValue(fe, p, f, m[key], subst)
		}
		return
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			want = "an object"
			break
		}
		keys := make([]string, 0, len(m))
		for key := range m {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			checkValue(fe, joinPath(path, key), t.Elem(), m[key], subst)
		}
		return
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			want = "a list"
			break
		}
		for i, e := range s {
			checkValue(fe, fmt.Sprintf("%s[%d]", path, i), t.Elem(), e, subst)
		}
		return
	case reflect.String:
		if _, ok := v.(string); !ok {
			want = "a string"
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			want = "true or false"
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if !isInteger(v) {
			want = "an integer"
		}
	case reflect.Float64:
		if _, ok := number(v); !ok {
			want = "a number"
		}
	}
	if want != "" {
		fe.Add(path, "must be %s, not %s", want, describeJSON(v))
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func isInteger(v any) bool {
	if n, ok := v.(json.Number); ok {
		// The typed decode reads only integer literals into an int:
		// 3.0 and 1e1 would fail there, without a path.
		if _, err := n.Int64(); err != nil {
			return false
		}
	}
	f, ok := number(v)
	return ok && f == math.Trunc(f) && math.Abs(f) < 1<<53
}

// describeJSON names the JSON type of v for messages. It never shows the
// value: the field may be a secret's (spec.data.TOKEN given as a number),
// and messages end up in CI logs.
func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	if _, ok := number(v); ok {
		return "a number"
	}
	return reflect.TypeOf(v).String()
}

// jsonFields maps the JSON names of t's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// suggest proposes a known field that differs only in case or by one
// typo, as " (did you mean X?)", or lists the known fields.
func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.EqualFold(n, key) || editDistance(strings.ToLower(n), strings.ToLower(key)) <= 2 {
			return fmt.Sprintf(" (did you mean %s?)", n)
		}
	}
	return "; known fields: " + strings.Join(names, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
