//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// The metrics endpoint serves every family, and each moves with what it measures: CRI
// calls and their errors, Docker requests, CNI ADD/DEL, the view's size, event-stream
// reconnects and log bytes. Slow calls are logged with their pod; pprof is there when
// asked for.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Docker's API through a proxy the test can cut, to break the event stream.
	proxy, err := framework.StartCutProxy(env.Docker.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	n := env.NewCNINetwork(t)
	n.Write(t)
	d := env.StartDockercri(t, append(n.Args(), "--docker-endpoint", "tcp://"+proxy.Addr,
		"--metrics-bind-addr", addr, "--enable-pprof", "--slow-call-threshold", "1ms")...)
	rt := d.Runtime(t)
	before := framework.ScrapeMetrics(t, addr)
	for _, fam := range []string{"dockercri_cri_request_duration_seconds", "dockercri_docker_request_duration_seconds",
		"dockercri_view_containers", "dockercri_docker_event_stream_reconnects_total", "dockercri_container_log_bytes_total",
		"process_resident_memory_bytes", "go_goroutines"} {
		if before[fam] == nil {
			t.Errorf("no %s family at start", fam)
		}
	}

	ref := pullBusybox(t, d.Images(t))
	cfg := env.SandboxConfig(t, "metrics")
	p := runPod(t, rt, cfg)
	const lines = 2000
	c := framework.ContainerConfig("talk", ref, fmt.Sprintf("seq 1 %d; exec sleep 3600", lines))
	p.start(t, c)
	if err := framework.WaitFor(30*time.Second, func() error {
		b, _ := os.ReadFile(p.logPath(c))
		if !strings.Contains(string(b), fmt.Sprintf(" %d\n", lines)) {
			return fmt.Errorf("log not complete")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ContainerStatus(ctx(t), "no-such-container", false); err == nil {
		t.Fatal("ContainerStatus of a missing container succeeded")
	}
	running := framework.ScrapeMetrics(t, addr)
	// The view holds every pod container of the Docker the tests share, other tests'
	// too: its size is checked against the lists served from it, at a moment they agree.
	if err := framework.WaitFor(20*time.Second, func() error {
		sbs, err := rt.ListPodSandbox(ctx(t), nil)
		if err != nil {
			return err
		}
		cs, err := rt.ListContainers(ctx(t), nil)
		if err != nil {
			return err
		}
		n := framework.ScrapeMetrics(t, addr).Value("dockercri_view_containers", nil)
		if int(n) != len(sbs)+len(cs) || n < 2 {
			return fmt.Errorf("dockercri_view_containers %v; the lists hold %d sandboxes and %d containers", n, len(sbs), len(cs))
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if err := rt.StopPodSandbox(ctx(t), p.id); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	var after framework.Metrics
	if err := framework.WaitFor(20*time.Second, func() error {
		after = framework.ScrapeMetrics(t, addr)
		if after.Value("dockercri_docker_event_stream_reconnects_total", nil) < 1 {
			return fmt.Errorf("no event stream reconnect counted after the cut")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	grew := func(s framework.Metrics, family string, labels map[string]string, atLeast float64) {
		t.Helper()
		if got := s.Value(family, labels) - max(before.Value(family, labels), 0); got < atLeast {
			t.Errorf("%s%v grew by %v, want at least %v", family, labels, got, atLeast)
		}
	}
	grew(after, "dockercri_cri_request_duration_seconds", map[string]string{"method": "RunPodSandbox"}, 1)
	grew(after, "dockercri_cri_request_duration_seconds", map[string]string{"method": "StartContainer"}, 1)
	grew(after, "dockercri_cri_request_errors_total", map[string]string{"method": "ContainerStatus", "code": "NotFound"}, 1)
	grew(after, "dockercri_docker_request_duration_seconds", map[string]string{"operation": "POST /containers/create"}, 2)
	grew(after, "dockercri_docker_request_duration_seconds", map[string]string{"operation": "POST /containers/{id}/start"}, 2)
	grew(after, "dockercri_cni_operation_duration_seconds", map[string]string{"operation": "ADD", "result": "ok"}, 1)
	grew(after, "dockercri_cni_operation_duration_seconds", map[string]string{"operation": "DEL", "result": "ok"}, 1)
	// seq prints 1..2000: 8893 bytes of output, more with the CRI record headers.
	grew(running, "dockercri_container_log_bytes_total", nil, 8893)

	if log := d.Log(); !strings.Contains(log, `"Slow CRI call" method="RunPodSandbox"`) || !strings.Contains(log, fmt.Sprintf(`pod="%s/%s"`, cfg.Metadata.Namespace, cfg.Metadata.Name)) {
		t.Errorf("no slow-call line naming the pod in the log:\n%s", log)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "goroutine profile") {
		t.Errorf("pprof: %s %.200s", resp.Status, b)
	}
}
