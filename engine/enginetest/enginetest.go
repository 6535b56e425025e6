// Package enginetest is the one fake of engine.Engine, for unit tests: a Docker Engine
// in memory with real state. Its containers are created, started, stopped, killed and
// removed as Docker does it (names, full ids and unique prefixes, labels and label
// filters, pids, exit codes and times), each change sent on the event streams of
// Events; a container's log is records served as Docker's logs API serves them; images
// are known by id, tag and digest, pulled from a registry in memory, untagged and
// removed, or imported. Its errors are the Docker client's: the errdefs classes, with
// Docker's words where dockercri reads them.
//
// Tests change its state through its methods, or under Mu through its fields, and fail
// or replace calls through its hooks. An Engine is safe for concurrent use.
package enginetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	timetypes "github.com/docker/docker/api/types/time"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dockercri/dockercri/engine"
)

// Engine is a Docker Engine in memory.
type Engine struct {
	// Mu guards the fields below; the methods take it.
	Mu sync.Mutex

	// Containers by id.
	Containers map[string]*Container
	// Images by id (sha256:<hex>), with their tags and digests in Docker's short form.
	Images map[string]image.InspectResponse
	// ExtraImages are summaries ImageList reports besides the images', e.g. of images
	// that vanish before they can be inspected.
	ExtraImages []image.Summary
	// Registry is what a pull can fetch, keyed by the normalised reference pulled.
	Registry map[string]image.InspectResponse
	// SystemInfo is what Info answers; APIVersion what ClientVersion does.
	SystemInfo system.Info
	APIVersion string
	// Arch is dockerd's architecture, by Go's name, as its /version reports it.
	Arch string

	// Hooks, each used when set.
	//
	// Fail is asked at the start of every call but ClientVersion and Close, with the
	// method's name and what it is about (an id, a name, a reference; "" for none),
	// and without Mu held: an error it returns is the call's.
	Fail func(method, ref string) error
	// ListGate holds each ContainerList until it is closed (or the call's ctx ends).
	ListGate chan struct{}
	// InspectImageErr fails ImageInspect of ref.
	InspectImageErr func(ref string) error
	// PullFn, LogsFn and ImportFn serve their call instead; it is recorded still.
	PullFn   func(ctx context.Context, ref string, opts image.PullOptions) (io.ReadCloser, error)
	LogsFn   func(ctx context.Context, id string, opts container.LogsOptions) (io.ReadCloser, error)
	ImportFn func(ctx context.Context, src image.ImportSource, ref string, opts image.ImportOptions) (io.ReadCloser, error)
	// RemoveImageFn fails ImageRemove of ref.
	RemoveImageFn func(ref string) error
	// ExecFn is what a command run by exec writes and exits with; by default it
	// writes nothing and exits 0.
	ExecFn func(id string, cmd []string) (stdout, stderr string, exitCode int)

	// What was asked.
	ContainerLists int
	Inspects       int // ContainerInspect calls
	ImageInspects  []string
	Pulls          []PullCall
	ImageRemoves   []RemoveCall
	Imports        []ImportCall
	LogCalls       []container.LogsOptions

	nextPID  int
	nextID   int
	changed  chan struct{} // closed and replaced on every change of a container
	subs     map[*subscriber]bool
	execs    map[string]*execState
	closed   bool
	stopping map[string]bool
}

var _ engine.Engine = (*Engine)(nil)

// Container is a container as Docker holds it, with its log.
type Container struct {
	Inspect container.InspectResponse
	Logs    []LogRecord
}

// LogRecord is a log message as Docker's log driver holds it: the line with its
// newline if it had one.
type LogRecord struct {
	Stream string // stdout or stderr
	Time   time.Time
	Line   string
}

// PullCall, RemoveCall and ImportCall record the calls of their names.
type PullCall struct {
	Ref  string
	Opts image.PullOptions
}

type RemoveCall struct {
	Ref  string
	Opts image.RemoveOptions
}

type ImportCall struct {
	Source, Ref string
	Data        []byte
	Opts        image.ImportOptions
}

type execState struct {
	container string
	cmd       []string
	running   bool
	exitCode  int
}

type subscriber struct {
	msgs  chan events.Message
	errs  chan error
	done  <-chan struct{}
	args  filters.Args
	ended bool
}

// New returns an Engine holding images and no container.
func New(images ...image.InspectResponse) *Engine {
	e := &Engine{
		Containers: map[string]*Container{},
		Images:     map[string]image.InspectResponse{},
		Registry:   map[string]image.InspectResponse{},
		SystemInfo: system.Info{CgroupDriver: "cgroupfs", DockerRootDir: "/var/lib/docker", ServerVersion: "28.5.2"},
		APIVersion: "1.51",
		Arch:       "amd64",
		nextPID:    1000,
		changed:    make(chan struct{}),
		subs:       map[*subscriber]bool{},
		execs:      map[string]*execState{},
		stopping:   map[string]bool{},
	}
	for _, img := range images {
		e.Images[img.ID] = img
	}
	return e
}

// Image builds what Docker's inspect says of an image.
func Image(id, user string, size int64, tags, digests []string) image.InspectResponse {
	var insp image.InspectResponse
	// Through JSON, so that no image-spec type is needed for Config.
	raw, err := json.Marshal(map[string]any{
		"Id": id, "RepoTags": tags, "RepoDigests": digests, "Size": size,
		"Created": "2024-01-02T03:04:05Z", "Architecture": "amd64", "Os": "linux",
		"Config": map[string]any{"User": user},
	})
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(raw, &insp); err != nil {
		panic(err)
	}
	return insp
}

// HexID is an image id made of one repeated hex digit.
func HexID(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func (e *Engine) fail(method, ref string) error {
	e.Mu.Lock()
	fn := e.Fail
	e.Mu.Unlock()
	if fn != nil {
		return fn(method, ref)
	}
	return nil
}

// changedLocked wakes whatever waits for a change of a container; Mu is held.
func (e *Engine) changedLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// System.

func (e *Engine) Ping(ctx context.Context) (types.Ping, error) {
	return types.Ping{APIVersion: e.ClientVersion()}, e.fail("Ping", "")
}

func (e *Engine) Info(ctx context.Context) (system.Info, error) {
	if err := e.fail("Info", ""); err != nil {
		return system.Info{}, err
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	return e.SystemInfo, nil
}

func (e *Engine) ServerVersion(ctx context.Context) (types.Version, error) {
	if err := e.fail("ServerVersion", ""); err != nil {
		return types.Version{}, err
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	return types.Version{Version: e.SystemInfo.ServerVersion, APIVersion: e.APIVersion, MinAPIVersion: "1.24", Os: "linux", Arch: e.Arch}, nil
}

func (e *Engine) ClientVersion() string {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	return e.APIVersion
}

func (e *Engine) Close() error {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	e.closed = true
	return nil
}

// Containers.

// Put adds or replaces a container as it is, without an event: a change Docker made
// behind dockercri's back (send the event with Emit). Its ID is the key.
func (e *Engine) Put(insp container.InspectResponse) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	if c := e.Containers[insp.ID]; c != nil {
		c.Inspect = insp
	} else {
		e.Containers[insp.ID] = &Container{Inspect: insp}
	}
	e.changedLocked()
}

// Delete forgets a container without an event.
func (e *Engine) Delete(id string) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	delete(e.Containers, id)
	e.changedLocked()
}

// Exit ends a running container's process with code, as if it exited by itself.
func (e *Engine) Exit(id string, code int) {
	e.Mu.Lock()
	c := e.Containers[id]
	var ok bool
	if c != nil {
		ok = e.exitLocked(c, code)
	}
	e.Mu.Unlock()
	if ok {
		e.emit(c.Inspect.ID, events.ActionDie)
	}
}

// Inspected returns a copy of what ContainerInspect says of id, if it is there.
func (e *Engine) Inspected(id string) (container.InspectResponse, bool) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	c, err := e.findLocked(id)
	if err != nil {
		return container.InspectResponse{}, false
	}
	return copyInspect(c.Inspect), true
}

// AddLogs appends records to a container's log.
func (e *Engine) AddLogs(id string, recs ...LogRecord) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	c := e.Containers[id]
	c.Logs = append(c.Logs, recs...)
	e.changedLocked()
}

// RunContainer adds a running container of nothing but an id and a TTY setting (what
// a log copy needs), or starts a stopped one again.
func (e *Engine) RunContainer(id string, tty bool) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	c := e.Containers[id]
	if c == nil {
		c = &Container{Inspect: container.InspectResponse{
			ContainerJSONBase: &container.ContainerJSONBase{ID: id, Name: "/" + id, State: &container.State{}, HostConfig: &container.HostConfig{}},
			Config:            &container.Config{Tty: tty, Labels: map[string]string{}},
		}}
		e.Containers[id] = c
	}
	e.startLocked(c)
}

func (e *Engine) startLocked(c *Container) {
	e.nextPID++
	st := c.Inspect.State
	st.Status, st.Running, st.Pid, st.ExitCode = container.StateRunning, true, e.nextPID, 0
	st.StartedAt, st.FinishedAt = now(), "0001-01-01T00:00:00Z"
	e.changedLocked()
}

// exitLocked stops c's process; false if it was not running.
func (e *Engine) exitLocked(c *Container, code int) bool {
	st := c.Inspect.State
	if !st.Running {
		return false
	}
	st.Status, st.Running, st.Pid, st.ExitCode, st.FinishedAt = container.StateExited, false, 0, code, now()
	e.changedLocked()
	return true
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func notFoundContainer(id string) error {
	return cerrdefs.ErrNotFound.WithMessage("No such container: " + id)
}

// findLocked finds a container as Docker does: by full id, name (with or without its
// slash), or unique id prefix.
func (e *Engine) findLocked(ref string) (*Container, error) {
	if ref == "" {
		return nil, notFoundContainer(ref)
	}
	if c := e.Containers[ref]; c != nil {
		return c, nil
	}
	name := "/" + strings.TrimPrefix(ref, "/")
	var found *Container
	for _, c := range e.Containers {
		if c.Inspect.Name == name {
			return c, nil
		}
		if strings.HasPrefix(c.Inspect.ID, ref) {
			if found != nil {
				return nil, cerrdefs.ErrInvalidArgument.WithMessage("multiple IDs found with provided prefix: " + ref)
			}
			found = c
		}
	}
	if found == nil {
		return nil, notFoundContainer(ref)
	}
	return found, nil
}

// findHeld is the start of a call of method on container id: the hook Fail, then
// findLocked with Mu taken, which the caller unlocks when there is no error.
func (e *Engine) findHeld(method, id string) (*Container, error) {
	if err := e.fail(method, id); err != nil {
		return nil, err
	}
	e.Mu.Lock()
	c, err := e.findLocked(id)
	if err != nil {
		e.Mu.Unlock()
	}
	return c, err
}

func copyInspect(in container.InspectResponse) container.InspectResponse {
	raw, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	var out container.InspectResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		panic(err)
	}
	return out
}

func (e *Engine) ContainerCreate(ctx context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	if err := e.fail("ContainerCreate", name); err != nil {
		return container.CreateResponse{}, err
	}
	e.Mu.Lock()
	if cfg == nil {
		cfg = &container.Config{}
	}
	if hc == nil {
		hc = &container.HostConfig{}
	}
	img, ok := e.lookupImageLocked(cfg.Image)
	if !ok {
		e.Mu.Unlock()
		return container.CreateResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + cfg.Image)
	}
	e.nextID++
	sum := sha256.Sum256([]byte("container " + strconv.Itoa(e.nextID)))
	id := hex.EncodeToString(sum[:])
	if name == "" {
		name = "c" + strconv.Itoa(e.nextID)
	}
	for _, c := range e.Containers {
		if c.Inspect.Name == "/"+name {
			e.Mu.Unlock()
			return container.CreateResponse{}, cerrdefs.ErrConflict.WithMessage(fmt.Sprintf(
				"Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", "/"+name, c.Inspect.ID))
		}
	}
	cfgCopy, hcCopy := *cfg, *hc
	if cfgCopy.Labels == nil {
		cfgCopy.Labels = map[string]string{}
	}
	insp := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: id, Name: "/" + name, Created: now(), Image: img.ID,
			State:      &container.State{Status: container.StateCreated, StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "0001-01-01T00:00:00Z"},
			HostConfig: &hcCopy,
			Driver:     "overlay2",
		},
		Config:          &cfgCopy,
		NetworkSettings: &container.NetworkSettings{},
	}
	e.Containers[id] = &Container{Inspect: copyInspect(insp)}
	e.changedLocked()
	e.Mu.Unlock()
	e.emit(id, events.ActionCreate)
	return container.CreateResponse{ID: id}, nil
}

func (e *Engine) ContainerStart(ctx context.Context, id string, _ container.StartOptions) error {
	c, err := e.findHeld("ContainerStart", id)
	if err != nil {
		return err
	}
	if c.Inspect.State.Running {
		e.Mu.Unlock()
		return nil // Docker's 304: started already
	}
	e.startLocked(c)
	e.Mu.Unlock()
	e.emit(c.Inspect.ID, events.ActionStart)
	return nil
}

// ContainerStop stops the container's process at once (no process ignores its
// signal here) with Docker's exit code of a SIGTERM, 143. A stopped container is no
// error, as Docker's 304 is none for its client.
func (e *Engine) ContainerStop(ctx context.Context, id string, _ container.StopOptions) error {
	return e.stop("ContainerStop", id, 143, false)
}

func (e *Engine) ContainerKill(ctx context.Context, id, signal string) error {
	return e.stop("ContainerKill", id, 137, true)
}

func (e *Engine) stop(method, id string, code int, mustRun bool) error {
	c, err := e.findHeld(method, id)
	if err != nil {
		return err
	}
	if !e.exitLocked(c, code) {
		e.Mu.Unlock()
		if mustRun {
			return cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("Cannot kill container: %s: Container %s is not running", id, c.Inspect.ID))
		}
		return nil
	}
	e.Mu.Unlock()
	e.emit(c.Inspect.ID, events.ActionDie)
	if !mustRun {
		e.emit(c.Inspect.ID, events.ActionStop)
	}
	return nil
}

func (e *Engine) ContainerRemove(ctx context.Context, id string, opts container.RemoveOptions) error {
	c, err := e.findHeld("ContainerRemove", id)
	if err != nil {
		return err
	}
	died := false
	if c.Inspect.State.Running {
		if !opts.Force {
			e.Mu.Unlock()
			return cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("You cannot remove a running container %s. Stop the container before attempting removal or force remove", c.Inspect.ID))
		}
		died = e.exitLocked(c, 137)
	}
	delete(e.Containers, c.Inspect.ID)
	e.changedLocked()
	e.Mu.Unlock()
	if died {
		e.emit(c.Inspect.ID, events.ActionDie)
	}
	e.emit(c.Inspect.ID, events.ActionDestroy)
	return nil
}

func (e *Engine) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	if err := e.fail("ContainerInspect", id); err != nil {
		return container.InspectResponse{}, err
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	e.Inspects++
	c, err := e.findLocked(id)
	if err != nil {
		return container.InspectResponse{}, err
	}
	return copyInspect(c.Inspect), nil
}

// ContainerList lists the running containers, or all, that match the filters' labels
// (key or key=value, all of them) and ids (prefixes, any of them).
func (e *Engine) ContainerList(ctx context.Context, opts container.ListOptions) ([]container.Summary, error) {
	e.Mu.Lock()
	e.ContainerLists++
	gate := e.ListGate
	e.Mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := e.fail("ContainerList", ""); err != nil {
		return nil, err
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	var out []container.Summary
	for _, c := range e.Containers {
		in := c.Inspect
		running := in.State != nil && in.State.Running
		if !opts.All && !running || !matches(opts.Filters, in) {
			continue
		}
		sum := container.Summary{ID: in.ID, Names: []string{in.Name}, ImageID: in.Image}
		if in.Config != nil {
			sum.Image, sum.Labels = in.Config.Image, in.Config.Labels
		}
		if in.State != nil {
			sum.State = in.State.Status
		}
		out = append(out, sum)
	}
	return out, nil
}

func matches(args filters.Args, in container.InspectResponse) bool {
	var labels map[string]string
	if in.Config != nil {
		labels = in.Config.Labels
	}
	if !args.MatchKVList("label", labels) {
		return false
	}
	if ids := args.Get("id"); len(ids) > 0 {
		for _, id := range ids {
			if strings.HasPrefix(in.ID, id) {
				return true
			}
		}
		return false
	}
	return true
}

func (e *Engine) ContainerUpdate(ctx context.Context, id string, u container.UpdateConfig) (container.UpdateResponse, error) {
	c, err := e.findHeld("ContainerUpdate", id)
	if err != nil {
		return container.UpdateResponse{}, err
	}
	defer e.Mu.Unlock()
	c.Inspect.HostConfig.Resources = u.Resources
	e.changedLocked()
	return container.UpdateResponse{}, nil
}

// ContainerWait answers once the container is not running (every condition is
// not-running here), or gone.
func (e *Engine) ContainerWait(ctx context.Context, id string, _ container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	res, errs := make(chan container.WaitResponse, 1), make(chan error, 1)
	if err := e.fail("ContainerWait", id); err != nil {
		errs <- err
		return res, errs
	}
	e.Mu.Lock()
	c, err := e.findLocked(id)
	e.Mu.Unlock()
	if err != nil {
		errs <- err
		return res, errs
	}
	go func() {
		for {
			e.Mu.Lock()
			st, changed := *c.Inspect.State, e.changed
			e.Mu.Unlock()
			if !st.Running {
				res <- container.WaitResponse{StatusCode: int64(st.ExitCode)}
				return
			}
			select {
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			case <-changed:
			}
		}
	}()
	return res, errs
}

// ContainerLogs serves a container's log records as Docker 20.10's logs API does:
// Since inclusive, Follow until the container stops, multiplexed frames without a
// TTY, raw with one; each record with its timestamp.
func (e *Engine) ContainerLogs(ctx context.Context, id string, opts container.LogsOptions) (io.ReadCloser, error) {
	if err := e.fail("ContainerLogs", id); err != nil {
		return nil, err
	}
	e.Mu.Lock()
	e.LogCalls = append(e.LogCalls, opts)
	fn := e.LogsFn
	c, err := e.findLocked(id)
	e.Mu.Unlock()
	if fn != nil {
		return fn(ctx, id, opts)
	}
	if err != nil {
		return nil, err
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
			e.Mu.Lock()
			recs := c.Logs[next:]
			next = len(c.Logs)
			running, tty := c.Inspect.State.Running, c.Inspect.Config.Tty
			changed := e.changed
			e.Mu.Unlock()
			for _, r := range recs {
				if !since.IsZero() && r.Time.Before(since) {
					continue
				}
				if _, err := pw.Write(EncodeRecord(r, tty)); err != nil {
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

// EncodeRecord is a record as the logs API sends it with Timestamps.
func EncodeRecord(r LogRecord, tty bool) []byte {
	payload := r.Time.Format(jsonmessage.RFC3339NanoFixed) + " " + r.Line
	if tty {
		return []byte(payload)
	}
	return Frame(r.Stream, payload)
}

// Frame is payload in a frame of Docker's multiplexed stream.
func Frame(stream, payload string) []byte {
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

// ContainerAttach joins a running container's stdio: the connection ends when the
// container stops.
func (e *Engine) ContainerAttach(ctx context.Context, id string, _ container.AttachOptions) (types.HijackedResponse, error) {
	if err := e.fail("ContainerAttach", id); err != nil {
		return types.HijackedResponse{}, err
	}
	e.Mu.Lock()
	c, err := e.findLocked(id)
	e.Mu.Unlock()
	if err != nil {
		return types.HijackedResponse{}, err
	}
	ours, theirs := net.Pipe()
	go func() {
		defer theirs.Close()
		go func() { _, _ = io.Copy(io.Discard, theirs) }()
		for {
			e.Mu.Lock()
			running, changed := c.Inspect.State.Running, e.changed
			e.Mu.Unlock()
			if !running {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}()
	return types.NewHijackedResponse(ours, ""), nil
}

func (e *Engine) ContainerResize(ctx context.Context, id string, _ container.ResizeOptions) error {
	_, err := e.findHeld("ContainerResize", id)
	if err == nil {
		e.Mu.Unlock()
	}
	return err
}

// Exec.

func (e *Engine) ContainerExecCreate(ctx context.Context, id string, opts container.ExecOptions) (container.ExecCreateResponse, error) {
	c, err := e.findHeld("ContainerExecCreate", id)
	if err != nil {
		return container.ExecCreateResponse{}, err
	}
	defer e.Mu.Unlock()
	if !c.Inspect.State.Running {
		return container.ExecCreateResponse{}, cerrdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not running", c.Inspect.ID))
	}
	e.nextID++
	execID := "exec" + strconv.Itoa(e.nextID)
	e.execs[execID] = &execState{container: c.Inspect.ID, cmd: opts.Cmd}
	return container.ExecCreateResponse{ID: execID}, nil
}

// ContainerExecAttach starts the exec: the connection carries what ExecFn writes, in
// Docker's multiplexed frames, and ends when the command does.
func (e *Engine) ContainerExecAttach(ctx context.Context, execID string, cfg container.ExecAttachOptions) (types.HijackedResponse, error) {
	if err := e.fail("ContainerExecAttach", execID); err != nil {
		return types.HijackedResponse{}, err
	}
	e.Mu.Lock()
	x := e.execs[execID]
	fn := e.ExecFn
	if x == nil {
		e.Mu.Unlock()
		return types.HijackedResponse{}, cerrdefs.ErrNotFound.WithMessage("No such exec instance: " + execID)
	}
	x.running = true
	e.Mu.Unlock()
	var stdout, stderr string
	code := 0
	if fn != nil {
		stdout, stderr, code = fn(x.container, x.cmd)
	}
	ours, theirs := net.Pipe()
	go func() {
		go func() { _, _ = io.Copy(io.Discard, theirs) }()
		w := bufio.NewWriter(theirs)
		if cfg.Tty {
			_, _ = w.WriteString(stdout + stderr)
		} else {
			if stdout != "" {
				_, _ = w.Write(Frame("stdout", stdout))
			}
			if stderr != "" {
				_, _ = w.Write(Frame("stderr", stderr))
			}
		}
		_ = w.Flush()
		e.Mu.Lock()
		x.running, x.exitCode = false, code
		e.Mu.Unlock()
		theirs.Close()
	}()
	return types.NewHijackedResponse(ours, ""), nil
}

func (e *Engine) ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error) {
	if err := e.fail("ContainerExecInspect", execID); err != nil {
		return container.ExecInspect{}, err
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	x := e.execs[execID]
	if x == nil {
		return container.ExecInspect{}, cerrdefs.ErrNotFound.WithMessage("No such exec instance: " + execID)
	}
	return container.ExecInspect{ExecID: execID, ContainerID: x.container, Running: x.running, ExitCode: x.exitCode}, nil
}

func (e *Engine) ContainerExecResize(ctx context.Context, execID string, _ container.ResizeOptions) error {
	return e.fail("ContainerExecResize", execID)
}

// Events.

// Events streams the changes of containers that match the label filters, from now
// on. Each change waits until every stream has taken it (Docker's is in order, too).
func (e *Engine) Events(ctx context.Context, opts events.ListOptions) (<-chan events.Message, <-chan error) {
	sub := &subscriber{msgs: make(chan events.Message), errs: make(chan error, 1), done: ctx.Done(), args: opts.Filters}
	if err := e.fail("Events", ""); err != nil {
		sub.errs <- err
		return sub.msgs, sub.errs
	}
	e.Mu.Lock()
	e.subs[sub] = true
	e.Mu.Unlock()
	go func() {
		<-ctx.Done()
		e.Mu.Lock()
		delete(e.subs, sub)
		e.Mu.Unlock()
	}()
	return sub.msgs, sub.errs
}

// Emit sends an event of container id to the streams that want it, and returns once
// each has taken it.
func (e *Engine) Emit(id string, action events.Action) { e.emit(id, action) }

func (e *Engine) emit(id string, action events.Action) {
	e.Mu.Lock()
	var labels map[string]string
	if c := e.Containers[id]; c != nil && c.Inspect.Config != nil {
		labels = c.Inspect.Config.Labels
	}
	var to []*subscriber
	for s := range e.subs {
		// A destroyed container's labels are gone here; Docker's event still has them,
		// and the view wants it.
		if !s.ended && (labels == nil || s.args.MatchKVList("label", labels)) {
			to = append(to, s)
		}
	}
	e.Mu.Unlock()
	m := events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: id, Attributes: labels}, TimeNano: time.Now().UnixNano()}
	m.Time = m.TimeNano / int64(time.Second)
	for _, s := range to {
		select {
		case s.msgs <- m:
		case <-s.done:
		}
	}
}

// BreakEvents ends every event stream with err, as a dockerd going away does.
func (e *Engine) BreakEvents(err error) {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	for s := range e.subs {
		s.ended = true
		s.errs <- err
		delete(e.subs, s)
	}
}

// Subscribed is how many event streams are open.
func (e *Engine) Subscribed() int {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	return len(e.subs)
}

// Images.

func (e *Engine) ImageList(ctx context.Context, _ image.ListOptions) ([]image.Summary, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.fail("ImageList", ""); err != nil {
		return nil, err
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	var out []image.Summary
	for _, img := range e.Images {
		out = append(out, image.Summary{ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Size: img.Size})
	}
	return append(out, e.ExtraImages...), nil
}

// Normalise is how Docker's daemon would key a name, or "" for what is no name. As
// Docker's reference store does, a name with both a tag and a digest is looked up by
// its digest alone.
func Normalise(name string) string {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return ""
	}
	if c, ok := ref.(reference.Canonical); ok {
		if trimmed, err := reference.WithDigest(reference.TrimNamed(c), c.Digest()); err == nil {
			return trimmed.String()
		}
	}
	return reference.TagNameOnly(ref).String()
}

// lookupImageLocked finds an image by id, bare hex id, tag or digest.
func (e *Engine) lookupImageLocked(ref string) (image.InspectResponse, bool) {
	if img, ok := e.Images[ref]; ok {
		return img, true
	}
	if img, ok := e.Images["sha256:"+ref]; ok {
		return img, true
	}
	want := Normalise(ref)
	if want == "" {
		return image.InspectResponse{}, false
	}
	for _, img := range e.Images {
		for _, names := range [][]string{img.RepoTags, img.RepoDigests} {
			for _, n := range names {
				if Normalise(n) == want {
					return img, true
				}
			}
		}
	}
	return image.InspectResponse{}, false
}

func notFoundImage(ref string) error {
	return cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

func (e *Engine) ImageInspect(ctx context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if err := ctx.Err(); err != nil {
		return image.InspectResponse{}, err
	}
	if err := e.fail("ImageInspect", ref); err != nil {
		return image.InspectResponse{}, err
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	e.ImageInspects = append(e.ImageInspects, ref)
	if e.InspectImageErr != nil {
		if err := e.InspectImageErr(ref); err != nil {
			return image.InspectResponse{}, err
		}
	}
	img, ok := e.lookupImageLocked(ref)
	if !ok {
		return image.InspectResponse{}, notFoundImage(ref)
	}
	return img, nil
}

// HasImage tells whether the image with id is there.
func (e *Engine) HasImage(id string) bool {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	_, ok := e.Images[id]
	return ok
}

// ImagePull behaves as Docker's client and daemon: a reference the client cannot
// parse fails before any request; one the registry has streams progress and lands the
// image; another streams the registry's error.
func (e *Engine) ImagePull(ctx context.Context, ref string, opts image.PullOptions) (io.ReadCloser, error) {
	if err := e.fail("ImagePull", ref); err != nil {
		return nil, err
	}
	e.Mu.Lock()
	e.Pulls = append(e.Pulls, PullCall{ref, opts})
	fn := e.PullFn
	e.Mu.Unlock()
	if fn != nil {
		return fn(ctx, ref, opts)
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return nil, err // as the real client: a plain error
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	img, ok := e.Registry[Normalise(ref)]
	if !ok {
		return Stream(`{"status":"Pulling from library/x","id":"latest"}`,
			`{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`), nil
	}
	e.Images[img.ID] = img
	return Stream(`{"status":"Pulling from library/busybox","id":"latest"}`,
		`{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"abc"}`,
		`{"status":"Digest: sha256:`+strings.Repeat("d", 64)+`"}`,
		`{"status":"Status: Downloaded newer image for `+ref+`"}`), nil
}

// Stream is a body of JSON messages, as a pull's or an import's.
func Stream(msgs ...string) io.ReadCloser {
	return io.NopCloser(strings.NewReader(strings.Join(msgs, "\r\n") + "\r\n"))
}

func (e *Engine) ImageRemove(ctx context.Context, ref string, opts image.RemoveOptions) ([]image.DeleteResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.fail("ImageRemove", ref); err != nil {
		return nil, err
	}
	e.Mu.Lock()
	defer e.Mu.Unlock()
	e.ImageRemoves = append(e.ImageRemoves, RemoveCall{ref, opts})
	if e.RemoveImageFn != nil {
		if err := e.RemoveImageFn(ref); err != nil {
			return nil, err
		}
	}
	img, ok := e.lookupImageLocked(ref)
	if !ok {
		return nil, notFoundImage(ref)
	}
	if ref == img.ID || ref == strings.TrimPrefix(img.ID, "sha256:") {
		delete(e.Images, img.ID)
		return []image.DeleteResponse{{Deleted: img.ID}}, nil
	}
	// Untag: drop this one name; as Docker does, the image goes with its last name.
	want := Normalise(ref)
	keep := func(names []string) []string {
		var out []string
		for _, n := range names {
			if Normalise(n) != want {
				out = append(out, n)
			}
		}
		return out
	}
	img.RepoTags, img.RepoDigests = keep(img.RepoTags), keep(img.RepoDigests)
	if len(img.RepoTags)+len(img.RepoDigests) == 0 {
		delete(e.Images, img.ID)
		return []image.DeleteResponse{{Untagged: ref}, {Deleted: img.ID}}, nil
	}
	e.Images[img.ID] = img
	return []image.DeleteResponse{{Untagged: ref}}, nil
}

// RemovedImages are the references ImageRemove was asked to remove, in order.
func (e *Engine) RemovedImages() []string {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	var out []string
	for _, r := range e.ImageRemoves {
		out = append(out, r.Ref)
	}
	return out
}

// ImageImport reads the whole source and lands an image under ref, whose id is the
// digest of what it read. The call is recorded also when ImportFn serves it, which
// reads the source again.
func (e *Engine) ImageImport(ctx context.Context, src image.ImportSource, ref string, opts image.ImportOptions) (io.ReadCloser, error) {
	if err := e.fail("ImageImport", ref); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(src.Source)
	if err != nil {
		return nil, err
	}
	e.Mu.Lock()
	e.Imports = append(e.Imports, ImportCall{Source: src.SourceName, Ref: ref, Data: data, Opts: opts})
	fn := e.ImportFn
	e.Mu.Unlock()
	if fn != nil {
		src.Source = bytes.NewReader(data)
		return fn(ctx, src, ref, opts)
	}
	sum := sha256.Sum256(data)
	id := "sha256:" + hex.EncodeToString(sum[:])
	e.Mu.Lock()
	defer e.Mu.Unlock()
	e.Images[id] = Image(id, "", int64(len(data)), []string{ref}, nil)
	return Stream(`{"status":"` + id + `"}`), nil
}
