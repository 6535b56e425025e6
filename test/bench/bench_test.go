//go:build bench

// Package bench measures the real dockercri binary on a real Docker Engine: pod
// start-up and teardown against the same containers started straight on Docker (the
// floor), then what the kubelet's polling costs with 50 running pods: the latency of
// each list, status and stats call, and the CPU dockerd spends per call, beside the
// Docker calls cri-dockerd makes for the same answer, timed in the same run, as a
// ratio; and dockercri's idle CPU and RSS. Run it with `make bench` (as root).
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// pods is how many pods the node runs while measured.
const pods = 50

// calls is how many times each call is made.
const calls = 200

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

// rssMB is a process's resident set size in MB.
func rssMB(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb / 1024
		}
	}
	return 0
}

// dockerdCPU is dockerd's CPU time so far (user + system).
func dockerdCPU(t *testing.T, pid int) time.Duration { return cpuOf(t, pid) }

// cpuOf is a process's CPU time so far (user + system).
func cpuOf(t *testing.T, pid int) time.Duration {
	d, err := framework.ProcessCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dockerdPid(t *testing.T) int {
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

// result is one measured call.
type result struct {
	name      string
	n         int
	latency   time.Duration // per call
	dockerCPU time.Duration // per call
}

func measure(t *testing.T, pid int, name string, n int, call func() error) result {
	t.Helper()
	for range 3 { // warm up
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	cpu0, start := dockerdCPU(t, pid), time.Now()
	for range n {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	elapsed, cpu := time.Since(start), dockerdCPU(t, pid)-cpu0
	return result{name: name, n: n, latency: elapsed / time.Duration(n), dockerCPU: cpu / time.Duration(n)}
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
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", port)
	d := env.StartDockercri(t, append(net.Args(), "--metrics-bind-addr", metricsAddr)...)
	rt, _ := d.Raw(t)
	images := d.Images(t)
	ctx := context.Background()
	ref, err := images.PullImage(ctx, &runtimeapi.ImageSpec{Image: env.Busybox}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pauseRef, err := images.PullImage(ctx, &runtimeapi.ImageSpec{Image: env.PauseImage}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := framework.ScrapeMetrics(t, metricsAddr)
	ours := measureStartup(t, criPod(t, env, rt, ref), 0)
	after := framework.ScrapeMetrics(t, metricsAddr)
	started := float64(sequentialPods + parallelPods)
	floor := measureStartup(t, dockerPod(env, pauseRef, ref), 0)
	// The same without CNI (Docker's none network plus loopback): dockercri's own share.
	bare := env.StartDockercri(t)
	bareRT, _ := bare.Raw(t)
	noCNI := measureStartup(t, criPod(t, env, bareRT, ref), 100)
	if err := bare.Process().Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	var sandboxes, containers []string
	for i := range pods {
		cfg := env.SandboxConfig(t, fmt.Sprintf("bench%d", i))
		sb, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		sandboxes = append(sandboxes, sb.PodSandboxId)
		c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, Config: framework.ContainerConfig("app", ref, "exec sleep 3600"), SandboxConfig: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatal(err)
		}
		containers = append(containers, c.ContainerId)
	}
	defer func() {
		// As the kubelet does: containers first (sleep ignores SIGTERM: no grace), then pods.
		for _, id := range containers {
			_, _ = rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id})
		}
		for _, id := range sandboxes {
			_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
			_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
		}
	}()
	pid := dockerdPid(t)
	docker := env.Docker.Client
	selector := filters.NewArgs(filters.Arg("label", "io.kubernetes.docker.type"))

	type pair struct{ ours, docker result }
	var rows []pair
	add := func(ours, theirs result) { rows = append(rows, pair{ours, theirs}) }

	add(measure(t, pid, "ListPodSandbox", calls, func() error {
		_, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		return err
	}), measure(t, pid, "docker: list (what cri-dockerd does)", calls, func() error {
		_, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: selector})
		return err
	}))
	add(measure(t, pid, "ListContainers", calls, func() error {
		_, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		return err
	}), measure(t, pid, "docker: list", calls, func() error {
		_, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: selector})
		return err
	}))
	add(measure(t, pid, "ContainerStatus (each of 50)", calls/10, func() error {
		for _, id := range containers {
			if _, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id}); err != nil {
				return err
			}
		}
		return nil
	}), measure(t, pid, "docker: inspect each of 50", calls/10, func() error {
		for _, id := range containers {
			if _, err := docker.ContainerInspect(ctx, id); err != nil {
				return err
			}
		}
		return nil
	}))
	add(measure(t, pid, "ListContainerStats", calls/4, func() error {
		_, err := rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
		return err
	}), measure(t, pid, "docker: stats of each of 50, in parallel", 2, func() error {
		var wg sync.WaitGroup
		errs := make(chan error, len(containers))
		for _, id := range containers {
			wg.Go(func() {
				resp, err := docker.ContainerStatsOneShot(ctx, id)
				if err == nil {
					resp.Body.Close()
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}))
	add(measure(t, pid, "ListPodSandboxStats", calls/4, func() error {
		_, err := rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
		return err
	}), result{name: "(cri-dockerd: not implemented)"})

	criPid := d.Process().Pid()
	idle0, idleStart := cpuOf(t, criPid), time.Now()
	time.Sleep(10 * time.Second)
	idle := float64((cpuOf(t, criPid) - idle0).Microseconds()) / 1000 / time.Since(idleStart).Seconds()

	printStartup(ours, noCNI, floor)
	// Where a pod's start and teardown go, from dockercri's own metrics.
	fmt.Printf("\nDocker requests per pod (start + teardown): %s\n", framework.Rates(before, after, "dockercri_docker_request_duration_seconds", "operation", started))
	fmt.Printf("Seconds per pod in Docker requests: %.3f; in CNI ADD+DEL: %.3f\n",
		(sum(after, "dockercri_docker_request_duration_seconds")-sum(before, "dockercri_docker_request_duration_seconds"))/started,
		(sum(after, "dockercri_cni_operation_duration_seconds")-sum(before, "dockercri_cni_operation_duration_seconds"))/started)
	fmt.Printf("\n%d running pods, Docker %s\n\n", pods, env.Docker.Client.ClientVersion())
	fmt.Printf("%-30s %12s %14s | %-42s %12s %14s | %9s\n", "dockercri call", "latency", "dockerd CPU", "Docker calls for the same answer", "latency", "dockerd CPU", "speed-up")
	for _, r := range rows {
		ratio := "-"
		if r.docker.latency > 0 {
			ratio = fmt.Sprintf("%.0fx", float64(r.docker.latency)/float64(r.ours.latency))
		}
		fmt.Printf("%-30s %12s %14s | %-42s %12s %14s | %9s\n", r.ours.name, r.ours.latency.Round(time.Microsecond), r.ours.dockerCPU, r.docker.name, r.docker.latency.Round(time.Microsecond), r.docker.dockerCPU, ratio)
	}
	fmt.Println("\ndockerd CPU is per call, from /proc/<dockerd>/stat (10 ms resolution, averaged over the calls).")
	fmt.Printf("\ndockercri with %d running pods: idle CPU %.2f ms/s (10 s without calls), RSS %d MB\n", pods, idle, rssMB(t, criPid))
}
