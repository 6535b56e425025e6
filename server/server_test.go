package server

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type versionOnly struct {
	runtimeapi.UnimplementedRuntimeServiceServer
}

func (versionOnly) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: "test"}, nil
}

// pingCounter passes a connection's reads through and counts the PING frames (not
// acks) the server sent in them.
type pingCounter struct {
	net.Conn
	w     *io.PipeWriter
	pings atomic.Int64
}

func (c *pingCounter) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.w.Write(b[:n])
	}
	return n, err
}

// TestNoPingPerCall: the server sends the kubelet no ping of its own after each request
// (grpc-go's bandwidth estimate, which fixed flow-control windows turn off): each would
// be one more round trip, a wake-up of both, per call.
func TestNoPingPerCall(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cri.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	cc := calls{docker: &dockerPresence{endpoint: "unix://" + sock, epoch: func() (uint64, bool) { return 1, true }}}
	srv := grpc.NewServer(serverOptions(cc)...)
	runtimeapi.RegisterRuntimeServiceServer(srv, versionOnly{})
	go srv.Serve(lis)
	defer srv.Stop()

	var counter *pingCounter
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "unix", sock)
			if err != nil {
				return nil, err
			}
			r, w := io.Pipe()
			counter = &pingCounter{Conn: c, w: w}
			go func() {
				fr := http2.NewFramer(nil, r)
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						r.CloseWithError(err)
						return
					}
					if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
						counter.pings.Add(1)
					}
				}
			}()
			return counter, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	const n = 20
	for range n {
		if _, err := rt.Version(context.Background(), &runtimeapi.VersionRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if p := counter.pings.Load(); p != 0 {
		t.Errorf("the server sent %d pings over %d calls, want none", p, n)
	}
}
