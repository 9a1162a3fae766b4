package v1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSelector(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Selector
	}{
		{"", nil},
		{"   ", nil},
		{"team=infra", Selector{{Key: "team", Op: "=", Value: "infra"}}},
		{"team==infra", Selector{{Key: "team", Op: "=", Value: "infra"}}},
		{"team!=infra", Selector{{Key: "team", Op: "!=", Value: "infra"}}},
		{"tier", Selector{{Key: "tier", Op: "exists"}}},
		{"!legacy", Selector{{Key: "legacy", Op: "!exists"}}},
		{"team=", Selector{{Key: "team", Op: "=", Value: ""}}},
		{"team!=", Selector{{Key: "team", Op: "!=", Value: ""}}},
		{" team = infra , env != prod , tier , ! legacy ", Selector{
			{Key: "team", Op: "=", Value: "infra"},
			{Key: "env", Op: "!=", Value: "prod"},
			{Key: "tier", Op: "exists"},
			{Key: "legacy", Op: "!exists"},
		}},
		{"example.com/team=infra,app.kubernetes.io/name", Selector{
			{Key: "example.com/team", Op: "=", Value: "infra"},
			{Key: "app.kubernetes.io/name", Op: "exists"},
		}},
		{"v=1.2_x-y", Selector{{Key: "v", Op: "=", Value: "1.2_x-y"}}},
	}
	for _, tt := range tests {
		got, err := ParseSelector(tt.in)
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseSelector(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseSelectorErrors(t *testing.T) {
	t.Parallel()
	const badKey = "the key must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	tests := []struct {
		in   string
		want string
	}{
		{",,", `label selector ",," has an empty term; separate terms with single commas`},
		{"a,,b", `label selector "a,,b" has an empty term; separate terms with single commas`},
		{"a=b,", `label selector "a=b," has an empty term; separate terms with single commas`},
		{",a", `label selector ",a" has an empty term; separate terms with single commas`},
		{"a, ,b", `label selector "a, ,b" has an empty term; separate terms with single commas`},
		{"=infra", `label selector term "=infra": ` + badKey},
		{"!", `label selector term "!": ` + badKey},
		{"!=x", `label selector term "!=x": ` + badKey},
		{"my team=infra", `label selector term "my team=infra": ` + badKey},
		{"-team", `label selector term "-team": ` + badKey},
		{"!a=b", `label selector term "!a=b": ` + badKey},
		{"a=b!=c", `label selector term "a=b!=c": ` + badKey},
		{"a=b=c", `label selector term "a=b=c": the value must be at most 63 letters, digits, '-', '_' or '.'`},
		{"team=the infra", `label selector term "team=the infra": the value must be at most 63 letters, digits, '-', '_' or '.'`},
		{"team=" + strings.Repeat("v", 64), `label selector term "team=` + strings.Repeat("v", 64) + `": the value must be at most 63 letters, digits, '-', '_' or '.'`},
		{"/team=x", `label selector term "/team=x": the key prefix must be a DNS subdomain of at most 253 characters`},
		{"Ex.com/team=x", `label selector term "Ex.com/team=x": the key prefix must be a DNS subdomain such as example.com`},
		{"team in (a,b)", `label selector term "team in (a": ` + badKey},
	}
	for _, tt := range tests {
		got, err := ParseSelector(tt.in)
		if err == nil {
			t.Errorf("ParseSelector(%q) = %v, want an error", tt.in, got)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseSelector(%q) error = %q, want %q", tt.in, err, tt.want)
		}
		if got != nil {
			t.Errorf("ParseSelector(%q) returned %v with the error", tt.in, got)
		}
	}
}

func TestSelectorMatches(t *testing.T) {
	t.Parallel()
	labels := map[string]string{"team": "infra", "env": "prod", "tier": "", "example.com/owner": "alice"}
	tests := []struct {
		sel    string
		labels map[string]string
		want   bool
	}{
		{"", labels, true},
		{"", nil, true},
		{"team=infra", labels, true},
		{"team==infra", labels, true},
		{"team=web", labels, false},
		{"team=Infra", labels, false},
		{"missing=x", labels, false},
		{"tier=", labels, true},
		{"missing=", labels, false},
		{"team!=web", labels, true},
		{"team!=infra", labels, false},
		{"missing!=x", labels, true},
		{"tier!=", labels, false},
		{"team", labels, true},
		{"tier", labels, true},
		{"missing", labels, false},
		{"!missing", labels, true},
		{"!team", labels, false},
		{"!tier", labels, false},
		{"example.com/owner=alice", labels, true},
		{"team=infra,env=prod", labels, true},
		{"team=infra,env=dev", labels, false},
		{"team=infra,env!=prod", labels, false},
		{"team,!legacy,env!=dev", labels, true},
		{"team", nil, false},
		{"!team", nil, true},
		{"team!=infra", nil, true},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.sel)
		if err != nil {
			t.Fatalf("ParseSelector(%q): %v", tt.sel, err)
		}
		if got := sel.Matches(tt.labels); got != tt.want {
			t.Errorf("ParseSelector(%q).Matches(%v) = %v, want %v", tt.sel, tt.labels, got, tt.want)
		}
	}
}

func TestSelectorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
	}{
		{"", ""},
		{"team=infra", "team=infra"},
		{"team==infra", "team=infra"},
		{"team!=infra", "team!=infra"},
		{"tier", "tier"},
		{"!legacy", "!legacy"},
		{"team=", "team="},
		{" team = infra , env != prod , tier , ! legacy ", "team=infra,env!=prod,tier,!legacy"},
		{"example.com/team=infra,!example.com/old", "example.com/team=infra,!example.com/old"},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.in)
		if err != nil {
			t.Fatalf("ParseSelector(%q): %v", tt.in, err)
		}
		got := sel.String()
		if got != tt.want {
			t.Errorf("ParseSelector(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		// The string parses back to the same selector.
		back, err := ParseSelector(got)
		if err != nil {
			t.Errorf("ParseSelector(%q) (from String): %v", got, err)
			continue
		}
		if diff := cmp.Diff(sel, back); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", tt.in, diff)
		}
	}
}
