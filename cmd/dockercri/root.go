package main

import (
	"context"
	goflag "flag"
	"fmt"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/server"
)

func newRootCommand() *cobra.Command {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "dockercri",
		Short: "Serve the Kubernetes Container Runtime Interface on Docker Engine",
		Long: `dockercri lets a kubelet run pods on Docker Engine: it serves the CRI (v1) on a
unix socket and translates each call into Docker Engine API calls, with pod networks
from CNI plugins.`,
		// An unknown command (gen-man in a build without it, a typo) says so with the
		// usage: SilenceErrors would leave only the exit status.
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError(cmd, err)
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return usageError(cmd, err)
			}
			if err := applyLogLevel(cmd, cfg.LogLevel); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if err := server.Serve(ctx, cfg); err != nil {
				klog.ErrorS(err, "dockercri failed")
				return err
			}
			return nil
		},
	}
	// Unknown flags and bad values print the usage; errors of a running daemon do not.
	cmd.SetFlagErrorFunc(usageError)
	// Persistent, so that "dockercri version --docker-endpoint=…" asks the right Docker.
	cfg.AddFlags(cmd.PersistentFlags())
	klogFlags := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(klogFlags)
	// Of klog's flags, only the verbosity ones: logs go to stderr, for journald.
	for _, name := range []string{"v", "vmodule"} {
		cmd.PersistentFlags().AddGoFlag(klogFlags.Lookup(name))
	}
	cmd.AddCommand(newVersionCommand(cfg))
	for _, c := range extraCommands {
		cmd.AddCommand(c(cmd))
	}
	return cmd
}

// extraCommands are the commands of builds with a tag (man.go).
var extraCommands []func(root *cobra.Command) *cobra.Command

func usageError(cmd *cobra.Command, err error) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\n\n%s", err, cmd.UsageString())
	return err
}

// applyLogLevel maps cri-dockerd's --log-level onto klog's verbosity, unless -v was given.
func applyLogLevel(cmd *cobra.Command, level string) error {
	if cmd.Flags().Changed("v") {
		return nil
	}
	v, err := config.Verbosity(level)
	if err != nil {
		return err
	}
	return cmd.Flags().Set("v", strconv.Itoa(v))
}
