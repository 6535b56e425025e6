package pause

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/dockercri/dockercri/engine"
)

// fakeEngine is a Docker that knows images by name. It embeds engine.Engine to satisfy
// the interface; Ensure calls nothing but ImageInspect and ImageImport (anything else
// would panic).
type fakeEngine struct {
	engine.Engine

	mu      sync.Mutex
	images  map[string]bool
	inspect int
	imports []importCall

	inspectErr error
	importErr  error
	// stream is what ImageImport answers; a success message when empty.
	stream string
	// beforeImport runs as ImageImport starts, without mu held.
	beforeImport func()
}

type importCall struct {
	source, ref string
	rootfs      []byte
	opts        image.ImportOptions
}

func (f *fakeEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inspect++
	if f.inspectErr != nil {
		return image.InspectResponse{}, f.inspectErr
	}
	if !f.images[ref] {
		return image.InspectResponse{}, cerrdefs.ErrNotFound.WithMessage("No such image: " + ref)
	}
	return image.InspectResponse{ID: "sha256:0123", RepoTags: []string{ref}}, nil
}

func (f *fakeEngine) ImageImport(_ context.Context, src image.ImportSource, ref string, opts image.ImportOptions) (io.ReadCloser, error) {
	if f.beforeImport != nil {
		f.beforeImport()
	}
	rootfs, err := io.ReadAll(src.Source)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imports = append(f.imports, importCall{source: src.SourceName, ref: ref, rootfs: rootfs, opts: opts})
	if f.importErr != nil {
		return nil, f.importErr
	}
	stream := f.stream
	if stream == "" {
		stream = `{"status":"sha256:0123"}` + "\r\n"
		if f.images == nil {
			f.images = map[string]bool{}
		}
		f.images[ref] = true
	}
	return io.NopCloser(strings.NewReader(stream)), nil
}

func (f *fakeEngine) importCalls() []importCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.imports)
}

// testArch is the architecture the tests but TestEnsureImportsWhenMissing ask for.
const testArch = "arm64"

func mustName(t *testing.T, goarch string) string {
	t.Helper()
	name, err := ImageName(goarch)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func TestEnsureImportsWhenMissing(t *testing.T) {
	for _, a := range archs {
		t.Run(a.goarch, func(t *testing.T) { testEnsureImports(t, a.goarch) })
	}
}

func testEnsureImports(t *testing.T, goarch string) {
	name := mustName(t, goarch)
	f := &fakeEngine{}
	got, err := Ensure(context.Background(), f, goarch)
	if err != nil {
		t.Fatal(err)
	}
	if got != name {
		t.Errorf("Ensure = %q, want %q", got, name)
	}
	imports := f.importCalls()
	if len(imports) != 1 {
		t.Fatalf("%d imports, want 1", len(imports))
	}
	imp := imports[0]
	if imp.ref != name {
		t.Errorf("imported as %q, want %q", imp.ref, name)
	}
	if imp.source != "-" {
		t.Errorf("import source name %q, want \"-\" (the body)", imp.source)
	}
	if want := []string{`CMD ["/pause"]`}; !slices.Equal(imp.opts.Changes, want) {
		t.Errorf("import changes %q, want %q", imp.opts.Changes, want)
	}
	if imp.opts.Platform != "linux/"+goarch {
		t.Errorf("import platform %q, want linux/%s", imp.opts.Platform, goarch)
	}
	if imp.opts.Tag != "" || imp.opts.Message != "" {
		t.Errorf("import options %+v, want only the CMD change and the platform", imp.opts)
	}
	if rootfs, _ := RootFS(goarch); !bytes.Equal(imp.rootfs, rootfs) {
		t.Errorf("imported something other than the RootFS of %s", goarch)
	}

	// Now Docker has it.
	if got, err := Ensure(context.Background(), f, goarch); err != nil || got != name {
		t.Errorf("second Ensure = %q, %v; want %q", got, err, name)
	}
	if n := len(f.importCalls()); n != 1 {
		t.Errorf("%d imports after a second Ensure, want still 1", n)
	}
}

func TestEnsurePresent(t *testing.T) {
	name := mustName(t, testArch)
	f := &fakeEngine{images: map[string]bool{name: true}}
	got, err := Ensure(context.Background(), f, testArch)
	if err != nil || got != name {
		t.Fatalf("Ensure = %q, %v; want %q", got, err, name)
	}
	if n := len(f.importCalls()); n != 0 {
		t.Errorf("%d imports of an image Docker has, want 0", n)
	}
}

func TestEnsureConcurrent(t *testing.T) {
	const callers = 16
	f := &fakeEngine{}
	// Hold the import until every caller has seen the image missing: each inspects
	// once before waiting for the import, and the importer once more.
	f.beforeImport = func() {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			f.mu.Lock()
			n := f.inspect
			f.mu.Unlock()
			if n >= callers+1 {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Error("callers did not all inspect before the import")
	}
	var wg sync.WaitGroup
	names := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { names[i], errs[i] = Ensure(context.Background(), f, testArch) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || names[i] != names[0] || names[i] == "" {
			t.Errorf("caller %d: %q, %v", i, names[i], errs[i])
		}
	}
	if n := len(f.importCalls()); n != 1 {
		t.Errorf("%d imports by %d concurrent callers, want 1", n, callers)
	}
}

func TestEnsureErrors(t *testing.T) {
	down := cerrdefs.ErrUnavailable.WithMessage("Cannot connect to the Docker daemon")
	for _, tc := range []struct {
		name        string
		f           *fakeEngine
		wantImports int
		want        string
	}{
		{"inspect fails", &fakeEngine{inspectErr: down}, 0, "inspect pause image"},
		{"import refused", &fakeEngine{importErr: errors.New("boom")}, 1, "import pause image"},
		{"error in the stream", &fakeEngine{stream: `{"status":"Importing"}` + "\n" + `{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}` + "\n"}, 1, "no space left on device"},
		{"garbled stream", &fakeEngine{stream: `{"status":`}, 1, "progress"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Ensure(context.Background(), tc.f, testArch)
			if err == nil || got != "" {
				t.Fatalf("Ensure = %q, %v; want an error", got, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if n := len(tc.f.importCalls()); n != tc.wantImports {
				t.Errorf("%d imports, want %d", n, tc.wantImports)
			}
		})
	}
	t.Run("inspect error kept", func(t *testing.T) {
		_, err := Ensure(context.Background(), &fakeEngine{inspectErr: down}, testArch)
		if !cerrdefs.IsUnavailable(err) {
			t.Errorf("error %v does not wrap Docker's Unavailable", err)
		}
	})
}

func TestEnsureCancelledWhileWaiting(t *testing.T) {
	release := make(chan struct{})
	slow := &fakeEngine{beforeImport: func() { <-release }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := Ensure(context.Background(), slow, testArch); err != nil {
			t.Error(err)
		}
	}()
	// Wait until the slow caller holds the import.
	for len(importing) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Ensure(ctx, &fakeEngine{}, testArch); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ensure waiting for another's import past its deadline: %v, want DeadlineExceeded", err)
	}
	close(release)
	<-done
}

func TestEnsureUnknownArchitecture(t *testing.T) {
	f := &fakeEngine{}
	got, err := Ensure(context.Background(), f, "riscv64")
	if err == nil || got != "" {
		t.Fatalf("Ensure for riscv64 = %q, %v; want an error (no program)", got, err)
	}
	if f.inspect != 0 || len(f.importCalls()) != 0 {
		t.Errorf("%d inspects, %d imports for an architecture without a program, want none", f.inspect, len(f.importCalls()))
	}
}
