//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// faultPod is the pod of one fault round, and its container.
type faultPod struct {
	cfg       *runtimeapi.PodSandboxConfig
	container *runtimeapi.ContainerConfig
}

// newFaultPod is a pod with a hostPort (so that portmap has rules to leave) and a
// container that dies at once when stopped, dockerd's shutdown included.
func newFaultPod(t *testing.T, name, image string) faultPod {
	cfg := env.SandboxConfig(t, name)
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: int32(mustFreePort(t))}}
	c := framework.ContainerConfig("c", image, "exec sleep 3600")
	c.StopSignal = runtimeapi.Signal_SIGNAL_SIGKILL
	return faultPod{cfg: cfg, container: c}
}

// removePods stops and removes every sandbox of the pods, as the kubelet does with
// the pods it finds after a restart, and returns their ids.
func removePods(t *testing.T, rt internalapi.RuntimeService, uids ...string) []string {
	t.Helper()
	var all []string
	for _, uid := range uids {
		for _, id := range podSandboxes(t, rt, uid) {
			if err := rt.StopPodSandbox(ctx(t), id); err != nil {
				t.Fatalf("stop sandbox %s: %v", id[:12], err)
			}
			if err := rt.RemovePodSandbox(ctx(t), id); err != nil {
				t.Fatalf("remove sandbox %s: %v", id[:12], err)
			}
			all = append(all, id)
		}
	}
	return all
}

// faultWorker is a dockercri on a network of its own, with Docker behind a gate and
// two test plugins in the CNI chain (after bridge, after portmap) that can hold an ADD.
type faultWorker struct {
	n           *framework.CNINetwork
	early, late *framework.TestPlugin
	gate        *framework.DockerGate
	d           *framework.Dockercri
	image       string
}

func newFaultWorker(t *testing.T) *faultWorker {
	w := &faultWorker{n: env.NewCNINetwork(t)}
	w.early = w.n.AddTestPlugin(t, "bridge")
	w.late = w.n.AddTestPlugin(t, "portmap")
	w.n.Write(t)
	gate, err := framework.StartDockerGate(env.TempDir(t, "gate"), env.Docker.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gate.Close)
	w.gate = gate
	w.d = env.StartDockercri(t, append(w.n.Args(), "--docker-endpoint", gate.Endpoint)...)
	w.image = pullBusybox(t, w.d.Images(t))
	return w
}

// killPoint is a step of a CRI call at which a round kills dockercri.
type killPoint struct {
	name string
	// call is the CRI call killed: "run", "create" or "start".
	call string
	// arm makes the step hold when reached; the channel closes then.
	arm func(t *testing.T, w *faultWorker) <-chan struct{}
}

func gateAt(method, path string, after bool) func(*testing.T, *faultWorker) <-chan struct{} {
	return func(_ *testing.T, w *faultWorker) <-chan struct{} { return w.gate.Hold(method, path, after) }
}

func pluginAt(which func(*faultWorker) *framework.TestPlugin) func(*testing.T, *faultWorker) <-chan struct{} {
	return func(t *testing.T, w *faultWorker) <-chan struct{} {
		p := which(w)
		p.Hold(t, "ADD")
		reached := make(chan struct{})
		go func() {
			_ = framework.WaitFor(2*time.Minute, func() error {
				if p.Held("ADD") == 0 {
					return errors.New("not yet")
				}
				return nil
			})
			close(reached)
		}()
		return reached
	}
}

// killPoints spread over the Docker and CNI steps of RunPodSandbox, CreateContainer
// and StartContainer: each Docker step before Docker got it and after Docker did it
// (its answer not yet back), and the CNI chain part-way and near its end.
var killPoints = []killPoint{
	{"sandbox create, before Docker", "run", gateAt("POST", `^/containers/create$`, false)},
	{"sandbox create, after Docker", "run", gateAt("POST", `^/containers/create$`, true)},
	{"sandbox start, before Docker", "run", gateAt("POST", `^/containers/[0-9a-f]+/start$`, false)},
	{"sandbox start, after Docker", "run", gateAt("POST", `^/containers/[0-9a-f]+/start$`, true)},
	{"CNI ADD after bridge", "run", pluginAt(func(w *faultWorker) *framework.TestPlugin { return w.early })},
	{"CNI ADD after portmap", "run", pluginAt(func(w *faultWorker) *framework.TestPlugin { return w.late })},
	{"container create, before Docker", "create", gateAt("POST", `^/containers/create$`, false)},
	{"container create, after Docker", "create", gateAt("POST", `^/containers/create$`, true)},
	{"container start, before Docker", "start", gateAt("POST", `^/containers/[0-9a-f]+/start$`, false)},
	{"container start, after Docker", "start", gateAt("POST", `^/containers/[0-9a-f]+/start$`, true)},
}

// round runs a pod up to kill point p, kills dockercri there with -9, restarts it,
// removes the pod as the kubelet would, and checks that nothing is left.
func (w *faultWorker) round(t *testing.T, i int, p killPoint) {
	t.Helper()
	rt := w.d.Runtime(t)
	pod := newFaultPod(t, fmt.Sprintf("fault%d", i), w.image)
	var sandboxID, containerID string
	var err error
	if p.call != "run" {
		if sandboxID, err = rt.RunPodSandbox(ctx(t), pod.cfg, ""); err != nil {
			t.Fatalf("round %d (%s): RunPodSandbox: %v", i, p.name, err)
		}
	}
	if p.call == "start" {
		if containerID, err = rt.CreateContainer(ctx(t), sandboxID, pod.container, pod.cfg); err != nil {
			t.Fatalf("round %d (%s): CreateContainer: %v", i, p.name, err)
		}
	}
	reached := p.arm(t, w)
	done := make(chan error, 1)
	go func() {
		var err error
		switch p.call {
		case "run":
			_, err = rt.RunPodSandbox(ctx(t), pod.cfg, "")
		case "create":
			_, err = rt.CreateContainer(ctx(t), sandboxID, pod.container, pod.cfg)
		case "start":
			err = rt.StartContainer(ctx(t), containerID)
		}
		done <- err
	}()
	select {
	case <-reached:
	case err := <-done:
		t.Fatalf("round %d (%s): the call ended (%v) before its kill point", i, p.name, err)
	}
	w.d.Process().Kill()
	<-done
	if err := w.d.Start(); err != nil {
		t.Fatalf("round %d (%s): restart: %v", i, p.name, err)
	}
	ids := removePods(t, w.d.Runtime(t), pod.cfg.Metadata.Uid)
	checkNothingLeft(t, w.n, w.d, leftovers{sandboxes: ids, uids: []string{pod.cfg.Metadata.Uid}})
	if t.Failed() {
		t.Fatalf("round %d (%s) left the above", i, p.name)
	}
}

// faultRounds is how many rounds the kill -9 suite runs, spread over its workers.
const faultRounds, faultWorkers = 33, 3

// kill -9 of dockercri at each step of RunPodSandbox, CreateContainer and
// StartContainer, over and over (each point at least three times), then a restart and
// the pod's removal, leave nothing: no container, IP allocation, veth, iptables rule,
// network namespace, CNI cache entry, checkpoint or temporary file.
func TestKill9AtEveryStepLeavesNothing(t *testing.T) {
	t.Parallel()
	for k := range faultWorkers {
		t.Run(fmt.Sprintf("worker%d", k), func(t *testing.T) {
			t.Parallel()
			w := newFaultWorker(t)
			n := 0
			for i := k; i < faultRounds; i += faultWorkers {
				w.round(t, i, killPoints[i%len(killPoints)])
				n++
			}
			t.Logf("%d rounds, each killed dockercri and left nothing", n)
		})
	}
}

// Two restarts of dockerd under a loop of pods created and removed leave nothing
// behind, and every error the loop met was Unavailable or DeadlineExceeded: Docker
// went away, and that is all a call may say.
func TestDockerdRestartsUnderLoadLeaveNothing(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "dcri-r-") // short: dockerd's sockets live below it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dockerd, err := framework.StartPrivateDockerd(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dockerd.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			t.Logf("dockerd log:\n%s", framework.Tail(string(b), 80))
		}
	})
	n := env.NewCNINetwork(t)
	n.Write(t)
	d := env.StartDockercri(t, append(n.Args(), "--docker-endpoint", dockerd.Endpoint)...)
	rt := d.Runtime(t)
	image := pullBusybox(t, d.Images(t))

	var (
		mu     sync.Mutex
		errs   []error
		uids   []string
		rounds int
	)
	note := func(call string, err error) bool {
		if err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w", call, err))
			mu.Unlock()
		}
		return err == nil
	}
	stop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pod := newFaultPod(t, fmt.Sprintf("restart%d", i), image)
			mu.Lock()
			uids = append(uids, pod.cfg.Metadata.Uid)
			mu.Unlock()
			id, err := rt.RunPodSandbox(ctx(t), pod.cfg, "")
			if note("RunPodSandbox", err) {
				cid, err := rt.CreateContainer(ctx(t), id, pod.container, pod.cfg)
				if note("CreateContainer", err) {
					note("StartContainer", rt.StartContainer(ctx(t), cid))
				}
			}
			// The kubelet stops and removes the pod, trying again until it can.
			_ = framework.WaitFor(2*time.Minute, func() error {
				sbs, err := rt.ListPodSandbox(ctx(t), &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": pod.cfg.Metadata.Uid}})
				if !note("ListPodSandbox", err) {
					return err
				}
				for _, sb := range sbs {
					if err := rt.StopPodSandbox(ctx(t), sb.Id); !note("StopPodSandbox", err) {
						return err
					}
					if err := rt.RemovePodSandbox(ctx(t), sb.Id); !note("RemovePodSandbox", err) {
						return err
					}
				}
				return nil
			})
			mu.Lock()
			rounds++
			mu.Unlock()
		}
	}()
	waitRounds := func(k int) {
		t.Helper()
		mu.Lock()
		target := rounds + k
		mu.Unlock()
		if err := framework.WaitFor(3*time.Minute, func() error {
			mu.Lock()
			defer mu.Unlock()
			if rounds < target {
				return fmt.Errorf("%d rounds of %d", rounds, target)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		waitRounds(2)
		if err := dockerd.Stop(); err != nil {
			t.Logf("dockerd stop: %v", err)
		}
		if err := dockerd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	waitRounds(2)
	close(stop)
	<-loopDone

	mu.Lock()
	defer mu.Unlock()
	for _, err := range errs {
		if c := statusCode(errors.Unwrap(err)); c != codes.Unavailable && c != codes.DeadlineExceeded {
			t.Errorf("an error of the loop was %s, not Unavailable or DeadlineExceeded: %v", c, err)
		}
	}
	ids := removePods(t, rt, uids...)
	// A failed RunPodSandbox whose removal Docker's going away cut short leaves its
	// checkpoint to the sweep, which runs once the view has listed Docker again.
	if err := framework.WaitFor(30*time.Second, func() error {
		if files, _ := filepath.Glob(filepath.Join(d.Dir, "state", "sandbox", "*")); len(files) != 0 {
			return fmt.Errorf("checkpoints %v", files)
		}
		return nil
	}); err != nil {
		t.Errorf("the sweep: %v", err)
	}
	checkNothingLeft(t, n, d, leftovers{sandboxes: ids, uids: uids, docker: dockerd})
	t.Logf("%d rounds, %d errors", rounds, len(errs))
}
