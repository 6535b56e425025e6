package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUnknownCommandSaysSo(t *testing.T) {
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"gen-mann"})
	if err := cmd.Execute(); err == nil {
		t.Fatal("an unknown command ran")
	}
	if !strings.Contains(out.String(), `unknown command "gen-mann"`) || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("output %q does not name the unknown command and show the usage", out.String())
	}
}
