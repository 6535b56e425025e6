package pause

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProgramELF(t *testing.T) {
	prog, err := Program("amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) >= 1024 {
		t.Errorf("program is %d bytes, want under 1 KiB", len(prog))
	}
	f, err := elf.NewFile(bytes.NewReader(prog))
	if err != nil {
		t.Fatalf("program does not parse as ELF: %v", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Errorf("ELF header: class %v, data %v, machine %v, type %v; want a little-endian 64-bit x86-64 executable",
			f.Class, f.Data, f.Machine, f.Type)
	}
	if len(f.Progs) != 1 {
		t.Fatalf("%d program headers, want 1", len(f.Progs))
	}
	p := f.Progs[0]
	if p.Type != elf.PT_LOAD || p.Flags != elf.PF_R|elf.PF_X || p.Off != 0 ||
		p.Filesz != uint64(len(prog)) || p.Memsz != uint64(len(prog)) {
		t.Errorf("program header %+v, want PT_LOAD R+X of the whole file", p.ProgHeader)
	}
	if f.Entry != p.Vaddr+codeOffset {
		t.Errorf("entry %#x, want %#x (the code after the headers)", f.Entry, p.Vaddr+codeOffset)
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NULL {
			t.Errorf("unexpected section %q", s.Name)
		}
	}
	// The handler address in the sigaction rt_sigaction gets is the handler's.
	if got := f.ByteOrder.Uint64(prog[codeOffset+actExitOff:]); got != p.Vaddr+codeOffset+onSignalOff {
		t.Errorf("sa_handler %#x, want %#x", got, p.Vaddr+codeOffset+onSignalOff)
	}
	if !bytes.Equal(prog[codeOffset+onSignalOff:][:2], []byte{0x31, 0xff}) {
		t.Errorf("onSignal does not start with xor edi, edi")
	}
}

func TestProgramOtherArchitectures(t *testing.T) {
	for _, arch := range []string{"arm64", "386", "riscv64", ""} {
		if prog, err := Program(arch); err == nil || prog != nil {
			t.Errorf("Program(%q) = %d bytes, %v; want an error", arch, len(prog), err)
		} else if !strings.Contains(err.Error(), "amd64") {
			t.Errorf("Program(%q) error %q does not say what is supported", arch, err)
		}
	}
}

func TestProgramIsStable(t *testing.T) {
	a, _ := Program("amd64")
	b, _ := Program("amd64")
	if !bytes.Equal(a, b) {
		t.Fatal("Program returns different bytes on each call")
	}
	a[0] = 0 // the caller owns what it gets
	if b, _ := Program("amd64"); b[0] != 0x7f {
		t.Fatal("Program returns shared bytes")
	}
}

// Signal numbers as bits of the masks in /proc/<pid>/status.
const (
	bitINT  = 1 << (syscall.SIGINT - 1)
	bitTERM = 1 << (syscall.SIGTERM - 1)
	bitCHLD = 1 << (syscall.SIGCHLD - 1)
)

func TestProgramRuns(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the pause program runs on linux/amd64 only, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	prog, err := Program("amd64")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		t.Fatal(err)
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := start(t, path)
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()

			// Handlers are installed as the program starts; wait for that.
			var cgt, ign uint64
			deadline := time.Now().Add(5 * time.Second)
			for {
				cgt, ign = sigMasks(t, cmd.Process.Pid)
				if cgt&(bitTERM|bitINT) == bitTERM|bitINT && ign&bitCHLD != 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("SigCgt %016x, SigIgn %016x: want SIGTERM and SIGINT caught, SIGCHLD ignored", cgt, ign)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if cgt&bitCHLD != 0 {
				t.Errorf("SigCgt %016x: SIGCHLD is caught, want it ignored", cgt)
			}

			select {
			case err := <-exited:
				t.Fatalf("pause exited by itself: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			if state := procState(t, cmd.Process.Pid); state != "S" {
				t.Errorf("pause is in state %q, want S (sleeping)", state)
			}

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("pause ended with %v on %v, want exit status 0", err, sig)
				}
				if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Exited() || ws.ExitStatus() != 0 {
					t.Fatalf("pause ended with wait status %v, want exit status 0", ws)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("pause still runs 5s after %v", sig)
			}
		})
	}
}

// start starts the program at path, retrying while the kernel still sees it as open for
// writing (ETXTBSY: a process forked elsewhere in the test binary may briefly hold the
// file's descriptor).
func start(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	for i := 0; ; i++ {
		cmd := exec.Command(path)
		err := cmd.Start()
		if err == nil {
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
				}
			})
			return cmd
		}
		if !errors.Is(err, syscall.ETXTBSY) || i == 50 {
			t.Fatalf("start pause: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sigMasks returns the caught and the ignored signals of process pid.
func sigMasks(t *testing.T, pid int) (caught, ignored uint64) {
	t.Helper()
	fields := procStatus(t, pid)
	parse := func(name string) uint64 {
		v, err := strconv.ParseUint(fields[name], 16, 64)
		if err != nil {
			t.Fatalf("/proc/%d/status %s: %v", pid, name, err)
		}
		return v
	}
	return parse("SigCgt"), parse("SigIgn")
}

// procState returns the one-letter state of process pid.
func procState(t *testing.T, pid int) string {
	t.Helper()
	state, _, _ := strings.Cut(procStatus(t, pid)["State"], " ")
	return state
}

func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return fields
}

func TestRootFS(t *testing.T) {
	if _, err := Program(runtime.GOARCH); err != nil {
		if _, err := RootFS(); err == nil {
			t.Fatalf("RootFS succeeds on %s, which has no program", runtime.GOARCH)
		}
		t.Skip(err)
	}
	fs, err := RootFS()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := RootFS()
	if !bytes.Equal(fs, again) {
		t.Error("RootFS differs from one call to the next")
	}
	want, _ := Program(runtime.GOARCH)
	tr := tar.NewReader(bytes.NewReader(fs))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Name != "pause" || hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o755 || hdr.Uid != 0 || hdr.Gid != 0 ||
		!hdr.ModTime.Equal(mtime) {
		t.Errorf("tar entry %q type %c mode %o uid %d gid %d mtime %v; want regular file pause, 0755, root, %v",
			hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime, mtime)
	}
	got, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("/pause in the root filesystem is not the program")
	}
	if hdr, err := tr.Next(); err != io.EOF {
		t.Errorf("second tar entry %v, %v; want only /pause", hdr, err)
	}
}

func TestImageName(t *testing.T) {
	name, err := imageName("amd64")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^dockercri\.local/pause:[0-9a-f]{12}$`).MatchString(name) {
		t.Errorf("image name %q, want dockercri.local/pause:<12 hex digits>", name)
	}
	if again, _ := imageName("amd64"); again != name {
		t.Errorf("image name %q, then %q", name, again)
	}
	if _, err := imageName("arm64"); err == nil {
		t.Error("an image name for arm64, which has no program")
	}
	if runtime.GOARCH == "amd64" {
		if own, err := ImageName(); err != nil || own != name {
			t.Errorf("ImageName() = %q, %v; want %q", own, err, name)
		}
	}
}
