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
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	restclient "k8s.io/client-go/rest"
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

			// The client closing stdin ends cat's; WebSocket v4 cannot say that stdin
			// ended (v5 added it), so there the command stops after one line.
			echo := []string{"cat"}
			if proto == "websocket-v4" {
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

// Streaming URLs name 127.0.0.1 by default and serve once: a second use is not found.
// Given a certificate and key, the server speaks TLS and exec works over it.
func TestStreamingURLs(t *testing.T) {
	t.Parallel()
	p := newStreamPod(t, "urls")
	raw := p.execURL(t, []string{"true"}, false, false)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(u.Host); u.Scheme != "http" || host != "127.0.0.1" {
		t.Errorf("exec URL %s: want http on 127.0.0.1 by default", raw)
	}
	if err := executor(t, "spdy", raw).StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		t.Errorf("first use of %s: %v", raw, err)
	}
	for _, proto := range protocols {
		err := executor(t, proto, raw).StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("second use of %s over %s: %v, want 404 Not Found", raw, proto, err)
		}
	}

	certFile, keyFile, certPEM, err := framework.ServingCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := env.StartDockercri(t, "--streaming-tls-cert-file", certFile, "--streaming-tls-key-file", keyFile)
	rt := d.Runtime(t)
	pod := runPod(t, rt, env.SandboxConfig(t, "urls-tls"))
	cid := pod.start(t, framework.ContainerConfig("main", pullBusybox(t, d.Images(t)), "exec sleep 3600"))
	for _, proto := range protocols {
		resp, err := rt.Exec(ctx(t), &runtimeapi.ExecRequest{ContainerId: cid, Cmd: []string{"echo", "over tls"}, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(resp.GetUrl(), "https://127.0.0.1:") {
			t.Errorf("exec URL with TLS: %s", resp.GetUrl())
		}
		var out bytes.Buffer
		err = executorWith(t, proto, resp.GetUrl(), &restclient.Config{TLSClientConfig: restclient.TLSClientConfig{CAData: certPEM}}).
			StreamWithContext(ctx(t), remotecommand.StreamOptions{Stdout: &out, Stderr: io.Discard})
		if err != nil || out.String() != "over tls\n" {
			t.Errorf("exec over %s with TLS: %q, %v", proto, out.String(), err)
		}
	}
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

// Attach passes the client's terminal size on to a tty container: one that prints its
// size over and over sees each attach's size.
func TestAttachResize(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "attach-resize")
	c := framework.ContainerConfig("sizes", p.ref, "while :; do stty size; sleep 0.2; done")
	c.Stdin, c.Tty = true, true
	id := p.start(t, c)
	for i, proto := range protocols {
		resp, err := p.rt.Attach(ctx(t), &runtimeapi.AttachRequest{ContainerId: id, Stdout: true, Tty: true})
		if err != nil {
			t.Fatalf("Attach: %v", err)
		}
		size := remotecommand.TerminalSize{Width: uint16(100 + i), Height: uint16(30 + i)}
		want := fmt.Sprintf("%d %d", size.Height, size.Width)
		cctx, cancel := context.WithCancel(context.Background())
		var out testutil.SyncBuffer
		done := make(chan error, 1)
		go func() {
			done <- executor(t, proto, resp.GetUrl()).StreamWithContext(cctx, remotecommand.StreamOptions{Stdout: &out, Tty: true, TerminalSizeQueue: &fixedSize{size: &size}})
		}()
		if err := framework.WaitFor(10*time.Second, func() error {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("attached over %s with a %s terminal, the container printed %q", proto, want, out.String())
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		cancel()
		<-done
	}
}

// Port-forward a 10 MB download from a pod's HTTP server over SPDY, SPDY tunnelled in
// a WebSocket and the WebSocket channel protocol, two forwards of each at once, the
// bytes compared; the SPDY sessions forward a second port of the pod beside it.
func TestPortForward(t *testing.T) {
	t.Parallel()
	p := newSecPod(t, "pf")
	c := framework.ContainerConfig("web", p.ref, `mkdir -p /www /www2 && echo second-port > /www2/index.html && httpd -p 8081 -h /www2 && `+
		`head -c 10485760 /dev/urandom > /www/big && sha256sum /www/big > /www/sum && exec httpd -f -p 8080 -h /www`)
	web := p.start(t, c)
	waitListening(t, p.d, web, 8080, 8081)
	var want string
	if err := framework.WaitFor(30*time.Second, func() error {
		out, err := execSync(t, p.d, web, []string{"cat", "/www/sum"}, 10*time.Second)
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
				ports := []int32{8080, 8081}
				if proto == "websocket-v4" {
					ports = ports[:1] // the channel protocol opens a data channel for each
				}
				resp, err := p.rt.PortForward(ctx(t), &runtimeapi.PortForwardRequest{PodSandboxId: p.id, Port: ports})
				if err != nil {
					t.Errorf("PortForward: %v", err)
					return
				}
				var got string
				if proto == "websocket-v4" {
					got = bodySum(t, wsPortForward(t, resp.GetUrl(), 8080, "GET /big HTTP/1.0\r\n\r\n"))
				} else {
					local, stop := forwarder(t, proto, resp.GetUrl(), 8080, 8081)
					defer stop()
					got = download(t, fmt.Sprintf("http://127.0.0.1:%d/big", local[0]))
					if second := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", local[1])); second != "second-port\n" {
						t.Errorf("%s forward %d, second port: %q", proto, i, second)
					}
				}
				if got != want {
					t.Errorf("%s forward %d: sha256 %s, want %s", proto, i, got, want)
				}
			})
		}
	}
	wg.Wait()
}

// Port-forward reaches a host-network pod's port on the node's loopback, over SPDY and
// tunnelled in a WebSocket.
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
	waitListening(t, d, p.start(t, c), port)
	for _, proto := range []string{"spdy", "websocket"} {
		resp, err := rt.PortForward(ctx(t), &runtimeapi.PortForwardRequest{PodSandboxId: p.id, Port: []int32{int32(port)}})
		if err != nil {
			t.Fatal(err)
		}
		local, stop := forwarder(t, proto, resp.GetUrl(), port)
		if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", local[0])); got != "host-pod\n" {
			t.Errorf("port-forward over %s to a host-network pod: %q", proto, got)
		}
		stop()
	}
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

// 100 sessions whose client vanishes mid-stream (its connection cut): exec over each
// transport, port-forward of a download over SPDY and tunnelled in a WebSocket. They
// leave no exec process, goroutine, socket or file descriptor behind in dockercri.
func TestDisconnectedSessionsLeaveNothing(t *testing.T) {
	t.Parallel()
	metrics := fmt.Sprintf("127.0.0.1:%d", mustFreePort(t))
	d := env.StartDockercri(t, "--metrics-bind-addr", metrics)
	p := &secPod{pod: runPod(t, d.Runtime(t), env.SandboxConfig(t, "leak")), d: d, ref: pullBusybox(t, d.Images(t))}
	cid := p.start(t, framework.ContainerConfig("main", p.ref,
		`mkdir -p /www && head -c 10485760 /dev/zero > /www/big && httpd -p 8080 -h /www && exec sleep 3600`))
	waitListening(t, d, cid, 8080)
	var proxy *framework.CutProxy
	// proxied is rawURL through the proxy the sessions' connections are cut at.
	proxied := func(rawURL string) string {
		u, err := url.Parse(rawURL)
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
		return u.String()
	}
	execSession := func(i int, proto string) {
		resp, err := p.rt.Exec(ctx(t), &runtimeapi.ExecRequest{ContainerId: cid, Cmd: []string{"sleep", "1001"}, Stdin: true, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- executor(t, proto, proxied(resp.GetUrl())).
				StreamWithContext(cctx, remotecommand.StreamOptions{Stdin: blockingReader{cctx}, Stdout: io.Discard, Stderr: io.Discard})
		}()
		time.Sleep(time.Duration(20+i%7*20) * time.Millisecond)
		proxy.Cut()
		cancel()
		<-done
	}
	forwardSession := func(proto string) {
		resp, err := p.rt.PortForward(ctx(t), &runtimeapi.PortForwardRequest{PodSandboxId: p.id, Port: []int32{8080}})
		if err != nil {
			t.Fatal(err)
		}
		local, stop := forwarder(t, proto, proxied(resp.GetUrl()), 8080)
		defer stop()
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local[0]))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Cut while the download flows.
		if _, err := io.WriteString(c, "GET /big HTTP/1.0\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 256<<10)); err != nil {
			t.Errorf("port-forward over %s before the cut: %v", proto, err)
		}
		proxy.Cut()
	}
	kinds := append(append([]string{}, protocols...), "forward-spdy", "forward-websocket")
	session := func(i int) {
		if kind := kinds[i%len(kinds)]; strings.HasPrefix(kind, "forward-") {
			forwardSession(strings.TrimPrefix(kind, "forward-"))
		} else {
			execSession(i, kind)
		}
	}
	fds := func() int {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.Process().Pid()))
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	goroutines := func() int {
		return int(framework.ScrapeMetrics(t, metrics).Value("go_goroutines", nil))
	}
	// The first of each kind opens connections (to Docker) that stay pooled.
	for i := range kinds {
		session(i)
	}
	var fdsBefore, goBefore int
	if err := framework.WaitFor(60*time.Second, func() error {
		if n := strings.TrimSpace(p.sh(t, cid, "ps -o args | grep -c '^sleep 1001' || true")); n != "0" {
			return fmt.Errorf("%s exec processes left by the first sessions", n)
		}
		fdsBefore, goBefore = fds(), goroutines()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		session(i)
	}
	// A session cut before its client made its streams is closed by the library once its
	// stream creation timeout (30 s) passes: the client could still have been making them.
	if err := framework.WaitFor(60*time.Second, func() error {
		if n := strings.TrimSpace(p.sh(t, cid, "ps -o args | grep -c '^sleep 1001' || true")); n != "0" {
			return fmt.Errorf("%s exec processes left", n)
		}
		if after := fds(); after > fdsBefore+2 {
			return fmt.Errorf("dockercri has %d file descriptors open, %d before the sessions", after, fdsBefore)
		}
		if after := goroutines(); after > goBefore+5 {
			return fmt.Errorf("dockercri runs %d goroutines, %d before the sessions", after, goBefore)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	t.Logf("after 100 sessions: %d file descriptors (%d before), %d goroutines (%d before)", fds(), fdsBefore, goroutines(), goBefore)
}

// blockingReader is a stdin that gives nothing until ctx ends.
type blockingReader struct{ ctx context.Context }

func (b blockingReader) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, io.EOF
}
