//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// What the kubelet's polling costs with 10, 50 and 200 running pods: each list, status
// and stats RPC, beside the Docker calls cri-dockerd makes for the same answer.

// sizes are the numbers of running pods the polling is measured at.
var sizes = []int{10, 50, 200}

// window is how long each call is repeated at least: long enough for /proc's 10 ms CPU
// ticks to average out over the calls.
const window = 2 * time.Second

// runningPod is a pod of one container started through dockercri; the ids are empty
// where starting it failed before them.
type runningPod struct {
	sandbox, container, logPath string
	started                     time.Time // when StartContainer returned
}

// startPod runs a pod of one container running script, through rt, as the kubelet does.
func startPod(t *testing.T, env *framework.Env, rt runtimeapi.RuntimeServiceClient, name, image, script string) (runningPod, error) {
	ctx := context.Background()
	var p runningPod
	cfg := env.SandboxConfig(t, name)
	sb, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return p, err
	}
	p.sandbox = sb.PodSandboxId
	cc := framework.ContainerConfig("app", image, script)
	c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, Config: cc, SandboxConfig: cfg})
	if err != nil {
		return p, err
	}
	p.container, p.logPath = c.ContainerId, filepath.Join(cfg.LogDirectory, cc.LogPath)
	_, err = rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId})
	p.started = time.Now()
	return p, err
}

// stopPod stops and removes a pod as the kubelet does: the container first (sleep
// ignores SIGTERM: no grace), then the pod.
func stopPod(rt runtimeapi.RuntimeServiceClient, p runningPod) error {
	ctx := context.Background()
	if p.container != "" {
		if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: p.container}); err != nil {
			return err
		}
	}
	if p.sandbox == "" {
		return nil
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.sandbox}); err != nil {
		return err
	}
	_, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.sandbox})
	return err
}

// cost is what one call cost on average.
type cost struct {
	name                        string
	latency, criCPU, dockerdCPU time.Duration
	measured                    bool
}

func (b *bench) polling(t *testing.T) {
	var pods []runningPod
	defer func() { b.removePods(t, pods) }()
	for _, n := range sizes {
		pods = append(pods, b.startPods(t, len(pods), n-len(pods))...)
		b.pollAt(t, pods)
		if n == 50 {
			b.kubeletCalls(t, pods)
		}
	}
	pid := b.cri.Process().Pid()
	// Run time to the nanosecond: an idle dockercri spends less than one clock tick
	// (what CPUOf counts) in the 10 s.
	idle0, idleStart := framework.RunTimeOf(t, pid), time.Now()
	time.Sleep(10 * time.Second)
	idle := framework.RunTimeOf(t, pid) - idle0
	fmt.Printf("\ndockercri with %d running pods: idle CPU %.2f ms/s (10 s without calls), RSS %d MB\n",
		len(pods), float64(idle.Microseconds())/1000/time.Since(idleStart).Seconds(), framework.RSSMB(t, pid))
}

// startPods starts n pods of a sleeping container, parallelism at a time, numbered
// from first.
func (b *bench) startPods(t *testing.T, first, n int) []runningPod {
	pods := make([]runningPod, n)
	err := inParallel(n, func(i int) (err error) {
		pods[i], err = startPod(t, b.env, b.rt, fmt.Sprintf("poll%d", first+i), b.image, "exec sleep 3600")
		return err
	})
	if err != nil {
		b.removePods(t, pods)
		t.Fatal(err)
	}
	return pods
}

// removePods stops and removes pods, parallelism at a time.
func (b *bench) removePods(t *testing.T, pods []runningPod) {
	if err := inParallel(len(pods), func(i int) error { return stopPod(b.rt, pods[i]) }); err != nil {
		t.Error(err)
	}
}

// pollAt measures each RPC and its Docker counterpart with pods running, and prints
// the table.
func (b *bench) pollAt(t *testing.T, pods []runningPod) {
	ctx := context.Background()
	n := len(pods)
	b.running = n
	docker := b.env.Docker.Client
	selector := filters.NewArgs(filters.Arg("label", "io.kubernetes.docker.type"))
	list := func() error {
		_, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: selector})
		return err
	}
	inspectEach := func(ids func(runningPod) string) func() error {
		return func() error {
			for _, p := range pods {
				if _, err := docker.ContainerInspect(ctx, ids(p)); err != nil {
					return err
				}
			}
			return nil
		}
	}
	sandboxID := func(p runningPod) string { return p.sandbox }
	containerID := func(p runningPod) string { return p.container }
	statsEach := func() error {
		return inParallel(n, func(i int) error {
			resp, err := docker.ContainerStatsOneShot(ctx, pods[i].container)
			if err == nil {
				resp.Body.Close()
			}
			return err
		})
	}
	none := cost{name: "(cri-dockerd: not implemented)"}

	type row struct{ ours, docker cost }
	rows := []row{
		{b.measure(t, "ListPodSandbox", 1, func() error {
			_, err := b.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
			return err
		}), b.measureDocker(t, "docker: list (what cri-dockerd does)", 1, list)},
		{b.measure(t, "ListContainers", 1, func() error {
			_, err := b.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
			return err
		}), b.measureDocker(t, "docker: list", 1, list)},
		{b.measure(t, "PodSandboxStatus (per pod)", n, func() error {
			for _, p := range pods {
				if _, err := b.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.sandbox}); err != nil {
					return err
				}
			}
			return nil
		}), b.measureDocker(t, "docker: inspect (per pod)", n, inspectEach(sandboxID))},
		{b.measure(t, "ContainerStatus (per container)", n, func() error {
			for _, p := range pods {
				if _, err := b.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: p.container}); err != nil {
					return err
				}
			}
			return nil
		}), b.measureDocker(t, "docker: inspect (per container)", n, inspectEach(containerID))},
		{b.measure(t, "ListContainerStats", 1, func() error {
			_, err := b.rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
			return err
		}), b.measureDocker(t, fmt.Sprintf("docker: stats of each of %d, 8 at once", n), 1, statsEach)},
		{b.measure(t, "ListPodSandboxStats", 1, func() error {
			_, err := b.rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
			return err
		}), none},
		{b.measure(t, "ListPodSandboxMetrics", 1, func() error {
			_, err := b.rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
			return err
		}), none},
	}

	fmt.Printf("\n%d running pods (CPU in ms per call, from /proc: user + system)\n\n", n)
	fmt.Printf("%-31s %9s %9s %9s | %-38s %9s %9s | %8s\n", "dockercri call", "latency", "own CPU", "dockerd", "Docker calls for the same answer", "latency", "dockerd", "speed-up")
	for _, r := range rows {
		speedup, theirs := "-", []any{"", "", ""}
		if r.docker.measured {
			speedup = fmt.Sprintf("%.0fx", float64(r.docker.latency)/float64(r.ours.latency))
			theirs = []any{r.docker.name, r.docker.latency.Round(time.Microsecond), perMS(r.docker.dockerdCPU)}
		} else {
			theirs[0] = r.docker.name
		}
		fmt.Printf("%-31s %9s %9s %9s | %-38s %9v %9v | %8s\n", r.ours.name, r.ours.latency.Round(time.Microsecond), perMS(r.ours.criCPU), perMS(r.ours.dockerdCPU), theirs[0], theirs[1], theirs[2], speedup)
	}
	fmt.Printf("dockercri RSS with %d pods: %d MB\n", n, framework.RSSMB(t, b.cri.Process().Pid()))
}

// measure repeats a dockercri call for at least window (and three times) and returns
// its latency and the CPU of dockercri and of dockerd per call, divided by per when
// one call covers per objects. With DOCKERCRI_PROFILE=dir, a CPU profile of dockercri
// over the calls is kept there, named after the call and the number of running pods.
func (b *bench) measure(t *testing.T, name string, per int, call func() error) cost {
	return b.repeat(t, name, per, b.profile(t, fmt.Sprintf("%s-%d", strings.Fields(name)[0], b.running), 2*window), call)
}

// profile keeps a CPU profile of dockercri over the next d as name.pprof in the
// directory DOCKERCRI_PROFILE names; the channel is closed once it is written, at
// once without DOCKERCRI_PROFILE.
func (b *bench) profile(t *testing.T, name string, d time.Duration) <-chan struct{} {
	profiled := make(chan struct{})
	dir := os.Getenv("DOCKERCRI_PROFILE")
	if dir == "" {
		close(profiled)
		return profiled
	}
	go func() {
		defer close(profiled)
		if err := framework.CPUProfile(b.metricsAddr, filepath.Join(dir, name+".pprof"), d); err != nil {
			t.Errorf("profile of %s: %v", name, err)
		}
	}()
	return profiled
}

// measureDocker is measure for Docker's own calls.
func (b *bench) measureDocker(t *testing.T, name string, per int, call func() error) cost {
	return b.repeat(t, name, per, nil, call)
}

func (b *bench) repeat(t *testing.T, name string, per int, profiled <-chan struct{}, call func() error) cost {
	t.Helper()
	for range 2 { // warm up
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	criPid := b.cri.Process().Pid()
	cri0, dockerd0, start := framework.CPUOf(t, criPid), framework.CPUOf(t, b.dockerdPid), time.Now()
	calls := 0
	for ; calls < 3 || time.Since(start) < window || !done(profiled); calls++ {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	div := time.Duration(calls * per)
	return cost{
		name:       name,
		latency:    time.Since(start) / div,
		criCPU:     (framework.CPUOf(t, criPid) - cri0) / div,
		dockerdCPU: (framework.CPUOf(t, b.dockerdPid) - dockerd0) / div,
		measured:   true,
	}
}

// done tells whether c is closed; a nil channel is.
func done(c <-chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// inParallel runs f for 0..n-1, parallelism at a time, and returns the first error.
func inParallel(n int, f func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range parallelism {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}
