package crilog

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	timetypes "github.com/docker/docker/api/types/time"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/dockercri/dockercri/engine"
)

// fakeDocker is an engine.Engine holding containers' log records as Docker's log
// driver does, and serving them as Docker 20.10's logs API does: Since inclusive,
// Follow until the container stops, multiplexed frames without a TTY, raw with one.
//
// It embeds engine.Engine so that it keeps compiling as the interface grows; the
// copier calls only ContainerLogs and ContainerInspect (another call would panic).
type fakeDocker struct {
	engine.Engine

	mu         sync.Mutex
	containers map[string]*fakeContainer
	changed    chan struct{} // closed and replaced on every change
	calls      []container.LogsOptions

	// logsFn, when set, serves ContainerLogs instead.
	logsFn func(ctx context.Context, id string, opts container.LogsOptions) (io.ReadCloser, error)
}

type fakeContainer struct {
	tty     bool
	running bool
	recs    []fakeRecord
}

// fakeRecord is a log message as Docker's log driver holds it: the line with its
// newline if it had one.
type fakeRecord struct {
	stream string
	ts     time.Time
	line   string
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{containers: map[string]*fakeContainer{}, changed: make(chan struct{})}
}

func (f *fakeDocker) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// run adds a running container, or starts a stopped one again.
func (f *fakeDocker) run(id string, tty bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.containers[id]; c != nil {
		c.running = true
	} else {
		f.containers[id] = &fakeContainer{tty: tty, running: true}
	}
	f.changedLocked()
}

// add appends records to a container's log.
func (f *fakeDocker) add(id string, recs ...fakeRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	c.recs = append(c.recs, recs...)
	f.changedLocked()
}

// exit stops a container.
func (f *fakeDocker) exit(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers[id].running = false
	f.changedLocked()
}

func (f *fakeDocker) logCalls() []container.LogsOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]container.LogsOptions(nil), f.calls...)
}

func (f *fakeDocker) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return container.InspectResponse{}, fmt.Errorf("no such container %s: %w", id, cerrdefs.ErrNotFound)
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: &container.State{Running: c.running}},
		Config:            &container.Config{Tty: c.tty},
	}, nil
}

func (f *fakeDocker) ContainerLogs(ctx context.Context, id string, opts container.LogsOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	f.calls = append(f.calls, opts)
	fn := f.logsFn
	c := f.containers[id]
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, id, opts)
	}
	if c == nil {
		return nil, fmt.Errorf("no such container %s: %w", id, cerrdefs.ErrNotFound)
	}
	var since time.Time
	if opts.Since != "" {
		// What the client sends: its GetTimestamp, then the daemon's ParseTimestamps.
		v, err := timetypes.GetTimestamp(opts.Since, time.Now())
		if err != nil {
			return nil, fmt.Errorf("%w: since: %v", cerrdefs.ErrInvalidArgument, err)
		}
		s, n, err := timetypes.ParseTimestamps(v, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: since: %v", cerrdefs.ErrInvalidArgument, err)
		}
		since = time.Unix(s, n)
	}
	pr, pw := io.Pipe()
	go func() {
		next := 0
		for {
			f.mu.Lock()
			recs := c.recs[next:]
			next = len(c.recs)
			running := c.running
			changed := f.changed
			f.mu.Unlock()
			for _, r := range recs {
				if !since.IsZero() && r.ts.Before(since) {
					continue
				}
				if _, err := pw.Write(encodeRecord(r, c.tty)); err != nil {
					return
				}
			}
			if !opts.Follow || !running {
				pw.Close()
				return
			}
			select {
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			case <-changed:
			}
		}
	}()
	return pr, nil
}

// encodeRecord is a record as the logs API sends it with Timestamps.
func encodeRecord(r fakeRecord, tty bool) []byte {
	payload := r.ts.Format(jsonmessage.RFC3339NanoFixed) + " " + r.line
	if tty {
		return []byte(payload)
	}
	return frame(r.stream, payload)
}

func frame(stream, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	switch stream {
	case "stdout":
		b[0] = 1
	case "stderr":
		b[0] = 2
	default:
		b[0] = 3
	}
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}
