//go:build genman

package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Only a build with the genman tag has gen-man (make install runs one): cobra/doc's
// Markdown and YAML libraries would be resident in every running dockercri, 0.8 MB of
// its binary.
func init() { extraCommands = append(extraCommands, newManCommand) }

// newManCommand writes the man pages of the commands into a directory: the Debian
// package ships them (make deb). Hidden: it is for packaging, not for users.
func newManCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the man pages of dockercri's commands into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			root.DisableAutoGenTag = true
			return doc.GenManTree(root, &doc.GenManHeader{Title: "DOCKERCRI", Section: "8", Source: "dockercri " + version}, args[0])
		},
	}
}
