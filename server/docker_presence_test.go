package server

import (
	"errors"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A failure is Unavailable when Docker went away during the call (its event stream
// broke, it was listed again, or it takes no connection), and is kept otherwise.
func TestUnavailableIfDockerWentAway(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	epoch, live := uint64(1), true
	p := &dockerPresence{endpoint: "unix://" + sock, epoch: func() (uint64, bool) { return epoch, live }}
	internal := status.Error(codes.Internal, "failed to update store")
	check := func(what string, err error, want codes.Code) {
		t.Helper()
		if got := status.Code(err); got != want {
			t.Errorf("%s: %s (%v), want %s", what, got, err, want)
		}
	}
	m := p.mark()
	check("Docker stayed", p.unavailableIfGone(internal, m), codes.Internal)
	check("an invalid argument", p.unavailableIfGone(status.Error(codes.InvalidArgument, "x"), m), codes.InvalidArgument)
	live = false
	check("the event stream broke", p.unavailableIfGone(internal, m), codes.Unavailable)
	live, epoch = true, 2
	check("Docker was listed again", p.unavailableIfGone(internal, m), codes.Unavailable)
	m = p.mark()
	lis.Close()
	check("Docker takes no connection", p.unavailableIfGone(internal, m), codes.Unavailable)
	check("not a status", p.unavailableIfGone(errors.New("plain"), m), codes.Unknown)
	var none *dockerPresence
	check("no presence", none.unavailableIfGone(internal, none.mark()), codes.Internal)
}
