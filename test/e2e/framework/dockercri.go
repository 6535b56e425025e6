package framework

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"
)

// Dockercri is a dockercri process the test started, on its own socket and state dir.
type Dockercri struct {
	Dir      string
	Socket   string
	Endpoint string
	Args     []string
	proc     *Process
	binary   string
	// raw is the one plain gRPC connection Raw's clients share, so that tests polling
	// through it do not add a connection (and dockercri a descriptor) per call.
	rawOnce sync.Once
	raw     *grpc.ClientConn
	rawErr  error
}

// BuildDockercri builds the dockercri binary into dir, unless DOCKERCRI_BIN names one.
func BuildDockercri(root, dir string) (string, error) {
	if bin := os.Getenv("DOCKERCRI_BIN"); bin != "" {
		return filepath.Abs(bin)
	}
	bin := filepath.Join(dir, "dockercri")
	cmd := exec.Command("go", "build", "-tags", "grpcnotrace", "-o", bin, "./cmd/dockercri")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// NewDockercri prepares a dockercri with the tests' defaults (the env's Docker, no
// CNI, a socket and state dir in a fresh directory); args come after them and so win.
func (e *Env) NewDockercri(t testing.TB, args ...string) *Dockercri {
	t.Helper()
	dir := e.TempDir(t, "cri")
	d := &Dockercri{Dir: dir, Socket: filepath.Join(dir, "dockercri.sock"), binary: e.Binary}
	d.Endpoint = "unix://" + d.Socket
	d.Args = append([]string{
		"--container-runtime-endpoint", d.Endpoint,
		"--root-directory", filepath.Join(dir, "state"),
		"--docker-endpoint", e.Docker.Endpoint,
		"--network-plugin=",
		"--pod-infra-container-image", e.PauseImage,
	}, args...)
	t.Cleanup(func() {
		if d.raw != nil {
			d.raw.Close()
		}
		if d.proc == nil {
			return
		}
		if err := d.proc.Stop(20 * time.Second); err != nil {
			t.Errorf("dockercri did not exit cleanly on SIGTERM: %v", err)
		}
		if t.Failed() {
			t.Logf("dockercri log:\n%s", Tail(d.proc.Log(), 60))
		}
	})
	return d
}

// StartDockercri starts a dockercri and waits until it serves.
func (e *Env) StartDockercri(t testing.TB, args ...string) *Dockercri {
	t.Helper()
	d := e.NewDockercri(t, args...)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	return d
}

// Start starts the process and waits until its socket answers.
func (d *Dockercri) Start() error {
	return d.start(nil, nil, append([]string{d.binary}, d.Args...))
}

// StartActivated starts dockercri the way systemd does for a socket unit: listener as
// fd 3 with LISTEN_FDS and LISTEN_PID (set by a shell that then execs dockercri, as the
// pid must be dockercri's), and NOTIFY_SOCKET for its readiness.
func (d *Dockercri) StartActivated(listener *os.File, notifySocket string) error {
	argv := append([]string{"sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, d.binary}, d.Args...)
	return d.start([]string{"LISTEN_FDS=1", "NOTIFY_SOCKET=" + notifySocket}, []*os.File{listener}, argv)
}

func (d *Dockercri) start(env []string, files []*os.File, argv []string) error {
	proc, err := StartProcessWith("dockercri", filepath.Join(d.Dir, "dockercri.log"), env, files, argv...)
	if err != nil {
		return err
	}
	d.proc = proc
	return WaitFor(20*time.Second, func() error {
		if proc.Exited() {
			return fmt.Errorf("dockercri exited: %v\n%s", proc.Wait(0), Tail(proc.Log(), 30))
		}
		conn, err := net.Dial("unix", d.Socket)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// Process is the running dockercri.
func (d *Dockercri) Process() *Process { return d.proc }

// Log is what dockercri logged so far.
func (d *Dockercri) Log() string { return d.proc.Log() }

// Runtime is the kubelet's own CRI client for dockercri's RuntimeService.
func (d *Dockercri) Runtime(t testing.TB) internalapi.RuntimeService {
	t.Helper()
	svc, err := remote.NewRemoteRuntimeServiceBuilder().WithEndpoint(d.Endpoint).
		WithConnectionTimeout(2 * time.Minute).WithTracerProvider(nil).Build(context.Background())
	if err != nil {
		t.Fatalf("CRI runtime client: %v", err)
	}
	return svc
}

// Images is the kubelet's own CRI client for dockercri's ImageService.
func (d *Dockercri) Images(t testing.TB) internalapi.ImageManagerService {
	t.Helper()
	svc, err := remote.NewRemoteImageServiceBuilder().WithEndpoint(d.Endpoint).
		WithConnectionTimeout(2 * time.Minute).WithTracerProvider(nil).Build(context.Background())
	if err != nil {
		t.Fatalf("CRI image client: %v", err)
	}
	return svc
}

// Raw is a plain gRPC client, for calls the kubelet's client would refuse to connect for
// (it checks Version first) or would reshape.
func (d *Dockercri) Raw(t testing.TB) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	t.Helper()
	d.rawOnce.Do(func() {
		d.raw, d.rawErr = grpc.NewClient("unix://"+d.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	})
	if d.rawErr != nil {
		t.Fatal(d.rawErr)
	}
	return runtimeapi.NewRuntimeServiceClient(d.raw), runtimeapi.NewImageServiceClient(d.raw)
}

// SandboxIDs are the ids, sorted, of the sandboxes d lists with filter.
func (d *Dockercri) SandboxIDs(t testing.TB, filter *runtimeapi.PodSandboxFilter) []string {
	t.Helper()
	pods, err := d.Runtime(t).ListPodSandbox(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(pods))
	for _, p := range pods {
		ids = append(ids, p.Id)
	}
	slices.Sort(ids)
	return ids
}

// RunCommand runs the dockercri binary with args to its end and returns its output.
func (e *Env) RunCommand(args ...string) (string, error) {
	out, err := exec.Command(e.Binary, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
