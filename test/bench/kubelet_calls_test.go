//go:build bench

package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// The kubelet's calls at 50 pods, at the rates make e2e-kubelet counts (a minute of a
// quiet node, stats from CRI), made by goroutines of their own, each on its ticker.
// On a VM most of what a call costs is waking up for it, not answering it, so the
// floor is a gRPC server of the same library and settings that answers each call with
// the bytes dockercri answered it with (recorded first), doing nothing else: what any
// Go CRI server pays for the same calls on this machine. The two are measured in turn,
// window by window, so that a slower spell of the machine falls on both.
var kubeletCalls = []struct {
	method string
	every  time.Duration
	// call makes it through rt; i picks the container.
	call func(ctx context.Context, rt runtimeapi.RuntimeServiceClient, pods []runningPod, i int) (proto.Message, error)
}{
	{"Version", 250 * time.Millisecond, func(ctx context.Context, rt runtimeapi.RuntimeServiceClient, _ []runningPod, _ int) (proto.Message, error) {
		return rt.Version(ctx, &runtimeapi.VersionRequest{})
	}},
	{"ContainerStatus", 196 * time.Millisecond, func(ctx context.Context, rt runtimeapi.RuntimeServiceClient, pods []runningPod, i int) (proto.Message, error) {
		return rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: pods[i%len(pods)].container})
	}},
	{"ListContainers", 578 * time.Millisecond, func(ctx context.Context, rt runtimeapi.RuntimeServiceClient, _ []runningPod, _ int) (proto.Message, error) {
		return rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	}},
	{"ListPodSandbox", 617 * time.Millisecond, func(ctx context.Context, rt runtimeapi.RuntimeServiceClient, _ []runningPod, _ int) (proto.Message, error) {
		return rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	}},
	{"Status", 5 * time.Second, func(ctx context.Context, rt runtimeapi.RuntimeServiceClient, _ []runningPod, _ int) (proto.Message, error) {
		return rt.Status(ctx, &runtimeapi.StatusRequest{})
	}},
	{"ListPodSandboxStats", 10 * time.Second, func(ctx context.Context, rt runtimeapi.RuntimeServiceClient, _ []runningPod, _ int) (proto.Message, error) {
		return rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
	}},
}

// replaySocketEnv makes the test binary a replaying server (TestMain) on that socket,
// with the answers in the directory replayDirEnv names, one file per method.
const (
	replaySocketEnv = "DOCKERCRI_BENCH_REPLAY_SOCKET"
	replayDirEnv    = "DOCKERCRI_BENCH_REPLAY_DIR"
)

func TestMain(m *testing.M) {
	if sock := os.Getenv(replaySocketEnv); sock != "" {
		if err := serveReplay(sock, os.Getenv(replayDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// rawCodec passes messages through as their bytes: the replaying server neither
// decodes the requests nor encodes the answers.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// serveReplay answers every call of a method with the bytes recorded for it.
func serveReplay(sock, dir string) error {
	answers := map[string][]byte{}
	for _, c := range kubeletCalls {
		b, err := os.ReadFile(filepath.Join(dir, c.method))
		if err != nil {
			return err
		}
		answers["/runtime.v1.RuntimeService/"+c.method] = b
	}
	lis, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{}),
		grpc.StaticStreamWindowSize(1<<20), grpc.StaticConnWindowSize(1<<20), // as dockercri's
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			method, _ := grpc.MethodFromServerStream(stream)
			var req []byte
			if err := stream.RecvMsg(&req); err != nil {
				return err
			}
			answer := answers[method]
			return stream.SendMsg(&answer)
		}))
	return srv.Serve(lis)
}

func (b *bench) kubeletCalls(t *testing.T, pods []runningPod) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, c := range kubeletCalls {
		resp, err := c.call(ctx, b.rt, pods, 0)
		if err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		wire, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.method), wire, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	floor, sock := startReplay(t, dir)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	type side struct {
		name string
		pid  int
		rt   runtimeapi.RuntimeServiceClient
		cpu  time.Duration
	}
	sides := []*side{
		{name: "dockercri", pid: b.cri.Process().Pid(), rt: b.rt},
		{name: "floor", pid: floor.Pid(), rt: runtimeapi.NewRuntimeServiceClient(conn)},
	}
	if _, err := sides[1].rt.Version(ctx, &runtimeapi.VersionRequest{}); err != nil {
		t.Fatalf("replaying server: %v", err)
	}
	const rounds, each = 4, 15 * time.Second
	calls := 0
	for range rounds {
		for _, s := range sides {
			start := framework.RunTimeOf(t, s.pid)
			n, err := drive(ctx, s.rt, pods, each)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			s.cpu += framework.RunTimeOf(t, s.pid) - start
			calls += n
		}
	}
	perS := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / (rounds * each).Seconds() }
	ours, theirs := perS(sides[0].cpu), perS(sides[1].cpu)
	fmt.Printf("\nThe kubelet's calls with %d running pods (%.1f a second: %s), CPU from schedstat:\n", len(pods), float64(calls)/2/(rounds*each).Seconds(), callRates())
	fmt.Printf("dockercri %.2f ms/s; floor (a gRPC server replaying dockercri's answers) %.2f ms/s; %.2fx the floor\n", ours, theirs, ours/theirs)
}

// drive makes kubeletCalls through rt for d and returns how many it made.
func drive(ctx context.Context, rt runtimeapi.RuntimeServiceClient, pods []runningPod, d time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var n int
	var first error
	for _, c := range kubeletCalls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(c.every)
			defer tick.Stop()
			for i := 0; ; i++ {
				_, err := c.call(context.WithoutCancel(ctx), rt, pods, i)
				mu.Lock()
				n++
				if err != nil && first == nil {
					first = fmt.Errorf("%s: %w", c.method, err)
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	wg.Wait()
	return n, first
}

func callRates() string {
	var parts []string
	for _, c := range kubeletCalls {
		parts = append(parts, fmt.Sprintf("%s %.1f", c.method, 1/c.every.Seconds()))
	}
	return strings.Join(parts, ", ")
}

// startReplay runs the replaying server, with dockercri's Go settings (GOMAXPROCS a
// quarter of the CPUs, GOGC 50), and waits for its socket.
func startReplay(t *testing.T, dir string) (*framework.Process, string) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "replay.sock")
	p, err := framework.StartProcessWith("replaying server", filepath.Join(dir, "replay.log"),
		[]string{replaySocketEnv + "=" + sock, replayDirEnv + "=" + dir, fmt.Sprintf("GOMAXPROCS=%d", max(1, runtime.NumCPU()/4)), "GOGC=50"},
		nil, self)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if err := framework.WaitFor(30*time.Second, func() error {
		if p.Exited() {
			return fmt.Errorf("replaying server exited: %s", p.Log())
		}
		_, err := os.Stat(sock)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return p, sock
}
