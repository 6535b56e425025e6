//go:build bench

// Package bench measures the real dockercri binary on a real Docker Engine, each figure
// beside the Docker floor measured in the same run: pod start-up and teardown against
// the same containers started straight on Docker; what the kubelet's polling costs at
// 10, 50 and 200 running pods (latency and the CPU of dockercri and of dockerd per call
// of each list, status and stats RPC) against the Docker calls cri-dockerd makes for
// the same answers; the kubelet's calls at its own rates at 50 pods against a gRPC
// server that only replays dockercri's answers; dockercri's idle CPU and RSS; and log
// throughput. Run it with
// `make bench` (as root); `go test -tags bench -run 'TestBench/<section>'` runs one
// section, DOCKERCRI_PROFILE=dir keeps a CPU profile of dockercri for each polled RPC
// and for the start-ups with CNI.
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// bench is what every section measures on: the environment, a dockercri with its
// metrics and pprof on, and the images pulled through it.
type bench struct {
	env         *framework.Env
	cri         *framework.Dockercri
	rt          runtimeapi.RuntimeServiceClient
	metricsAddr string
	image       string // busybox, by the reference the pull returned
	pauseImage  string
	dockerdPid  int
	running     int // pods running while polled
}

func TestBench(t *testing.T) {
	env, err := framework.Setup()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Teardown()
	if os.Getenv("DOCKERCRI_BIN") == "" {
		t.Fatal("DOCKERCRI_BIN must name the dockercri binary (make bench sets it)")
	}
	net := env.NewCNINetwork(t)
	net.Write(t)
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{env: env, metricsAddr: fmt.Sprintf("127.0.0.1:%d", port), dockerdPid: dockerdPid(t, env)}
	b.cri = env.StartDockercri(t, append(net.Args(), "--metrics-bind-addr", b.metricsAddr, "--enable-pprof")...)
	b.rt, _ = b.cri.Raw(t)
	images := b.cri.Images(t)
	ctx := context.Background()
	ref, err := images.PullImage(ctx, &runtimeapi.ImageSpec{Image: env.Busybox}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pauseRef, err := images.PullImage(ctx, &runtimeapi.ImageSpec{Image: env.PauseImage}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.image, b.pauseImage = ref, pauseRef
	fmt.Printf("Docker %s (API %s); every ratio is to the Docker floor measured in the same run.\n", dockerVersion(t, env), env.Docker.Client.ClientVersion())
	t.Run("startup", b.startup)
	t.Run("polling", b.polling)
	t.Run("logs", b.logs)
}

func dockerVersion(t *testing.T, env *framework.Env) string {
	v, err := env.Docker.Client.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v.Version
}

// sum is the total of a histogram family's observations (seconds, for latencies).
func sum(m framework.Metrics, family string) float64 {
	total := 0.0
	if f := m[family]; f != nil {
		for _, s := range f.Metric {
			total += s.GetHistogram().GetSampleSum()
		}
	}
	return total
}

// dockerdPid is the pid of the dockerd measured: the run's own when it started one
// (DOCKERCRI_ENGINE_BIN), else the node's.
func dockerdPid(t *testing.T, env *framework.Env) int {
	if env.Docker.Started() {
		return env.Docker.Pid()
	}
	out, err := exec.Command("pidof", "-s", "dockerd").Output()
	if err != nil {
		t.Fatalf("pidof dockerd: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// perMS is a duration in milliseconds, for figures per call or per second.
func perMS(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }
