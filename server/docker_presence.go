package server

import (
	"net"
	"net/url"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// dockerPresence tells whether Docker went away while a call ran. A dockerd that shuts
// down closes its listener but still answers, for a moment, the requests that come on
// connections already open, with the errors of its dying parts ("failed to update
// store …"), and kills the pause container a RunPodSandbox is wiring up; the CNI ADD then
// fails for want of a namespace. Those failures say nothing about the call itself: it
// failed because Docker went away, which is Unavailable, and the kubelet tries again.
type dockerPresence struct {
	endpoint string
	// epoch is the view's (core.Service.Epoch): it changes when the view lists Docker again
	// after its event stream broke, and is not live while the stream is down.
	epoch func() (uint64, bool)
}

// presenceMark is what mark saw at the start of a call.
type presenceMark struct {
	epoch uint64
	live  bool
}

func (p *dockerPresence) mark() presenceMark {
	if p == nil {
		return presenceMark{}
	}
	e, live := p.epoch()
	return presenceMark{epoch: e, live: live}
}

// wentAway tells whether Docker, followed at m, has stopped, restarted or stopped
// accepting connections since.
func (p *dockerPresence) wentAway(m presenceMark) bool {
	if p == nil || !m.live {
		return false
	}
	if e, live := p.epoch(); !live || e != m.epoch {
		return true
	}
	return !accepting(p.endpoint)
}

// accepting tells whether Docker's endpoint takes a new connection; true when that
// cannot be told (an endpoint of another kind).
func accepting(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return true
	}
	var network, addr string
	switch u.Scheme {
	case "unix":
		network, addr = "unix", u.Path
	case "tcp", "http", "https":
		network, addr = "tcp", u.Host
	default:
		return true
	}
	conn, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// goneCodes are the codes of the failures that Docker's going away may cause: those
// become Unavailable when it did go away during the call.
var goneCodes = map[codes.Code]bool{codes.Internal: true, codes.Unknown: true, codes.FailedPrecondition: true}

// unavailableIfGone is err, or Unavailable when Docker went away since m and err is
// a failure that may come of it.
func (p *dockerPresence) unavailableIfGone(err error, m presenceMark) error {
	s, ok := status.FromError(err)
	if !ok || !goneCodes[s.Code()] || !p.wentAway(m) {
		return err
	}
	return status.Errorf(codes.Unavailable, "Docker went away during the call: %s", s.Message())
}
