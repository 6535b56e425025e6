//go:build bench

package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// Pod start-up and teardown against the Docker floor: the same two containers created
// and started straight on Docker's API (a pause container on Docker's none network and
// one container in its network and IPC namespaces), no CRI and no CNI.

const (
	sequentialPods = 20
	parallelPods   = 32
	parallelism    = 8
)

// startup prints pod start-up, teardown and throughput for dockercri with CNI, without
// CNI, and for the floor, then where a pod's time went from dockercri's metrics.
func (b *bench) startup(t *testing.T) {
	before := framework.ScrapeMetrics(t, b.metricsAddr)
	// With DOCKERCRI_PROFILE, over the start-ups and teardowns with CNI (some 25 s).
	profiled := b.profile(t, "startup", 40*time.Second)
	ours := measureStartup(t, criPod(t, b.env, b.rt, b.image), 0, b.cri.Process().Pid(), b.dockerdPid)
	after := framework.ScrapeMetrics(t, b.metricsAddr)
	<-profiled
	started := float64(sequentialPods + parallelPods)
	floor := measureStartup(t, dockerPod(b.env, b.pauseImage, b.image), 0, 0, b.dockerdPid)
	// The same without CNI (Docker's none network plus loopback): dockercri's own share.
	bare := b.env.StartDockercri(t)
	bareRT, _ := bare.Raw(t)
	noCNI := measureStartup(t, criPod(t, b.env, bareRT, b.image), 100, bare.Process().Pid(), b.dockerdPid)
	if err := bare.Process().Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	printStartup(ours, noCNI, floor)
	printStartupCPU(ours, noCNI, floor)
	fmt.Printf("\nDocker requests per pod (start + teardown): %s\n", framework.Rates(before, after, "dockercri_docker_request_duration_seconds", "operation", started))
	fmt.Printf("Seconds per pod in Docker requests: %.3f; in CNI ADD+DEL: %.3f\n",
		(sum(after, "dockercri_docker_request_duration_seconds")-sum(before, "dockercri_docker_request_duration_seconds"))/started,
		(sum(after, "dockercri_cni_operation_duration_seconds")-sum(before, "dockercri_cni_operation_duration_seconds"))/started)
}

// podRunner starts a pod of one container and returns what stops and removes it.
type podRunner func(i int) (teardown func() error, err error)

func criPod(t *testing.T, env *framework.Env, rt runtimeapi.RuntimeServiceClient, ref string) podRunner {
	return func(i int) (func() error, error) {
		p, err := startPod(t, env, rt, fmt.Sprintf("start%d", i), ref, "exec sleep 3600")
		if err != nil {
			return nil, err
		}
		return func() error { return stopPod(rt, p) }, nil
	}
}

func dockerPod(env *framework.Env, pauseImage, image string) podRunner {
	docker := env.Docker.Client
	return func(i int) (func() error, error) {
		ctx := context.Background()
		pause, err := docker.ContainerCreate(ctx, &container.Config{Image: pauseImage}, &container.HostConfig{NetworkMode: "none", IpcMode: "shareable"}, nil, nil, fmt.Sprintf("%s-floor-pause-%d", env.Prefix, i))
		if err != nil {
			return nil, err
		}
		if err := docker.ContainerStart(ctx, pause.ID, container.StartOptions{}); err != nil {
			return nil, err
		}
		ns := container.NetworkMode("container:" + pause.ID)
		app, err := docker.ContainerCreate(ctx, &container.Config{Image: image, Cmd: []string{"sh", "-c", "exec sleep 3600"}},
			&container.HostConfig{NetworkMode: ns, IpcMode: container.IpcMode("container:" + pause.ID)}, nil, nil, fmt.Sprintf("%s-floor-app-%d", env.Prefix, i))
		if err != nil {
			return nil, err
		}
		if err := docker.ContainerStart(ctx, app.ID, container.StartOptions{}); err != nil {
			return nil, err
		}
		return func() error {
			zero := 0
			for _, id := range []string{app.ID, pause.ID} {
				if err := docker.ContainerStop(ctx, id, container.StopOptions{Timeout: &zero}); err != nil {
					return err
				}
				if err := docker.ContainerRemove(ctx, id, container.RemoveOptions{}); err != nil {
					return err
				}
			}
			return nil
		}, nil
	}
}

// startupResult is what one way of starting pods measured.
type startupResult struct {
	start, teardown []time.Duration
	podsPerSecond   float64
	cpu             startCPU // per pod, while parallelPods started parallelism at a time
}

// startCPU is the CPU a pod start cost, by whom: dockercri itself, the CNI plugins it
// ran, dockerd, and the rest of the machine (containerd, its shims and runc, the
// kernel's work for them, the bench's client).
type startCPU struct{ dockercri, plugins, dockerd, total time.Duration }

// cpuNow reads what startCPU counts; criPid 0 is no dockercri.
func cpuNow(t *testing.T, criPid, dockerdPid int) startCPU {
	t.Helper()
	var c startCPU
	var err error
	if criPid != 0 {
		c.dockercri = framework.CPUOf(t, criPid)
		if c.plugins, err = framework.ChildrenCPU(criPid); err != nil {
			t.Fatal(err)
		}
	}
	c.dockerd = framework.CPUOf(t, dockerdPid)
	if c.total, err = framework.MachineCPU(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c startCPU) perPod(before startCPU, pods int) startCPU {
	n := time.Duration(pods)
	return startCPU{(c.dockercri - before.dockercri) / n, (c.plugins - before.plugins) / n, (c.dockerd - before.dockerd) / n, (c.total - before.total) / n}
}

// measureStartup starts pods with run, one after the other then parallelism at a time,
// with the CPU of the second part read for dockercri criPid (0: none) and dockerd.
func measureStartup(t *testing.T, run podRunner, offset, criPid, dockerdPid int) startupResult {
	t.Helper()
	var r startupResult
	var teardowns []func() error
	for i := range sequentialPods {
		t0 := time.Now()
		td, err := run(offset + i)
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		r.start = append(r.start, time.Since(t0))
		teardowns = append(teardowns, td)
	}
	for _, td := range teardowns {
		t0 := time.Now()
		if err := td(); err != nil {
			t.Fatal(err)
		}
		r.teardown = append(r.teardown, time.Since(t0))
	}
	// parallelPods pods, parallelism at a time.
	var mu sync.Mutex
	teardowns = nil
	cpu0 := cpuNow(t, criPid, dockerdPid)
	t0 := time.Now()
	err := inParallel(parallelPods, func(i int) error {
		td, err := run(offset + sequentialPods + i)
		if td != nil {
			mu.Lock()
			teardowns = append(teardowns, td)
			mu.Unlock()
		}
		return err
	})
	r.podsPerSecond = float64(parallelPods) / time.Since(t0).Seconds()
	r.cpu = cpuNow(t, criPid, dockerdPid).perPod(cpu0, parallelPods)
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range teardowns {
		if err := td(); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// percentile is the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	idx := (p*len(s)+99)/100 - 1
	return s[max(idx, 0)]
}

func printStartup(ours, noCNI, floor startupResult) {
	fmt.Printf("\nPod start-up (RunPodSandbox + CreateContainer + StartContainer), %d pods one after the other, and\n", sequentialPods)
	fmt.Printf("%d more, %d at once; the Docker floor: pause on Docker's none network + one container in its\n", parallelPods, parallelism)
	fmt.Printf("namespaces, straight on Docker's API. Ratios are to the floor.\n\n")
	fmt.Printf("%-22s %12s %12s %12s %10s %10s\n", "", "dockercri", "no CNI", "Docker floor", "ratio", "no CNI")
	row := func(name string, a, b, c time.Duration) {
		fmt.Printf("%-22s %12s %12s %12s %9.2fx %9.2fx\n", name, a.Round(100*time.Microsecond), b.Round(100*time.Microsecond), c.Round(100*time.Microsecond), float64(a)/float64(c), float64(b)/float64(c))
	}
	for _, p := range []int{50, 90, 99} {
		row(fmt.Sprintf("start-up p%d", p), percentile(ours.start, p), percentile(noCNI.start, p), percentile(floor.start, p))
	}
	row("stop + remove p50", percentile(ours.teardown, 50), percentile(noCNI.teardown, 50), percentile(floor.teardown, 50))
	fmt.Printf("%-22s %12.1f %12.1f %12.1f %9.2fx %9.2fx\n", fmt.Sprintf("pods/s, %d at once", parallelism), ours.podsPerSecond, noCNI.podsPerSecond, floor.podsPerSecond, ours.podsPerSecond/floor.podsPerSecond, noCNI.podsPerSecond/floor.podsPerSecond)
	fmt.Printf("\n(CNI: bridge + host-local + firewall + portmap + loopback from Debian's plugins, each an exec per ADD and DEL.)\n")
}

// printStartupCPU says where the CPU of a pod start went while 8 started at once: with
// both CPUs busy, CPU per pod is what bounds pods per second.
func printStartupCPU(ours, noCNI, floor startupResult) {
	fmt.Printf("\nCPU per pod started, %d at once (ms; the machine's busy time over the pods started):\n\n", parallelism)
	fmt.Printf("%-14s %10s %12s %10s %10s %10s %16s\n", "", "dockercri", "CNI plugins", "dockerd", "the rest", "total", "dockercri share")
	row := func(name string, c startCPU) {
		rest := c.total - c.dockercri - c.plugins - c.dockerd
		fmt.Printf("%-14s %10s %12s %10s %10s %10s %15.1f%%\n", name, perMS(c.dockercri), perMS(c.plugins), perMS(c.dockerd), perMS(rest), perMS(c.total), 100*float64(c.dockercri)/float64(c.total))
	}
	row("dockercri", ours.cpu)
	row("no CNI", noCNI.cpu)
	row("Docker floor", floor.cpu)
	fmt.Printf("\n(the rest: containerd, its shims and runc, the kernel's work for them, the bench's client; CPU\n")
	fmt.Printf("times from /proc in clock ticks. Bound by CPU, dockercri's pods/s would be the floor's times\n")
	fmt.Printf("the floor's total over dockercri's: %.2fx with CNI, %.2fx without; measured %.2fx and %.2fx.)\n",
		float64(floor.cpu.total)/float64(ours.cpu.total), float64(floor.cpu.total)/float64(noCNI.cpu.total),
		ours.podsPerSecond/floor.podsPerSecond, noCNI.podsPerSecond/floor.podsPerSecond)
}
