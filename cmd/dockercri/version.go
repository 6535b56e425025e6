package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/core"
	"github.com/dockercri/dockercri/engine"
)

// Set by the build (-ldflags -X).
var (
	version   = "dev"
	gitCommit = "unknown"
)

func newVersionCommand(cfg *config.Config) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print dockercri's version and the Docker API version it negotiates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "dockercri:   %s\ngit commit:  %s\nCRI API:     %s\n", version, gitCommit, core.CRIAPIVersion)
			fmt.Fprintf(out, "Docker API:  %s\n", dockerAPIVersion(cfg.DockerEndpoint))
			return nil
		},
	}
}

// dockerAPIVersion negotiates with Docker and says what came of it.
func dockerAPIVersion(endpoint string) string {
	docker, err := engine.New(endpoint)
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	defer docker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := docker.ServerVersion(ctx)
	if err != nil {
		return fmt.Sprintf("Docker is unreachable at %s: %v", endpoint, err)
	}
	return fmt.Sprintf("%s (Docker Engine %s at %s)", docker.ClientVersion(), v.Version, endpoint)
}
