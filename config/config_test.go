package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
	if got, want := c.CNIBinDirs, []string{"/opt/cni/bin", "/usr/lib/cni"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default CNIBinDirs = %q, want %q", got, want)
	}
	if got, want := c.SocketPath(), "/run/dockercri.sock"; got != want {
		t.Errorf("default SocketPath() = %q, want %q", got, want)
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a, b := Default(), Default()
	a.CNIBinDirs[0] = "/changed"
	if b.CNIBinDirs[0] == "/changed" {
		t.Fatal("two Default() configs share their CNIBinDirs slice")
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		errHave string // a fragment the error names
	}{
		{"tcp endpoint", func(c *Config) { c.Endpoint = "tcp://127.0.0.1:1234" }, "--container-runtime-endpoint"},
		{"bare path endpoint", func(c *Config) { c.Endpoint = "/run/dockercri.sock" }, "--container-runtime-endpoint"},
		{"empty unix endpoint", func(c *Config) { c.Endpoint = "unix://" }, "--container-runtime-endpoint"},
		{"empty endpoint", func(c *Config) { c.Endpoint = "" }, "--container-runtime-endpoint"},
		{"empty docker endpoint", func(c *Config) { c.DockerEndpoint = "" }, "--docker-endpoint"},
		{"empty pause image", func(c *Config) { c.PodInfraImage = "" }, "--pod-infra-container-image"},
		{"kubenet plugin", func(c *Config) { c.NetworkPlugin = "kubenet" }, "--network-plugin"},
		{"CNI upper case", func(c *Config) { c.NetworkPlugin = "CNI" }, "--network-plugin"},
		{"zero runtime timeout", func(c *Config) { c.RuntimeRequestTimeout = 0 }, "--runtime-request-timeout"},
		{"negative runtime timeout", func(c *Config) { c.RuntimeRequestTimeout = -time.Second }, "--runtime-request-timeout"},
		{"zero pull deadline", func(c *Config) { c.ImagePullProgressDeadline = 0 }, "--image-pull-progress-deadline"},
		{"negative pull deadline", func(c *Config) { c.ImagePullProgressDeadline = -time.Minute }, "--image-pull-progress-deadline"},
		{"bad log level", func(c *Config) { c.LogLevel = "verbose" }, "--log-level"},
		{"numeric log level", func(c *Config) { c.LogLevel = "4" }, "--log-level"},
		{"bad docker log size", func(c *Config) { c.DockerLogMaxSize = "ten megs" }, "--docker-log-max-size"},
		{"zero docker log size", func(c *Config) { c.DockerLogMaxSize = "0" }, "--docker-log-max-size"},
		{"one docker log file", func(c *Config) { c.DockerLogMaxFile = 1 }, "--docker-log-max-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if !strings.Contains(err.Error(), tt.errHave) {
				t.Errorf("Validate() = %q, want it to name %s", err, tt.errHave)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no network plugin", func(c *Config) { c.NetworkPlugin = "" }},
		{"other socket", func(c *Config) { c.Endpoint = "unix:///var/run/cri-dockerd.sock" }},
		{"tcp docker endpoint", func(c *Config) { c.DockerEndpoint = "tcp://10.0.0.1:2375" }},
		{"empty log level", func(c *Config) { c.LogLevel = "" }},
		{"upper-case log level", func(c *Config) { c.LogLevel = "DEBUG" }},
		{"docker log rotation", func(c *Config) { c.DockerLogMaxSize, c.DockerLogMaxFile = "100k", 2 }},
		{"tiny timeouts", func(c *Config) {
			c.RuntimeRequestTimeout, c.ImagePullProgressDeadline = time.Nanosecond, time.Nanosecond
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestVerbosity(t *testing.T) {
	tests := []struct {
		level   string
		want    int
		wantErr bool
	}{
		{"", 0, false},
		{"panic", 0, false},
		{"fatal", 0, false},
		{"error", 0, false},
		{"warn", 0, false},
		{"warning", 0, false},
		{"info", 0, false},
		{"INFO", 0, false},
		{"debug", 4, false},
		{"Debug", 4, false},
		{"trace", 6, false},
		{"TRACE", 6, false},
		{"verbose", 0, true},
		{"4", 0, true},
		{" debug", 0, true},
	}
	for _, tt := range tests {
		got, err := Verbosity(tt.level)
		if (err != nil) != tt.wantErr {
			t.Errorf("Verbosity(%q) error = %v, want error %v", tt.level, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("Verbosity(%q) = %d, want %d", tt.level, got, tt.want)
		}
	}
}

func TestSocketPath(t *testing.T) {
	c := &Config{Endpoint: "unix:///var/run/cri-dockerd.sock"}
	if got, want := c.SocketPath(), "/var/run/cri-dockerd.sock"; got != want {
		t.Errorf("SocketPath() = %q, want %q", got, want)
	}
}

// parse builds a FlagSet with AddFlags on a default config and parses args into it.
func parse(t *testing.T, args ...string) *Config {
	t.Helper()
	c := Default()
	fs := pflag.NewFlagSet("dockercri", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("Parse(%q) = %v", args, err)
	}
	return c
}

func TestFlagsNoArgsKeepDefaults(t *testing.T) {
	if got, want := parse(t), Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("config after parsing no flags = %+v, want the default %+v", got, want)
	}
}

func TestFlagsCRIDockerdNames(t *testing.T) {
	c := parse(t,
		"--container-runtime-endpoint", "unix:///var/run/cri-dockerd.sock",
		"--docker-endpoint", "unix:///run/user/1000/docker.sock",
		"--pod-infra-container-image", "registry.k8s.io/pause:3.9",
		"--network-plugin=",
		"--cni-bin-dir", "/a,/b",
		"--cni-conf-dir", "/etc/cni/conf",
		"--cni-cache-dir", "/var/cache/cni",
		"--cri-dockerd-root-directory", "/var/lib/cri-dockerd",
		"--runtime-request-timeout", "90s",
		"--image-pull-progress-deadline=5m30s",
		"--streaming-bind-addr", "0.0.0.0:10010",
		"--log-level", "debug",
	)
	// Every field these flags do not set keeps its default.
	want := Default()
	want.Endpoint = "unix:///var/run/cri-dockerd.sock"
	want.DockerEndpoint = "unix:///run/user/1000/docker.sock"
	want.PodInfraImage = "registry.k8s.io/pause:3.9"
	want.NetworkPlugin = ""
	want.CNIBinDirs = []string{"/a", "/b"}
	want.CNIConfDir = "/etc/cni/conf"
	want.CNICacheDir = "/var/cache/cni"
	want.RootDirectory = "/var/lib/cri-dockerd"
	want.RuntimeRequestTimeout = 90 * time.Second
	want.ImagePullProgressDeadline = 5*time.Minute + 30*time.Second
	want.StreamingBindAddr = "0.0.0.0:10010"
	want.LogLevel = "debug"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("parsed config\n got  %+v\n want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

func TestFlagsRootDirectory(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, DefaultRootDirectory},
		{[]string{"--root-directory", "/x"}, "/x"},
		{[]string{"--cri-dockerd-root-directory", "/y"}, "/y"},
		// Both point at one field: the later flag wins.
		{[]string{"--root-directory", "/x", "--cri-dockerd-root-directory", "/y"}, "/y"},
		{[]string{"--cri-dockerd-root-directory", "/y", "--root-directory", "/x"}, "/x"},
	}
	for _, tt := range tests {
		if got := parse(t, tt.args...).RootDirectory; got != tt.want {
			t.Errorf("args %q: RootDirectory = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestFlagsCNIBinDir(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--cni-bin-dir", "/opt/cni/bin"}, []string{"/opt/cni/bin"}},
		{[]string{"--cni-bin-dir=a,b"}, []string{"a", "b"}},
		// Repeating the flag appends to what the command line gave, not to the default.
		{[]string{"--cni-bin-dir", "a", "--cni-bin-dir", "b,c"}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		if got := parse(t, tt.args...).CNIBinDirs; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("args %q: CNIBinDirs = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestFlagsBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"--runtime-request-timeout", "2"}, // a duration needs a unit
		{"--image-pull-progress-deadline", "soon"},
		{"--no-such-flag"},
	} {
		c := Default()
		fs := pflag.NewFlagSet("dockercri", pflag.ContinueOnError)
		fs.SetOutput(new(strings.Builder))
		c.AddFlags(fs)
		if err := fs.Parse(args); err == nil {
			t.Errorf("Parse(%q) = nil, want an error", args)
		}
	}
}

func TestFlagsThenValidate(t *testing.T) {
	for _, args := range [][]string{
		{"--container-runtime-endpoint", "tcp://0.0.0.0:1"},
		{"--network-plugin", "kubenet"},
		{"--runtime-request-timeout", "0s"},
		{"--image-pull-progress-deadline", "0"},
		{"--log-level", "loud"},
	} {
		if err := parse(t, args...).Validate(); err == nil {
			t.Errorf("args %q: Validate() = nil, want an error", args)
		}
	}
}
