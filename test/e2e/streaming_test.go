//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"k8s.io/client-go/tools/remotecommand"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/internal/testutil"
	"github.com/dockercri/dockercri/test/e2e/framework"
)

// streamPod is a pod with a sleeping busybox container for the streaming tests.
type streamPod struct {
	*secPod
	cid string
}

func newStreamPod(t *testing.T, name string) *streamPod {
	t.Helper()
	p := newSecPod(t, name)
	return &streamPod{secPod: p, cid: p.run(t, "main", nil, nil)}
}

// execURL asks dockercri for an exec URL, as the kubelet does.
func (p *streamPod) execURL(t *testing.T, cmd []string, stdin, tty bool) string {
	t.Helper()
	resp, err := p.rt.Exec(ctx(t), &runtimeapi.ExecRequest{ContainerId: p.cid, Cmd: cmd, Stdin: stdin, Stdout: true, Stderr: !tty, Tty: tty})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	return resp.GetUrl()
}

// Exec over SPDY and WebSocket: separate stdout and stderr, exit codes (also of a
// missing command), stdin through cat ending with the client's stdin, a tty with the
// client's terminal size.
func TestExecStreams(t *testing.T) {
	t.Parallel()
	p := newStreamPod(t, "exec")
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := executor(t, proto, p.execURL(t, []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, false, false)).
				StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: &out, Stderr: &errb})
			if exitCode(err) != 7 || out.String() != "out\n" || errb.String() != "err\n" {
				t.Errorf("exec: exit %d (%v), stdout %q, stderr %q", exitCode(err), err, out.String(), errb.String())
			}

			// Over SPDY the client closing stdin ends cat's; WebSocket v4 cannot say that
			// stdin ended (v5 added it), so there the command stops after one line.
			echo := []string{"cat"}
			if proto == "websocket" {
				echo = []string{"head", "-n", "1"}
			}
			var echoed bytes.Buffer
			err = executor(t, proto, p.execURL(t, echo, true, false)).
				StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdin: strings.NewReader("echo through cat\n"), Stdout: &echoed, Stderr: io.Discard})
			if err != nil || echoed.String() != "echo through cat\n" {
				t.Errorf("stdin through %s: %q, %v", echo[0], echoed.String(), err)
			}

			out.Reset()
			script := `for i in $(seq 50); do s=$(stty size); [ "$s" = "45 123" ] && break; sleep 0.1; done; echo "size $s"`
			err = executor(t, proto, p.execURL(t, []string{"sh", "-c", script}, false, true)).
				StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: &out, Tty: true, TerminalSizeQueue: &fixedSize{size: &remotecommand.TerminalSize{Width: 123, Height: 45}}})
			if err != nil || !strings.Contains(out.String(), "size 45 123") {
				t.Errorf("tty with resize: %q, %v", out.String(), err)
			}

			err = executor(t, proto, p.execURL(t, []string{"no-such-command"}, false, false)).
				StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
			if c := exitCode(err); c != 126 && c != 127 {
				t.Errorf("missing command: %v (exit %d), want exit 126 or 127", err, c)
			}
		})
	}
	_, err := p.rt.Exec(ctx(t), &runtimeapi.ExecRequest{ContainerId: "0123456789ab", Cmd: []string{"true"}, Stdout: true})
	wantCode(t, err, codes.NotFound, "Exec in a missing container")
}

// Attach to a container running cat, tty or not, two clients at once: what one types,
// both read.
func TestAttach(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "attach")
	for _, tty := range []bool{false, true} {
		c := framework.ContainerConfig(fmt.Sprintf("cat-tty-%v", tty), p.ref, "")
		c.Command = []string{"cat"}
		c.Stdin, c.Tty = true, tty
		id := p.start(t, c)
		for _, proto := range protocols {
			t.Run(fmt.Sprintf("%s-tty-%v", proto, tty), func(t *testing.T) {
				attach := func(stdin io.Reader, out io.Writer) (context.CancelFunc, chan error) {
					resp, err := p.rt.Attach(ctx(t), &runtimeapi.AttachRequest{ContainerId: id, Stdin: stdin != nil, Stdout: true, Stderr: !tty, Tty: tty})
					if err != nil {
						t.Fatalf("Attach: %v", err)
					}
					cctx, cancel := context.WithCancel(context.Background())
					done := make(chan error, 1)
					go func() {
						opts := remotecommand.StreamOptions{Stdin: stdin, Stdout: out, Tty: tty}
						if !tty {
							opts.Stderr = io.Discard
						}
						done <- executor(t, proto, resp.GetUrl()).StreamWithContext(cctx, opts)
					}()
					return cancel, done
				}
				word := "hello-" + proto
				var watcher testutil.SyncBuffer
				cancelW, doneW := attach(nil, &watcher)
				defer func() { cancelW(); <-doneW }()
				time.Sleep(300 * time.Millisecond) // the watcher is attached before the typing starts
				pr, pw := io.Pipe()
				var typist testutil.SyncBuffer
				cancelT, doneT := attach(pr, &typist)
				defer func() { cancelT(); pw.Close(); <-doneT }()
				if _, err := pw.Write([]byte(word + "\n")); err != nil {
					t.Fatal(err)
				}
				if err := framework.WaitFor(10*time.Second, func() error {
					if !strings.Contains(typist.String(), word) || !strings.Contains(watcher.String(), word) {
						return fmt.Errorf("typist read %q, watcher %q", typist.String(), watcher.String())
					}
					return nil
				}); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// Port-forward a 10 MB download from a pod's HTTP server over SPDY and WebSocket, two
// forwards at once, the bytes compared; a host-network pod too.
func TestPortForward(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "pf")
	c := framework.ContainerConfig("web", p.ref, `mkdir -p /www && head -c 10485760 /dev/urandom > /www/big && sha256sum /www/big > /www/sum && exec httpd -f -p 8080 -h /www`)
	p.start(t, c)
	var want string
	if err := framework.WaitFor(30*time.Second, func() error {
		out, err := execSync(t, p.d, p.cidOf(t, "web"), []string{"cat", "/www/sum"}, 10*time.Second)
		if err != nil || out.ExitCode != 0 || len(strings.Fields(string(out.Stdout))) == 0 {
			return fmt.Errorf("sum not ready: %v", err)
		}
		want = strings.Fields(string(out.Stdout))[0]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, proto := range protocols {
		for i := range 2 {
			wg.Go(func() {
				resp, err := p.rt.PortForward(ctx(t), &runtimeapi.PortForwardRequest{PodSandboxId: p.id, Port: []int32{8080}})
				if err != nil {
					t.Errorf("PortForward: %v", err)
					return
				}
				var got string
				if proto == "spdy" {
					local, stop := forwarder(t, proto, resp.GetUrl(), 8080)
					defer stop()
					got = download(t, fmt.Sprintf("http://127.0.0.1:%d/big", local))
				} else {
					got = bodySum(t, wsPortForward(t, resp.GetUrl(), 8080, "GET /big HTTP/1.0\r\n\r\n"))
				}
				if got != want {
					t.Errorf("%s forward %d: sha256 %s, want %s", proto, i, got, want)
				}
			})
		}
	}
	wg.Wait()
}

// Port-forward reaches a host-network pod's port on the node's loopback.
func TestPortForwardHostNetwork(t *testing.T) {
	t.Parallel()
	d := env.StartDockercri(t)
	rt := d.Runtime(t)
	cfg := env.SandboxConfig(t, "pfhost")
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	p := runPod(t, rt, cfg)
	port := mustFreePort(t)
	c := framework.ContainerConfig("web", pullBusybox(t, d.Images(t)), fmt.Sprintf(`mkdir -p /www && echo host-pod > /www/index.html && exec httpd -f -p 127.0.0.1:%d -h /www`, port))
	c.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	p.start(t, c)
	resp, err := rt.PortForward(ctx(t), &runtimeapi.PortForwardRequest{PodSandboxId: p.id, Port: []int32{int32(port)}})
	if err != nil {
		t.Fatal(err)
	}
	local, stop := forwarder(t, "spdy", resp.GetUrl(), port)
	defer stop()
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", local)); got != "host-pod\n" {
		t.Errorf("port-forward to a host-network pod: %q", got)
	}
}

// cidOf is the id of the pod's container named name.
func (p *secPod) cidOf(t *testing.T, name string) string {
	t.Helper()
	cs, err := p.rt.ListContainers(ctx(t), &runtimeapi.ContainerFilter{PodSandboxId: p.id, LabelSelector: map[string]string{"io.kubernetes.container.name": name}})
	if err != nil || len(cs) != 1 {
		t.Fatalf("container %s: %v, %v", name, cs, err)
	}
	return cs[0].GetId()
}

// download fetches url and returns the sha256 of the body.
func download(t *testing.T, url string) string {
	resp, err := (&http.Client{Timeout: time.Minute}).Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return ""
	}
	return responseSum(t, url, resp)
}

// bodySum parses a raw HTTP response and returns the sha256 of its body.
func bodySum(t *testing.T, raw []byte) string {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Errorf("response over the WebSocket forward: %v (%d bytes)", err, len(raw))
		return ""
	}
	return responseSum(t, "over WebSocket", resp)
}

// responseSum is the sha256 of a 10 MB response body.
func responseSum(t *testing.T, url string, resp *http.Response) string {
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil || n != 10<<20 {
		t.Errorf("GET %s: %d bytes, %v", url, n, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// 100 exec sessions whose client vanishes mid-stream (its connection cut) leave no
// exec process and no socket or file descriptor behind in dockercri.
func TestDisconnectedSessionsLeaveNothing(t *testing.T) {
	t.Parallel()
	p := newStreamPod(t, "leak")
	var proxy *framework.CutProxy
	session := func(i int) {
		u, err := url.Parse(p.execURL(t, []string{"sleep", "1001"}, true, false))
		if err != nil {
			t.Fatal(err)
		}
		if proxy == nil {
			if proxy, err = framework.StartCutProxy(u.Host); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(proxy.Close)
		}
		u.Host = proxy.Addr
		cctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- executor(t, protocols[i%2], u.String()).
				StreamWithContext(cctx, remotecommand.StreamOptions{Stdin: blockingReader{cctx}, Stdout: io.Discard, Stderr: io.Discard})
		}()
		time.Sleep(time.Duration(20+i%5*20) * time.Millisecond)
		proxy.Cut()
		cancel()
		<-done
	}
	fds := func() int {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.d.Process().Pid()))
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	session(0) // the first opens connections (to Docker) that stay pooled
	time.Sleep(time.Second)
	before := fds()
	for i := range 100 {
		session(i)
	}
	// A session cut before its client made its streams is closed by the library once its
	// stream creation timeout (30 s) passes: the client could still have been making them.
	if err := framework.WaitFor(60*time.Second, func() error {
		out := p.sh(t, p.cid, "ps -o args | grep -c '^sleep 1001' || true")
		if n := strings.TrimSpace(out); n != "0" {
			return fmt.Errorf("%s exec processes left", n)
		}
		if after := fds(); after > before+2 {
			return fmt.Errorf("dockercri has %d file descriptors open, %d before the sessions", after, before)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// blockingReader is a stdin that gives nothing until ctx ends.
type blockingReader struct{ ctx context.Context }

func (b blockingReader) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, io.EOF
}
