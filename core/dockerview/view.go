// Package dockerview keeps dockercri's view of the pod containers Docker holds (those with
// the dockershim type label), filled from one list at start and kept current from
// Docker's event stream, so that the kubelet's constant polling of lists and statuses
// costs dockerd nothing. dockercri's own changes are applied at once (Refresh), so a
// list right after a create or a remove shows it.
package dockerview

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/engine"
	"github.com/dockercri/dockercri/metrics"
)

// Errors of Get.
var (
	ErrNotFound  = errors.New("no such container")
	ErrAmbiguous = errors.New("id prefix matches several containers")
	ErrNotSynced = errors.New("the view of Docker is not current (Docker unreachable)")
)

// Change is one change of a container, for subscribers.
type Change struct {
	ID string
	// Action is Docker's: create, start, die, destroy, …
	Action events.Action
	// Obj is the container as it is now; nil once destroyed.
	Obj *container.InspectResponse
	// Prev is the container as the view had it before, nil if it had not.
	Prev *container.InspectResponse
	// Time is when Docker saw it, in nanoseconds.
	Time int64
}

// View is the view. Its methods are safe for concurrent use.
type View struct {
	docker engine.Engine
	label  string

	mu     sync.RWMutex
	objs   map[string]*container.InspectResponse
	synced bool
	// loading is closed when the listing under way ends, whether it loaded the view or
	// not; nil while none is (Docker down, between two tries).
	loading chan struct{}
	// storedDuringLoad are the containers Refresh or an event stored while a listing
	// was under way (nil: gone): they are newer than what the listing may have read,
	// which would otherwise drop a container made meanwhile from the view.
	storedDuringLoad map[string]*container.InspectResponse
	epoch            uint64
	// epochMoved is closed when epoch or synced changes next (then replaced): what
	// waits for a new run of the event stream sleeps on it instead of polling Epoch.
	epochMoved chan struct{}
	// gen numbers the states of objs: it changes with every change of the view, and
	// snap (nil until asked) is objs as a slice for that state.
	gen  uint64
	snap []*container.InspectResponse
	subs map[chan Change]struct{}
	// gone keeps what dockercri removed itself (Refresh) until Docker's destroy event
	// comes, which then still tells whose container it was.
	gone map[string]goneObj
	// oomed are the containers Docker sent an oom event for since they last started.
	oomed map[string]bool
}

type goneObj struct {
	obj *container.InspectResponse
	at  time.Time
}

// goneTTL bounds how long a removed container waits for its destroy event.
const goneTTL = time.Minute

// subscriberBuffer is how many changes a slow subscriber may lag behind before it is
// dropped (its channel closed: it should list again and resubscribe).
const subscriberBuffer = 1024

// New returns an empty view of the containers of docker that carry label.
func New(docker engine.Engine, label string) *View {
	// The first load is under way from the start: Run is about to begin it, and a call
	// that comes first waits for it rather than fail.
	return &View{docker: docker, label: label, objs: map[string]*container.InspectResponse{}, subs: map[chan Change]struct{}{}, gone: map[string]goneObj{},
		oomed: map[string]bool{}, loading: make(chan struct{}), epochMoved: make(chan struct{})}
}

// actions are the events that change what the view shows, each worth an inspect. Exec
// and health events are many (every probe) and change nothing; kill comes before the
// change (die brings it) and stop after it, so neither is worth one.
var actions = map[events.Action]bool{
	events.ActionCreate: true, events.ActionStart: true, events.ActionDie: true, events.ActionDestroy: true,
	events.ActionPause: true, events.ActionUnPause: true, events.ActionOOM: true, events.ActionRename: true,
	events.ActionUpdate: true, events.ActionRestart: true,
}

// Run keeps the view current until ctx ends: it follows Docker's events and, whenever
// the stream (re)starts, lists everything again, since events may have been missed.
func (c *View) Run(ctx context.Context) {
	for delay := 100 * time.Millisecond; ctx.Err() == nil; delay = min(2*delay, 5*time.Second) {
		evCtx, cancel := context.WithCancel(ctx)
		msgs, errs := c.docker.Events(evCtx, events.ListOptions{Filters: filters.NewArgs(
			filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", c.label))})
		c.beginLoad()
		err := c.resync(ctx)
		c.endLoad()
		if err != nil {
			cancel()
			klog.V(2).InfoS("Cannot list Docker's containers; retrying", "err", err)
			sleep(ctx, delay)
			continue
		}
		delay = 100 * time.Millisecond
		err = c.follow(ctx, msgs, errs)
		cancel()
		c.setSynced(false)
		if ctx.Err() == nil {
			metrics.EventStreamReconnects.Inc()
			klog.V(2).InfoS("Docker's event stream ended; listing again", "err", err)
			sleep(ctx, delay)
		}
	}
}

func (c *View) follow(ctx context.Context, msgs <-chan events.Message, errs <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case m := <-msgs:
			if actions[m.Action] {
				c.apply(ctx, m)
			}
		}
	}
}

// beginLoad and endLoad bracket each listing, for the calls that wait for it.
func (c *View) beginLoad() {
	c.mu.Lock()
	if c.loading == nil {
		c.loading = make(chan struct{})
	}
	c.mu.Unlock()
}

func (c *View) endLoad() {
	c.mu.Lock()
	c.storedDuringLoad = nil
	if c.loading != nil {
		close(c.loading)
		c.loading = nil
	}
	c.mu.Unlock()
}

// wait returns once the view is current: at once when it is, when the listing under
// way has loaded it (at start, and after a break of Docker's event stream), and
// ErrNotSynced when that listing failed, none is under way (Docker is down), or ctx
// ends first (wrapping ctx's error).
func (c *View) wait(ctx context.Context) error {
	c.mu.RLock()
	synced, loading := c.synced, c.loading
	c.mu.RUnlock()
	if synced {
		return nil
	}
	if loading == nil {
		return ErrNotSynced
	}
	select {
	case <-loading:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotSynced, ctx.Err())
	}
	if !c.Synced() {
		return ErrNotSynced
	}
	return nil
}

// resync loads every labelled container.
func (c *View) resync(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	list, err := c.docker.ContainerList(lctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", c.label))})
	if err != nil {
		return err
	}
	objs := make(map[string]*container.InspectResponse, len(list))
	for _, s := range list {
		insp, err := c.docker.ContainerInspect(lctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		objs[s.ID] = &insp
	}
	c.mu.Lock()
	for id, obj := range objs {
		c.markOOM(id, obj)
	}
	for id, obj := range c.storedDuringLoad {
		if obj == nil {
			delete(objs, id)
		} else {
			objs[id] = obj
		}
	}
	c.storedDuringLoad = nil
	// A new run of the event stream: a new epoch (facts read before are stale).
	c.objs, c.synced = objs, true
	c.epoch++
	c.moveEpochLocked()
	c.changed()
	c.mu.Unlock()
	return nil
}

// apply brings one container up to date after an event.
func (c *View) apply(ctx context.Context, m events.Message) {
	c.noteOOM(m.Actor.ID, m.Action)
	var obj *container.InspectResponse
	if m.Action != events.ActionDestroy {
		var err error
		if obj, err = c.inspect(ctx, m.Actor.ID); err != nil && !errors.Is(err, ErrNotFound) {
			klog.V(2).InfoS("Inspect a container after an event", "containerID", m.Actor.ID, "action", m.Action, "err", err)
			return
		}
	}
	prev := c.store(m.Actor.ID, obj)
	if obj == nil {
		// Removed by dockercri before this event (Refresh) or by it: the last view.
		prev = c.takeGone(m.Actor.ID)
	}
	c.publish(Change{ID: m.Actor.ID, Action: m.Action, Obj: obj, Prev: prev, Time: m.TimeNano})
}

// Refresh inspects container id now and updates the view: dockercri calls it after each
// change it makes. It returns the container, or ErrNotFound once it is gone.
func (c *View) Refresh(ctx context.Context, id string) (*container.InspectResponse, error) {
	obj, err := c.inspect(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if obj != nil && obj.ID != "" {
		id = obj.ID
	}
	c.store(id, obj)
	return obj, err
}

func (c *View) inspect(ctx context.Context, id string) (*container.InspectResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	insp, err := c.docker.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if insp.Config == nil || insp.Config.Labels[c.label] == "" {
		return nil, ErrNotFound // not a pod container: not in the view
	}
	return &insp, nil
}

// store sets the view of id to obj (nil: gone) and returns what it was.
func (c *View) store(id string, obj *container.InspectResponse) *container.InspectResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.objs[id]
	if prev != nil || obj != nil {
		c.changed()
	}
	c.markOOM(id, obj)
	if c.loading != nil {
		if c.storedDuringLoad == nil {
			c.storedDuringLoad = map[string]*container.InspectResponse{}
		}
		c.storedDuringLoad[id] = obj
	}
	if obj == nil {
		delete(c.objs, id)
		delete(c.oomed, id)
		if prev != nil {
			now := time.Now()
			for gid, g := range c.gone {
				if now.Sub(g.at) > goneTTL {
					delete(c.gone, gid)
				}
			}
			c.gone[id] = goneObj{obj: prev, at: now}
		}
	} else {
		c.objs[id] = obj
	}
	return prev
}

// Docker 20.10 sets State.OOMKilled only from what it knew when the container exited:
// when containerd's shim sends the OOM after the exit (its OOM watcher and its reaper
// race, as they do on a loaded machine with cgroup v1), Docker still publishes the oom
// event but the container stays OOMKilled false for good, and dockercri would report a
// container the kernel OOM-killed as a plain Error. Docker 23 sets the flag on the oom
// event; the view does as Docker 23 does, on every engine: a container with an oom event
// since it last started is OOMKilled.
func (c *View) noteOOM(id string, action events.Action) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch action {
	case events.ActionOOM:
		c.oomed[id] = true
	case events.ActionStart, events.ActionRestart, events.ActionDestroy:
		delete(c.oomed, id)
	}
}

// markOOM, c.mu held, marks obj (a fresh inspect, not yet shared) OOMKilled if id had
// an oom event since it last started.
func (c *View) markOOM(id string, obj *container.InspectResponse) {
	if obj == nil || obj.ContainerJSONBase == nil || obj.State == nil || !c.oomed[id] {
		return
	}
	st := *obj.State
	st.OOMKilled = true
	obj.State = &st
}

func (c *View) setSynced(v bool) {
	c.mu.Lock()
	if c.synced != v || v {
		c.moveEpochLocked()
	}
	c.synced = v
	if v {
		c.epoch++
	}
	c.mu.Unlock()
}

// moveEpochLocked wakes what waits on EpochMoved; c.mu is held for writing.
func (c *View) moveEpochLocked() {
	close(c.epochMoved)
	c.epochMoved = make(chan struct{})
}

// Epoch numbers the unbroken runs of Docker's event stream: it changes each time the
// view is listed again after a break. ok is false while the stream is down.
func (c *View) Epoch() (epoch uint64, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch, c.synced
}

// EpochMoved returns a channel closed when what Epoch reports changes next. Take it
// before reading Epoch, so that a change in between is not missed.
func (c *View) EpochMoved() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epochMoved
}

// takeGone returns and forgets what the view had of a container removed before its
// destroy event.
func (c *View) takeGone(id string) *container.InspectResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.gone[id]
	delete(c.gone, id)
	if !ok {
		return nil
	}
	return g.obj
}

// Synced tells whether the view follows Docker now.
func (c *View) Synced() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced
}

// Get returns the container with id, a full id or a unique prefix.
func (c *View) Get(id string) (*container.InspectResponse, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.synced {
		return nil, ErrNotSynced
	}
	if obj, ok := c.objs[id]; ok {
		return obj, nil
	}
	var found *container.InspectResponse
	for full, obj := range c.objs {
		if strings.HasPrefix(full, id) {
			if found != nil {
				return nil, ErrAmbiguous
			}
			found = obj
		}
	}
	if found == nil {
		return nil, ErrNotFound
	}
	return found, nil
}

// Len is how many containers the view holds.
func (c *View) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.objs)
}

// List returns every container of the view, or ErrNotSynced; see Snapshot.
func (c *View) List(ctx context.Context) ([]*container.InspectResponse, error) {
	objs, _, err := c.Snapshot(ctx)
	return objs, err
}

// Snapshot returns every container of the view and the generation of that state: the
// same generation, the same containers. The slice is shared by every caller until the
// view changes: read it, never modify it. While the view is being listed (right after
// a start of dockercri, or a break of Docker's event stream) it waits for that listing,
// for as long as ctx lets it: Docker is up, and the answer is a moment away.
func (c *View) Snapshot(ctx context.Context) ([]*container.InspectResponse, uint64, error) {
	if err := c.wait(ctx); err != nil {
		return nil, 0, err
	}
	c.mu.RLock()
	snap, gen, synced := c.snap, c.gen, c.synced
	c.mu.RUnlock()
	if !synced {
		return nil, 0, ErrNotSynced
	}
	if snap != nil {
		return snap, gen, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == nil {
		c.snap = make([]*container.InspectResponse, 0, len(c.objs))
		for _, obj := range c.objs {
			c.snap = append(c.snap, obj)
		}
	}
	return c.snap, c.gen, nil
}

// changed is called, c.mu held, on every change of objs.
func (c *View) changed() {
	c.gen++
	c.snap = nil
}

// Subscribe returns a channel of the changes from now on, and the function that ends
// the subscription. A subscriber too slow to keep up has its channel closed.
func (c *View) Subscribe() (<-chan Change, func()) {
	ch := make(chan Change, subscriberBuffer)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.subs[ch]; ok {
			delete(c.subs, ch)
			close(ch)
		}
	}
}

func (c *View) publish(ch Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for sub := range c.subs {
		select {
		case sub <- ch:
		default:
			klog.InfoS("Dropping a container-event subscriber that fell behind")
			delete(c.subs, sub)
			close(sub)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
