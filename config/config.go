// Package config holds dockercri's settings and the command-line flags that set them.
//
// Flag names follow cri-dockerd wherever the meaning is the same, so that unit files
// and guides written for cri-dockerd keep working when a node switches to dockercri.
package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/pflag"
)

// Defaults a node gets when it passes no flag.
const (
	DefaultEndpoint            = "unix:///run/dockercri.sock"
	DefaultDockerEndpoint      = "unix:///var/run/docker.sock"
	DefaultPodInfraImage       = "registry.k8s.io/pause:3.10"
	DefaultNetworkPlugin       = "cni"
	DefaultCNIBinDir           = "/opt/cni/bin,/usr/lib/cni"
	DefaultCNIConfDir          = "/etc/cni/net.d"
	DefaultCNICacheDir         = "/var/lib/cni/cache"
	DefaultRootDirectory       = "/var/lib/dockercri"
	DefaultRuntimeTimeout      = 2 * time.Minute
	DefaultPullProgressTimeout = time.Minute
	DefaultStreamingBindAddr   = "127.0.0.1:0"
	DefaultLogLevel            = "info"
	DefaultSlowCallThreshold   = 2 * time.Second
	DefaultNetworkSweep        = time.Minute
	// Docker's json-file of each container, from which its CRI log is copied, is
	// rotated at DefaultDockerLogMaxSize and keeps DefaultDockerLogMaxFile files: at
	// most 50 MB a container, and 40 MB of output the CRI log may fall behind by (while
	// dockercri is down) before a line is lost.
	DefaultDockerLogMaxSize = "10m"
	DefaultDockerLogMaxFile = 5
)

// Container log formats.
const (
	// LogFormatCRI writes each container's output to its log path in the CRI format the
	// kubelet reads, and lets the kubelet rotate it.
	LogFormatCRI = "cri"
	// LogFormatDockerJSON makes the log path a symlink to Docker's json-file log, as
	// dockershim did.
	LogFormatDockerJSON = "docker-json"
)

// Config is everything dockercri is told at start-up.
type Config struct {
	// Endpoint is the CRI socket the kubelet talks to (unix:///path).
	Endpoint string
	// DockerEndpoint is where Docker Engine's API is served.
	DockerEndpoint string
	// PodInfraImage is the image of every sandbox's pause container.
	PodInfraImage string
	// NetworkPlugin is "cni", or empty for Docker's none network plus loopback.
	NetworkPlugin string
	// CNIBinDirs are searched in order for CNI plugin binaries.
	CNIBinDirs  []string
	CNIConfDir  string
	CNICacheDir string
	// NetworkSweepInterval is how often the CNI DEL of sandboxes that still hold
	// network resources with no call to free them (a DEL failed, the pause container
	// stopped or went) is tried again.
	NetworkSweepInterval time.Duration
	// RootDirectory holds dockercri's checkpoints and other state.
	RootDirectory string
	// OldRootDirectories are those of cri-dockerd and dockershim, whose checkpoints of
	// the pods dockercri adopted would otherwise outlive the pods: a move back to the old
	// server would list each as a pod that is not ready.
	OldRootDirectories []string
	// RuntimeRequestTimeout bounds every Docker call except image pulls.
	RuntimeRequestTimeout time.Duration
	// ImagePullProgressDeadline cancels a pull that reports no progress for this long.
	ImagePullProgressDeadline time.Duration
	StreamingBindAddr         string
	// StreamingTLSCertFile and StreamingTLSKeyFile make the streaming server use TLS.
	StreamingTLSCertFile, StreamingTLSKeyFile string
	LogLevel                                  string
	// ContainerLogFormat is LogFormatCRI or LogFormatDockerJSON.
	ContainerLogFormat string
	// DockerLogMaxSize and DockerLogMaxFile are the rotation of Docker's json-file of
	// the containers dockercri creates with LogFormatCRI (Docker's max-size and
	// max-file log options): Docker keeps at most their product of each container's
	// output, and the CRI log, copied from it, may lag (dockercri being down) by
	// DockerLogMaxFile-1 files of DockerLogMaxSize before a line is lost.
	DockerLogMaxSize string
	DockerLogMaxFile int
	// RestrictOOMScoreAdj raises every oom_score_adj asked for to dockercri's own, as
	// containerd's restrict_oom_score_adj; on a host that forbids lowering it, that is
	// done anyway.
	RestrictOOMScoreAdj bool
	// MetricsBindAddr serves Prometheus metrics when set (host:port; no host: loopback).
	MetricsBindAddr string
	// EnablePprof adds net/http/pprof to the metrics server.
	EnablePprof bool
	// SlowCallThreshold logs CRI calls slower than this at the default level (0: never).
	SlowCallThreshold time.Duration
}

// Default returns the configuration of a node that passes no flag.
func Default() *Config {
	return &Config{
		Endpoint:                  DefaultEndpoint,
		DockerEndpoint:            DefaultDockerEndpoint,
		PodInfraImage:             DefaultPodInfraImage,
		NetworkPlugin:             DefaultNetworkPlugin,
		CNIBinDirs:                strings.Split(DefaultCNIBinDir, ","),
		CNIConfDir:                DefaultCNIConfDir,
		CNICacheDir:               DefaultCNICacheDir,
		NetworkSweepInterval:      DefaultNetworkSweep,
		RootDirectory:             DefaultRootDirectory,
		OldRootDirectories:        []string{"/var/lib/cri-dockerd", "/var/lib/dockershim"},
		RuntimeRequestTimeout:     DefaultRuntimeTimeout,
		ImagePullProgressDeadline: DefaultPullProgressTimeout,
		StreamingBindAddr:         DefaultStreamingBindAddr,
		LogLevel:                  DefaultLogLevel,
		ContainerLogFormat:        LogFormatCRI,
		DockerLogMaxSize:          DefaultDockerLogMaxSize,
		DockerLogMaxFile:          DefaultDockerLogMaxFile,
		SlowCallThreshold:         DefaultSlowCallThreshold,
	}
}

// AddFlags registers the flags that set c on fs.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Endpoint, "container-runtime-endpoint", c.Endpoint, "The CRI endpoint dockercri serves (unix:///path)")
	fs.StringVar(&c.DockerEndpoint, "docker-endpoint", c.DockerEndpoint, "Docker Engine's API endpoint")
	fs.StringVar(&c.PodInfraImage, "pod-infra-container-image", c.PodInfraImage, "The image of each pod's pause container")
	fs.StringVar(&c.NetworkPlugin, "network-plugin", c.NetworkPlugin, `"cni", or empty for Docker's none network plus loopback`)
	fs.StringSliceVar(&c.CNIBinDirs, "cni-bin-dir", c.CNIBinDirs, "Directories searched in order for CNI plugin binaries (comma-separated)")
	fs.StringVar(&c.CNIConfDir, "cni-conf-dir", c.CNIConfDir, "Directory of CNI network configurations")
	fs.StringVar(&c.CNICacheDir, "cni-cache-dir", c.CNICacheDir, "Directory where CNI plugins cache results")
	fs.DurationVar(&c.NetworkSweepInterval, "network-sweep-interval", c.NetworkSweepInterval, "How often a failed CNI DEL, and the DEL of a pod whose pause container stopped or was removed, is tried again")
	fs.StringVar(&c.RootDirectory, "root-directory", c.RootDirectory, "Directory of dockercri's state (checkpoints)")
	fs.StringVar(&c.RootDirectory, "cri-dockerd-root-directory", c.RootDirectory, "Alias of --root-directory, for cri-dockerd's unit files: set to cri-dockerd's root directory, its pods' checkpoints are read")
	fs.StringSliceVar(&c.OldRootDirectories, "old-root-directories", c.OldRootDirectories, "Root directories of the CRI servers a node may have moved from (comma-separated): when dockercri removes a pod of theirs, its checkpoint there goes too, so that a move back finds no pod that is gone")
	fs.DurationVar(&c.RuntimeRequestTimeout, "runtime-request-timeout", c.RuntimeRequestTimeout, "Timeout of each Docker request, image pulls excepted")
	fs.DurationVar(&c.ImagePullProgressDeadline, "image-pull-progress-deadline", c.ImagePullProgressDeadline, "Cancel an image pull that makes no progress for this long")
	fs.StringVar(&c.StreamingBindAddr, "streaming-bind-addr", c.StreamingBindAddr, "Address of the exec/attach/port-forward streaming server (port 0: any free port)")
	fs.StringVar(&c.StreamingTLSCertFile, "streaming-tls-cert-file", "", "TLS certificate of the streaming server (with --streaming-tls-key-file)")
	fs.StringVar(&c.StreamingTLSKeyFile, "streaming-tls-key-file", "", "TLS private key of the streaming server (with --streaming-tls-cert-file)")
	fs.BoolVar(&c.RestrictOOMScoreAdj, "restrict-oom-score-adj", c.RestrictOOMScoreAdj, "Never give a container an oom_score_adj below dockercri's own (automatic on hosts that forbid lowering it)")
	fs.StringVar(&c.ContainerLogFormat, "container-log-format", c.ContainerLogFormat, `"cri" (CRI log files the kubelet rotates) or "docker-json" (a symlink to Docker's json-file log, as dockershim)`)
	fs.StringVar(&c.DockerLogMaxSize, "docker-log-max-size", c.DockerLogMaxSize, "Size at which Docker rotates the json-file log of each container dockercri creates, which its CRI log is copied from (Docker's max-size: 10m, 1g, …)")
	fs.IntVar(&c.DockerLogMaxFile, "docker-log-max-file", c.DockerLogMaxFile, "Files Docker keeps of each container's json-file log (Docker's max-file, at least 2): the CRI log may fall behind (dockercri down) by max-file - 1 of them before a line is lost")
	fs.StringVar(&c.MetricsBindAddr, "metrics-bind-addr", "", `Serve Prometheus metrics on this address (host:port; ":port" means loopback); off when empty`)
	fs.BoolVar(&c.EnablePprof, "enable-pprof", false, "Serve net/http/pprof under /debug/pprof/ on the metrics address")
	fs.DurationVar(&c.SlowCallThreshold, "slow-call-threshold", c.SlowCallThreshold, "Log CRI calls that take longer than this at the default level, with their pod or container (0: never)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "Log level: error, warn, info, debug or trace (klog's -v sets verbosity directly)")
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if !strings.HasPrefix(c.Endpoint, "unix://") || len(c.Endpoint) == len("unix://") {
		return fmt.Errorf("--container-runtime-endpoint %q: only unix:///path endpoints are served", c.Endpoint)
	}
	if c.DockerEndpoint == "" {
		return fmt.Errorf("--docker-endpoint must not be empty")
	}
	if c.PodInfraImage == "" {
		return fmt.Errorf("--pod-infra-container-image must not be empty")
	}
	if c.NetworkPlugin != "" && c.NetworkPlugin != "cni" {
		return fmt.Errorf("--network-plugin %q: only \"cni\" or empty is supported", c.NetworkPlugin)
	}
	if c.RuntimeRequestTimeout <= 0 {
		return fmt.Errorf("--runtime-request-timeout must be positive")
	}
	if c.NetworkSweepInterval <= 0 {
		return fmt.Errorf("--network-sweep-interval must be positive")
	}
	if c.ImagePullProgressDeadline <= 0 {
		return fmt.Errorf("--image-pull-progress-deadline must be positive")
	}
	if (c.StreamingTLSCertFile == "") != (c.StreamingTLSKeyFile == "") {
		return fmt.Errorf("--streaming-tls-cert-file and --streaming-tls-key-file go together")
	}
	if c.ContainerLogFormat != LogFormatCRI && c.ContainerLogFormat != LogFormatDockerJSON {
		return fmt.Errorf("--container-log-format %q: want %q or %q", c.ContainerLogFormat, LogFormatCRI, LogFormatDockerJSON)
	}
	if n, err := units.FromHumanSize(c.DockerLogMaxSize); err != nil || n <= 0 {
		return fmt.Errorf("--docker-log-max-size %q: want a positive size such as 10m", c.DockerLogMaxSize)
	}
	if c.DockerLogMaxFile < 2 {
		// With one file Docker drops its log at each rotation, whatever was not copied.
		return fmt.Errorf("--docker-log-max-file must be at least 2")
	}
	if c.EnablePprof && c.MetricsBindAddr == "" {
		return fmt.Errorf("--enable-pprof needs --metrics-bind-addr")
	}
	if c.SlowCallThreshold < 0 {
		return fmt.Errorf("--slow-call-threshold must not be negative")
	}
	if _, err := Verbosity(c.LogLevel); err != nil {
		return err
	}
	return nil
}

// SocketPath is the filesystem path of the CRI endpoint.
func (c *Config) SocketPath() string {
	return strings.TrimPrefix(c.Endpoint, "unix://")
}

// Verbosity maps a cri-dockerd --log-level to the klog verbosity that shows the same detail.
func Verbosity(level string) (int, error) {
	switch strings.ToLower(level) {
	case "panic", "fatal", "error", "warn", "warning", "info", "":
		return 0, nil
	case "debug":
		return 4, nil
	case "trace":
		return 6, nil
	}
	return 0, fmt.Errorf("--log-level %q: want error, warn, info, debug or trace", level)
}
