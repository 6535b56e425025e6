package dockerview

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"

	"github.com/dockercri/dockercri/engine/enginetest"
)

const label = "io.kubernetes.docker.type"

// The view's tests run on enginetest's Docker; they feed its event stream themselves
// (Emit), after changing its containers behind the view's back (put).
type fakeDocker = enginetest.Engine

func newFake() *fakeDocker { return enginetest.New() }

// put makes Docker's container id be in state, with the view's label or not, without
// an event.
func put(f *fakeDocker, id, state string, labelled bool) {
	labels := map[string]string{}
	if labelled {
		labels[label] = "container"
	}
	f.Put(container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{ID: id, State: &container.State{Status: state}}, Config: &container.Config{Labels: labels}})
}

// failLists makes f's container lists fail with err.
func failLists(f *fakeDocker, err error) {
	f.Fail = func(method, _ string) error {
		if method == "ContainerList" {
			return err
		}
		return nil
	}
}

func startView(t *testing.T, f *fakeDocker) *View {
	t.Helper()
	c := New(f, label)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for !c.Synced() {
		if time.Now().After(deadline) {
			t.Fatal("cache never synced")
		}
		time.Sleep(time.Millisecond)
	}
	return c
}

func state(t *testing.T, c *View, id string) string {
	t.Helper()
	o, err := c.Get(id)
	if err != nil {
		return err.Error()
	}
	return o.State.Status
}

func TestViewFollowsEvents(t *testing.T) {
	f := newFake()
	put(f, "aaa111", "running", true)
	put(f, "foreign", "running", false)
	c := startView(t, f)
	if all, _ := c.List(context.Background()); len(all) != 1 {
		t.Fatalf("initial view %d objects, want the labelled one only", len(all))
	}
	changes, stop := c.Subscribe()
	defer stop()

	put(f, "aaa111", "exited", true)
	f.Emit("aaa111", events.ActionDie)
	if ch := <-changes; ch.Action != events.ActionDie || ch.Obj.State.Status != "exited" || ch.Prev.State.Status != "running" {
		t.Errorf("die change = %+v", ch)
	}
	if got := state(t, c, "aaa"); got != "exited" {
		t.Errorf("after die, by prefix: %s", got)
	}

	// Events that change nothing are not even inspected.
	before := f.Inspects
	f.Emit("aaa111", "exec_start: sh")
	put(f, "aaa222", "created", true)
	f.Emit("aaa222", events.ActionCreate)
	<-changes
	if f.Inspects != before+1 {
		t.Errorf("%d inspects for an exec event and a create, want 1", f.Inspects-before)
	}
	if _, err := c.Get("aaa"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("ambiguous prefix: %v", err)
	}

	// dockercri's own removal (Refresh) before Docker's destroy event: the event still
	// says whose container it was.
	f.Delete("aaa222")
	if _, err := c.Refresh(context.Background(), "aaa222"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Refresh of a removed container: %v", err)
	}
	if _, err := c.Get("aaa222"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed container still in view: %v", err)
	}
	f.Emit("aaa222", events.ActionDestroy)
	if ch := <-changes; ch.Action != events.ActionDestroy || ch.Obj != nil || ch.Prev == nil || ch.Prev.ID != "aaa222" {
		t.Errorf("destroy change = %+v", ch)
	}

	// A broken stream: the view is not current until it lists again, and then it is,
	// in a new epoch.
	// What waits for that (EpochMoved) is woken.
	moved := c.EpochMoved()
	epochBefore, _ := c.Epoch()
	select {
	case <-moved:
		t.Fatal("EpochMoved closed with no change of the epoch")
	default:
	}
	put(f, "bbb333", "running", true) // missed while the stream was down
	f.BreakEvents(errors.New("stream broke"))
	deadline := time.Now().Add(5 * time.Second)
	for state(t, c, "bbb333") != "running" {
		if time.Now().After(deadline) {
			t.Fatal("the view did not list again after the stream broke")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if after, live := c.Epoch(); after == epochBefore || !live {
		t.Errorf("epoch %d (live %v) after the view listed again, %d before", after, live, epochBefore)
	}
	select {
	case <-moved:
	default:
		t.Error("EpochMoved not closed after the view listed again in a new epoch")
	}
	if again := c.EpochMoved(); again == moved {
		t.Error("EpochMoved returned the closed channel again")
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	f := newFake()
	c := startView(t, f)
	changes, stop := c.Subscribe()
	defer stop()
	put(f, "x", "running", true)
	for range subscriberBuffer + 1 {
		f.Emit("x", events.ActionStart)
	}
	// The last event is applied after f.event returns: wait for the drop before reading.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.RLock()
		subscribed := len(c.subs)
		c.mu.RUnlock()
		if subscribed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow subscriber was not dropped")
		}
		time.Sleep(time.Millisecond)
	}
	n := 0
	for range changes {
		n++
	}
	if n != subscriberBuffer {
		t.Errorf("a subscriber that never reads got %d changes before being dropped, want %d", n, subscriberBuffer)
	}
}

// A snapshot stays the same (slice and generation) until the view changes, and every
// change gives a new generation whose snapshot shows it.
func TestSnapshotGenerations(t *testing.T) {
	f := newFake()
	put(f, "aaa111", "running", true)
	c := startView(t, f)
	changes, stop := c.Subscribe()
	defer stop()
	s1, g1, err := c.Snapshot(context.Background())
	if err != nil || len(s1) != 1 {
		t.Fatalf("snapshot: %d objects, %v", len(s1), err)
	}
	if s2, g2, _ := c.Snapshot(context.Background()); g2 != g1 || &s2[0] != &s1[0] {
		t.Errorf("an unchanged view gave a new snapshot (generation %d → %d)", g1, g2)
	}
	put(f, "aaa111", "exited", true)
	f.Emit("aaa111", events.ActionDie)
	<-changes
	s3, g3, _ := c.Snapshot(context.Background())
	if g3 == g1 || len(s3) != 1 || s3[0].State.Status != "exited" {
		t.Errorf("after die: generation %d (was %d), %d objects", g3, g1, len(s3))
	}
	f.Delete("aaa111")
	if _, err := c.Refresh(context.Background(), "aaa111"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if s4, g4, _ := c.Snapshot(context.Background()); g4 == g3 || len(s4) != 0 {
		t.Errorf("after removal: generation %d (was %d), %d objects", g4, g3, len(s4))
	}
}

// startGated runs a view of a fake Docker holding one container, whose listings wait
// until the test closes f.ListGate.
func startGated(t *testing.T) (*fakeDocker, *View, context.Context) {
	f := newFake()
	put(f, "aaa111", "running", true)
	f.ListGate = make(chan struct{})
	c := New(f, label)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f, c, ctx
}

// Right after a start, while the view's first listing runs (Docker is up, but has many
// containers or is slow), a list waits for it, within its deadline, instead of
// answering that the view is not current; once Docker is known down, it does not wait.
func TestSnapshotWaitsForTheFirstLoad(t *testing.T) {
	f, c, _ := startGated(t)

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if _, _, err := c.Snapshot(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Snapshot during the first load = %v; want it to wait until its deadline", err)
	}
	got := make(chan error, 1)
	go func() {
		objs, _, err := c.Snapshot(context.Background())
		if err == nil && len(objs) != 1 {
			err = fmt.Errorf("%d objects, want 1", len(objs))
		}
		got <- err
	}()
	close(f.ListGate)
	if err := <-got; err != nil {
		t.Fatalf("Snapshot once the first load is done: %v", err)
	}

	// Docker down: the stream breaks and every listing fails; a snapshot says so
	// without waiting for its deadline (it waits at most for the try under way).
	f.Mu.Lock()
	failLists(f, errors.New("connection refused"))
	f.Mu.Unlock()
	f.BreakEvents(errors.New("stream broke"))
	deadline := time.Now().Add(5 * time.Second)
	for c.Synced() {
		if time.Now().After(deadline) {
			t.Fatal("the view stayed current with Docker down")
		}
		time.Sleep(time.Millisecond)
	}
	long, cancelLong := context.WithTimeout(context.Background(), time.Hour)
	defer cancelLong()
	if _, _, err := c.Snapshot(long); !errors.Is(err, ErrNotSynced) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Snapshot with Docker down = %v, want ErrNotSynced at once", err)
	}
}

// A container dockercri makes while the view is being listed (its Refresh comes before
// the listing ends, the listing read Docker before the container was there) stays in the
// view: the listing does not drop it.
func TestRefreshDuringTheLoadIsKept(t *testing.T) {
	f, c, ctx := startGated(t)
	for {
		f.Mu.Lock()
		n := f.ContainerLists
		f.Mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// The listing has begun (it is held) and read nothing of bbb222 yet; it will list
	// what the fake has when let go, so bbb222 is taken out of Docker's list meanwhile
	// as a listing that read Docker before it was made would not have it.
	put(f, "bbb222", "created", true)
	if _, err := c.Refresh(ctx, "bbb222"); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	saved := f.Containers["bbb222"]
	delete(f.Containers, "bbb222")
	f.Mu.Unlock()
	close(f.ListGate)
	if _, _, err := c.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	f.Containers["bbb222"] = saved
	f.Mu.Unlock()
	if _, err := c.Get("bbb222"); err != nil {
		t.Errorf("the container refreshed during the listing: %v", err)
	}
}

// Docker 20.10 publishes an oom that came after the exit without marking the container
// OOMKilled: the view marks it, keeps the mark when it lists again, and drops it when
// the container starts again.
func TestOOMEventAfterDie(t *testing.T) {
	f := newFake()
	put(f, "oom1", "running", true)
	c := startView(t, f)
	changes, stop := c.Subscribe()
	defer stop()
	oomKilled := func() bool {
		t.Helper()
		o, err := c.Get("oom1")
		if err != nil {
			t.Fatal(err)
		}
		return o.State.OOMKilled
	}

	put(f, "oom1", "exited", true) // exit 137, OOMKilled false: the oom is still on its way
	f.Emit("oom1", events.ActionDie)
	<-changes
	if oomKilled() {
		t.Fatal("OOMKilled before any oom event")
	}
	f.Emit("oom1", events.ActionOOM)
	if ch := <-changes; ch.Action != events.ActionOOM || !ch.Obj.State.OOMKilled {
		t.Errorf("oom change after the die: %+v", ch.Obj.State)
	}
	if !oomKilled() {
		t.Error("an oom event after the die: not OOMKilled")
	}
	if insp, _ := f.Inspected("oom1"); insp.State.OOMKilled {
		t.Error("the view changed Docker's own inspect")
	}
	if _, err := c.Refresh(context.Background(), "oom1"); err != nil || !oomKilled() {
		t.Errorf("after a Refresh: OOMKilled %v (%v)", oomKilled(), err)
	}

	epoch, _ := c.Epoch()
	f.BreakEvents(errors.New("stream broke"))
	deadline := time.Now().Add(5 * time.Second)
	for e, live := c.Epoch(); e == epoch || !live; e, live = c.Epoch() {
		if time.Now().After(deadline) {
			t.Fatal("the view did not list again after the stream broke")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !oomKilled() {
		t.Error("listed again: the oom is forgotten")
	}

	put(f, "oom1", "running", true)
	f.Emit("oom1", events.ActionStart)
	<-changes
	if oomKilled() {
		t.Error("started again: still OOMKilled")
	}
}
