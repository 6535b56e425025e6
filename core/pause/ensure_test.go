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

	"github.com/dockercri/dockercri/engine/enginetest"
)

// imports are the imports e was asked for.
func imports(e *enginetest.Engine) []enginetest.ImportCall {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	return slices.Clone(e.Imports)
}

// inspects is how many times e was asked to inspect an image.
func inspects(e *enginetest.Engine) int {
	e.Mu.Lock()
	defer e.Mu.Unlock()
	return len(e.ImageInspects)
}

// beforeImport makes e run fn as each import starts, without e.Mu held.
func beforeImport(e *enginetest.Engine, fn func()) *enginetest.Engine {
	e.Fail = func(method, _ string) error {
		if method == "ImageImport" {
			fn()
		}
		return nil
	}
	return e
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
	f := enginetest.New()
	got, err := Ensure(context.Background(), f, goarch)
	if err != nil {
		t.Fatal(err)
	}
	if got != name {
		t.Errorf("Ensure = %q, want %q", got, name)
	}
	calls := imports(f)
	if len(calls) != 1 {
		t.Fatalf("%d imports, want 1", len(calls))
	}
	imp := calls[0]
	if imp.Ref != name {
		t.Errorf("imported as %q, want %q", imp.Ref, name)
	}
	if imp.Source != "-" {
		t.Errorf("import source name %q, want \"-\" (the body)", imp.Source)
	}
	if want := []string{`CMD ["/pause"]`}; !slices.Equal(imp.Opts.Changes, want) {
		t.Errorf("import changes %q, want %q", imp.Opts.Changes, want)
	}
	if imp.Opts.Platform != "linux/"+goarch {
		t.Errorf("import platform %q, want linux/%s", imp.Opts.Platform, goarch)
	}
	if imp.Opts.Tag != "" || imp.Opts.Message != "" {
		t.Errorf("import options %+v, want only the CMD change and the platform", imp.Opts)
	}
	if rootfs, _ := RootFS(goarch); !bytes.Equal(imp.Data, rootfs) {
		t.Errorf("imported something other than the RootFS of %s", goarch)
	}

	// Now Docker has it.
	if got, err := Ensure(context.Background(), f, goarch); err != nil || got != name {
		t.Errorf("second Ensure = %q, %v; want %q", got, err, name)
	}
	if n := len(imports(f)); n != 1 {
		t.Errorf("%d imports after a second Ensure, want still 1", n)
	}
}

func TestEnsurePresent(t *testing.T) {
	name := mustName(t, testArch)
	f := enginetest.New(enginetest.Image(enginetest.HexID('a'), "", 1, []string{name}, nil))
	got, err := Ensure(context.Background(), f, testArch)
	if err != nil || got != name {
		t.Fatalf("Ensure = %q, %v; want %q", got, err, name)
	}
	if n := len(imports(f)); n != 0 {
		t.Errorf("%d imports of an image Docker has, want 0", n)
	}
}

func TestEnsureConcurrent(t *testing.T) {
	const callers = 16
	f := enginetest.New()
	// Hold the import until every caller has seen the image missing: each inspects
	// once before waiting for the import, and the importer once more.
	beforeImport(f, func() {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if inspects(f) >= callers+1 {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Error("callers did not all inspect before the import")
	})
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
	if n := len(imports(f)); n != 1 {
		t.Errorf("%d imports by %d concurrent callers, want 1", n, callers)
	}
}

func TestEnsureErrors(t *testing.T) {
	down := cerrdefs.ErrUnavailable.WithMessage("Cannot connect to the Docker daemon")
	inspectDown := func() *enginetest.Engine {
		e := enginetest.New()
		e.InspectImageErr = func(string) error { return down }
		return e
	}
	// importAnswers is a Docker that answers an import with err, or with the progress
	// messages msgs.
	importAnswers := func(err error, msgs ...string) *enginetest.Engine {
		e := enginetest.New()
		e.ImportFn = func(context.Context, image.ImportSource, string, image.ImportOptions) (io.ReadCloser, error) {
			if err != nil {
				return nil, err
			}
			return enginetest.Stream(msgs...), nil
		}
		return e
	}
	for _, tc := range []struct {
		name        string
		f           *enginetest.Engine
		wantImports int
		want        string
	}{
		{"inspect fails", inspectDown(), 0, "inspect pause image"},
		{"import refused", importAnswers(errors.New("boom")), 1, "import pause image"},
		{"error in the stream", importAnswers(nil, `{"status":"Importing"}`, `{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}`), 1, "no space left on device"},
		{"garbled stream", importAnswers(nil, `{"status":`), 1, "progress"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Ensure(context.Background(), tc.f, testArch)
			if err == nil || got != "" {
				t.Fatalf("Ensure = %q, %v; want an error", got, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if n := len(imports(tc.f)); n != tc.wantImports {
				t.Errorf("%d imports, want %d", n, tc.wantImports)
			}
		})
	}
	t.Run("inspect error kept", func(t *testing.T) {
		_, err := Ensure(context.Background(), inspectDown(), testArch)
		if !cerrdefs.IsUnavailable(err) {
			t.Errorf("error %v does not wrap Docker's Unavailable", err)
		}
	})
}

func TestEnsureCancelledWhileWaiting(t *testing.T) {
	release := make(chan struct{})
	slow := beforeImport(enginetest.New(), func() { <-release })
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
	if _, err := Ensure(ctx, enginetest.New(), testArch); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ensure waiting for another's import past its deadline: %v, want DeadlineExceeded", err)
	}
	close(release)
	<-done
}

func TestEnsureUnknownArchitecture(t *testing.T) {
	f := enginetest.New()
	got, err := Ensure(context.Background(), f, "riscv64")
	if err == nil || got != "" {
		t.Fatalf("Ensure for riscv64 = %q, %v; want an error (no program)", got, err)
	}
	if inspects(f) != 0 || len(imports(f)) != 0 {
		t.Errorf("%d inspects, %d imports for an architecture without a program, want none", inspects(f), len(imports(f)))
	}
}
