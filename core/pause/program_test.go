package pause

import (
	"archive/tar"
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
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

// archs are the architectures with a built-in program: the ELF machine of each, and the
// layout the checks below follow.
var archs = []struct {
	goarch   string
	machine  elf.Machine
	onSignal int // offset of the handler in the code
	actExit  int // offset of its sigaction
	// handlerStart is the handler's first instruction: status 0.
	handlerStart []byte
	// qemu is qemu-user's name for the architecture.
	qemu string
}{
	{"amd64", elf.EM_X86_64, amd64OnSignalOff, amd64ActExitOff, []byte{0x31, 0xff}, "x86_64"},               // xor edi, edi
	{"arm64", elf.EM_AARCH64, arm64OnSignalOff, arm64ActExitOff, []byte{0x00, 0x00, 0x80, 0xd2}, "aarch64"}, // mov x0, #0
}

func TestProgramELF(t *testing.T) {
	for _, a := range archs {
		t.Run(a.goarch, func(t *testing.T) {
			prog, err := Program(a.goarch)
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
			if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != a.machine || f.Type != elf.ET_EXEC {
				t.Errorf("ELF header: class %v, data %v, machine %v, type %v; want a little-endian 64-bit %v executable",
					f.Class, f.Data, f.Machine, f.Type, a.machine)
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
			if got, want := f.ByteOrder.Uint64(prog[codeOffset+a.actExit:]), p.Vaddr+codeOffset+uint64(a.onSignal); got != want {
				t.Errorf("sa_handler %#x, want %#x", got, want)
			}
			if got := prog[codeOffset+a.onSignal:][:len(a.handlerStart)]; !bytes.Equal(got, a.handlerStart) {
				t.Errorf("onSignal starts with % x, want % x (status 0)", got, a.handlerStart)
			}
		})
	}
}

// The A64 encoders give what GNU as does (aarch64-linux-gnu-objdump of its output).
func TestARM64Encoders(t *testing.T) {
	for _, tc := range []struct {
		asm       string
		got, want uint32
	}{
		{"mov x8, #134", movz(8, 134), 0xd28010c8},
		{"mov x0, #0", movz(0, 0), 0xd2800000},
		{"mov x3, #8", movz(3, 8), 0xd2800103},
		{"mov x9, #0xffff", movz(9, 0xffff), 0xd29fffe9},
		{"adr x1, .+0x68", adr(1, 0, 0x68), 0x10000341},
		{"adr x1, .+0x60", adr(1, 0x28, 0x88), 0x10000301},
		{"adr x2, .+1", adr(2, 0, 1), 0x30000002},
		{"adr x0, .-4", adr(0, 4, 0), 0x10ffffe0},
		{"cbnz x0, .+0x3c", cbnz(0, 0x18, 0x54), 0xb50001e0},
		{"cbnz x5, .-8", cbnz(5, 8, 0), 0xb5ffffc5},
		{"b .-8", b(0x50, 0x48), 0x17fffffe},
		{"b .+8", b(0x58, 0x60), 0x14000002},
		{"svc #0", svc0, 0xd4000001},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %08x, want %08x", tc.asm, tc.got, tc.want)
		}
	}
}

func TestProgramOtherArchitectures(t *testing.T) {
	for _, arch := range []string{"386", "arm", "riscv64", "x86_64", "aarch64", ""} {
		if prog, err := Program(arch); err == nil || prog != nil {
			t.Errorf("Program(%q) = %d bytes, %v; want an error", arch, len(prog), err)
		} else if !strings.Contains(err.Error(), "amd64 and arm64") {
			t.Errorf("Program(%q) error %q does not say what is supported", arch, err)
		}
	}
}

func TestProgramIsStable(t *testing.T) {
	for _, a := range archs {
		p, _ := Program(a.goarch)
		q, _ := Program(a.goarch)
		if !bytes.Equal(p, q) {
			t.Fatalf("Program(%q) returns different bytes on each call", a.goarch)
		}
		p[0] = 0 // the caller owns what it gets
		if q, _ := Program(a.goarch); q[0] != 0x7f {
			t.Fatalf("Program(%q) returns shared bytes", a.goarch)
		}
	}
}

// Signal numbers as bits of the masks in /proc/<pid>/status.
const (
	bitINT  = 1 << (syscall.SIGINT - 1)
	bitTERM = 1 << (syscall.SIGTERM - 1)
	bitCHLD = 1 << (syscall.SIGCHLD - 1)
)

// TestProgramRuns runs each program: natively on its own architecture, under Debian's
// qemu-user-static on the others. Under qemu the process seen in /proc is qemu's: it
// catches every signal that would kill (to pass it to the program), so which signals the
// program catches does not show; what it ignores does (qemu ignores those for it), and
// the system call it sleeps in is qemu's implementation of the program's.
func TestProgramRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the pause programs are Linux programs, not %s", runtime.GOOS)
	}
	for _, a := range archs {
		t.Run(a.goarch, func(t *testing.T) {
			prog, err := Program(a.goarch)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "pause")
			if err := os.WriteFile(path, prog, 0o755); err != nil {
				t.Fatal(err)
			}
			argv, emulated := runner(t, a.goarch, a.qemu, path)

			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
				t.Run(sig.String(), func(t *testing.T) {
					cmd := start(t, argv, nil)
					exited := make(chan error, 1)
					go func() { exited <- cmd.Wait() }()
					waitSleeping(t, cmd.Process.Pid, emulated, exited)
					cgt, ign := sigMasks(t, cmd.Process.Pid)
					if ign&bitCHLD == 0 {
						t.Errorf("SigIgn %016x: SIGCHLD is not ignored", ign)
					}
					if !emulated && cgt&bitCHLD != 0 {
						t.Errorf("SigCgt %016x: SIGCHLD is caught, want it ignored", cgt)
					}
					stop(t, cmd, exited, sig)
				})
			}

			// An orphan in the pause's PID namespace is reparented to it: when it
			// exits, the kernel reaps it (SIGCHLD ignored), leaving no zombie.
			t.Run("reaps orphans", func(t *testing.T) {
				if os.Geteuid() != 0 {
					t.Skip("a PID namespace of its own needs root")
				}
				nsenter, err := exec.LookPath("nsenter")
				if err != nil {
					t.Skipf("no nsenter (util-linux) to start a process in the pause's PID namespace: %v", err)
				}
				cmd := start(t, argv, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID})
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				pid := cmd.Process.Pid
				waitSleeping(t, pid, emulated, exited)

				// sh starts sleep in the background and exits: sleep's parent is the pause.
				if out, err := exec.Command(nsenter, "--target", strconv.Itoa(pid), "--pid", "--",
					"/bin/sh", "-c", "sleep 600 </dev/null >/dev/null 2>&1 &").CombinedOutput(); err != nil {
					t.Fatalf("nsenter: %v\n%s", err, out)
				}
				orphan := waitChild(t, pid)
				if err := syscall.Kill(orphan, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(20 * time.Second)
				for {
					state, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", orphan))
					if errors.Is(err, os.ErrNotExist) {
						break // reaped
					}
					if time.Now().After(deadline) {
						t.Fatalf("the killed orphan %d is not reaped: /proc/%d/stat %s", orphan, orphan, state)
					}
					time.Sleep(5 * time.Millisecond)
				}
				stop(t, cmd, exited, syscall.SIGTERM)
			})
		})
	}
}

// runner returns how to run the program at path for goarch on this machine, and whether
// that is under qemu: the program itself on its own architecture, else
// qemu-<arch>-static, named as binfmt_misc may not send the program to it. It skips the
// test when that qemu is missing.
func runner(t *testing.T, goarch, qemuArch, path string) (argv []string, emulated bool) {
	t.Helper()
	if goarch == runtime.GOARCH {
		return []string{path}, false
	}
	qemu := "qemu-" + qemuArch + "-static"
	if out, err := exec.Command(qemu, "--version").CombinedOutput(); err != nil {
		t.Skipf("cannot run the %s program on %s: %s does not run (Debian's qemu-user-static; `hack/ensure-deps.sh unit` installs it): %v %s",
			goarch, runtime.GOARCH, qemu, err, bytes.TrimSpace(out))
	}
	return []string{qemu, path}, true
}

// start starts argv, retrying while the kernel still sees the program as open for
// writing (ETXTBSY: a process forked elsewhere in the test binary may briefly hold the
// file's descriptor). The process is killed at the end of the test if it still runs.
func start(t *testing.T, argv []string, attr *syscall.SysProcAttr) *exec.Cmd {
	t.Helper()
	for i := 0; ; i++ {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.SysProcAttr = attr
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

// waitSleeping waits until process pid sleeps in the system call that waits for a
// signal (pause on amd64, ppoll on arm64, or what qemu makes of them), after its
// handlers are installed: then it sleeps until signalled. It fails the test should the
// process exit first.
func waitSleeping(t *testing.T, pid int, emulated bool, exited <-chan error) {
	t.Helper()
	waiting := map[int]string{syscall.SYS_PPOLL: "ppoll", syscall.SYS_RT_SIGSUSPEND: "rt_sigsuspend"}
	if runtime.GOARCH == "amd64" {
		waiting[34] = "pause" // not in the syscall package on arm64, which has no pause
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("pause exited by itself: %v", err)
		default:
		}
		cgt, _ := sigMasks(t, pid)
		state := procState(t, pid)
		nr, sysErr := sysCall(pid)
		_, inWait := waiting[nr]
		if state == "S" && (inWait || sysErr != nil) && (emulated || cgt&(bitTERM|bitINT) == bitTERM|bitINT) {
			if sysErr != nil {
				t.Logf("not checking the system call pause sleeps in: %v", sysErr)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pause is in state %q, in system call %d (%v), SigCgt %016x; want sleeping in one of %v, SIGTERM and SIGINT caught",
				state, nr, sysErr, cgt, waiting)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop sends sig to the pause and wants it to exit 0.
func stop(t *testing.T, cmd *exec.Cmd, exited <-chan error, sig syscall.Signal) {
	t.Helper()
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
	case <-time.After(20 * time.Second):
		t.Fatalf("pause still runs 20s after %v", sig)
	}
}

// sysCall returns the number of the system call process pid is blocked in, -1 when it
// runs (/proc/<pid>/syscall; reading it needs the right to ptrace the process).
func sysCall(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	if err != nil {
		return -1, err
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if first == "running" {
		return -1, nil
	}
	nr, err := strconv.Atoi(first)
	if err != nil {
		return -1, fmt.Errorf("/proc/%d/syscall %q: %w", pid, b, err)
	}
	return nr, nil
}

// waitChild waits for process parent to have a child, and returns its PID.
func waitChild(t *testing.T, parent int) int {
	t.Helper()
	want := strconv.Itoa(parent)
	deadline := time.Now().Add(20 * time.Second)
	for {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if ppid, ok := parentOf(pid); ok && ppid == want {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has no child", parent)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// parentOf returns the PPid of process pid, false when it is gone.
func parentOf(pid int) (string, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PPid:"); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
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
	for _, a := range archs {
		t.Run(a.goarch, func(t *testing.T) {
			fs, err := RootFS(a.goarch)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := RootFS(a.goarch)
			if !bytes.Equal(fs, again) {
				t.Error("RootFS differs from one call to the next")
			}
			want, _ := Program(a.goarch)
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
		})
	}
	if _, err := RootFS("riscv64"); err == nil {
		t.Error("a root filesystem for riscv64, which has no program")
	}
}

func TestImageName(t *testing.T) {
	names := map[string]string{}
	for _, a := range archs {
		name, err := ImageName(a.goarch)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^dockercri\.local/pause:[0-9a-f]{12}$`).MatchString(name) {
			t.Errorf("image name %q, want dockercri.local/pause:<12 hex digits>", name)
		}
		if again, _ := ImageName(a.goarch); again != name {
			t.Errorf("image name %q, then %q", name, again)
		}
		names[name] = a.goarch
	}
	if len(names) != len(archs) {
		t.Errorf("image names %v: want one per architecture", names)
	}
	// The amd64 program, so its image, is the one dockercri imported before arm64 had one.
	if name, _ := ImageName("amd64"); name != "dockercri.local/pause:6102324395b9" {
		t.Errorf("amd64 image name %q, want dockercri.local/pause:6102324395b9 (unchanged)", name)
	}
	if _, err := ImageName("riscv64"); err == nil {
		t.Error("an image name for riscv64, which has no program")
	}
}

// The arm64 code's offsets in the comments are the instructions' (4 bytes each).
func TestARM64Layout(t *testing.T) {
	prog, _ := Program("arm64")
	code := prog[codeOffset:][:arm64CodeLen]
	if n := len(arm64Code) * 4; n != arm64CodeLen {
		t.Fatalf("arm64 code is %d bytes, want %d", n, arm64CodeLen)
	}
	for _, label := range []struct {
		name string
		off  int
		want uint32
	}{
		{"loop", arm64LoopOff, movz(0, 0)},
		{"fail", arm64FailOff, movz(0, 1)},
		{"onSignal", arm64OnSignalOff, movz(0, 0)},
		{"exit", arm64ExitOff, movz(8, 94)},
	} {
		if got := binary.LittleEndian.Uint32(code[label.off:]); got != label.want {
			t.Errorf("%s at %#x is %08x, want %08x", label.name, label.off, got, label.want)
		}
	}
}
