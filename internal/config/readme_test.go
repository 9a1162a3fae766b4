package config

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The README's configuration table must list every variable with the
// default and allowed values the code uses.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, v := range Vars {
		row := "| `" + v.Name + "` | " + v.Default + " | " + v.Allowed + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md lacks the row:\n%s", row)
		}
	}
}

// descriptive defaults are prose ("(empty: ...)"), not values to parse.
var descriptive = map[string]bool{
	"MCPD_DATA_DIR": true, "MCPD_DATABASE_URL": true, "MCPD_LOG_FORMAT": true,
	"MCPD_CORS_ORIGINS": true, "MCPD_BOOTSTRAP_ADMIN_PASSWORD": true, "MCPD_SECRET_KEY": true,
	"MCPD_NODE_NAME": true, "MCPD_MCP_ALLOWED_HOSTS": true,
}

// Each documented default, set explicitly, gives what an empty environment
// gives: the documentation cannot drift from Load.
func TestDocumentedDefaultsAreTheDefaults(t *testing.T) {
	empty := map[string]string{"HOME": "/home/x"}
	want, err := Load(func(k string) string { return empty[k] })
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Vars {
		if descriptive[v.Name] {
			continue
		}
		env := map[string]string{"HOME": "/home/x", v.Name: v.Default}
		got, err := Load(func(k string) string { return env[k] })
		if err != nil {
			t.Errorf("%s: the documented default %q does not load: %v", v.Name, v.Default, err)
			continue
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s=%q (documented default) differs from the real default (-real +documented):\n%s", v.Name, v.Default, diff)
		}
	}
}
