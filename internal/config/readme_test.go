package config

import (
	"os"
	"strings"
	"testing"
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
