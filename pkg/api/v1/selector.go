package v1

import (
	"fmt"
	"strings"
)

// Selector is a parsed label selector: every requirement must hold.
type Selector []Requirement

// Requirement is one term of a selector.
type Requirement struct {
	Key string
	// Op is "=", "!=", "exists" or "!exists".
	Op    string
	Value string
}

// ParseSelector parses a kubectl-style label selector such as
// "team=infra,env!=prod,tier,!legacy". The empty string selects everything.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		var r Requirement
		switch {
		case term == "":
			return nil, fmt.Errorf("label selector %q has an empty term; separate terms with single commas", s)
		case strings.Contains(term, "!="):
			k, v, _ := strings.Cut(term, "!=")
			r = Requirement{Key: strings.TrimSpace(k), Op: "!=", Value: strings.TrimSpace(v)}
		case strings.Contains(term, "=="):
			k, v, _ := strings.Cut(term, "==")
			r = Requirement{Key: strings.TrimSpace(k), Op: "=", Value: strings.TrimSpace(v)}
		case strings.Contains(term, "="):
			k, v, _ := strings.Cut(term, "=")
			r = Requirement{Key: strings.TrimSpace(k), Op: "=", Value: strings.TrimSpace(v)}
		case strings.HasPrefix(term, "!"):
			r = Requirement{Key: strings.TrimSpace(term[1:]), Op: "!exists"}
		default:
			r = Requirement{Key: term, Op: "exists"}
		}
		if msg := validateLabelKey(r.Key); msg != "" {
			return nil, fmt.Errorf("label selector term %q: the key %s", term, msg)
		}
		if r.Value != "" && !labelValueRE(r.Value) {
			return nil, fmt.Errorf("label selector term %q: the value must be at most 63 letters, digits, '-', '_' or '.'", term)
		}
		sel = append(sel, r)
	}
	return sel, nil
}

// Matches reports whether labels satisfy every requirement.
func (sel Selector) Matches(labels map[string]string) bool {
	for _, r := range sel {
		v, ok := labels[r.Key]
		switch r.Op {
		case "=":
			if !ok || v != r.Value {
				return false
			}
		case "!=":
			if ok && v == r.Value {
				return false
			}
		case "exists":
			if !ok {
				return false
			}
		case "!exists":
			if ok {
				return false
			}
		}
	}
	return true
}

// String formats the selector in the form ParseSelector reads.
func (sel Selector) String() string {
	parts := make([]string, len(sel))
	for i, r := range sel {
		switch r.Op {
		case "exists":
			parts[i] = r.Key
		case "!exists":
			parts[i] = "!" + r.Key
		default:
			parts[i] = r.Key + r.Op + r.Value
		}
	}
	return strings.Join(parts, ",")
}
