// Package pause is dockercri's own pause image: the image of a pod's pause container
// when the configured --pod-infra-container-image cannot be pulled (an air-gapped node).
//
// The image holds one file, /pause: a tiny static program, emitted byte by byte by
// Program, that behaves like Kubernetes' pause. It exits 0 at once on SIGTERM or
// SIGINT, ignores SIGCHLD so that the kernel reaps the children reparented to it (it is
// PID 1 of the pod's PID namespace when the pod shares one), and otherwise sleeps in
// pause(2) forever. Ensure imports it into Docker under a name of dockercri's own,
// ImageName, that changes whenever the program does.
package pause

import (
	"encoding/binary"
	"fmt"
)

// Program returns the pause program: a static ELF executable for Linux on goarch, with
// no libc and no dependency on anything in its root filesystem.
//
// Only amd64 is built in: a program for any other architecture could not be run, so
// not checked, where dockercri is developed.
func Program(goarch string) ([]byte, error) {
	switch goarch {
	case "amd64":
		return programAMD64(), nil
	}
	return nil, fmt.Errorf("pause: no built-in pause program for GOARCH %q (only amd64)", goarch)
}

// Layout of the amd64 program: one PT_LOAD segment maps the whole file, headers
// included, read-only and executable at loadAddr. The code follows the headers; the
// two sigaction structures rt_sigaction reads follow the code.
const (
	loadAddr   = 0x400000
	ehdrSize   = 64                  // Elf64_Ehdr
	phdrSize   = 56                  // Elf64_Phdr
	codeOffset = ehdrSize + phdrSize // 0x78: file offset of the code, and of _start

	// Offsets inside the code (from codeOffset) of what the code refers to. The
	// displacements in amd64Code are computed by hand from these; programAMD64
	// checks the code's length against them.
	onSignalOff  = 0x44 // the SIGTERM/SIGINT handler
	codeLen      = 0x50 // the code, padded to 8 bytes
	actExitOff   = 0x50 // struct sigaction for SIGTERM and SIGINT
	actIgnoreOff = 0x70 // struct sigaction for SIGCHLD
	sigactSize   = 32   // the kernel's struct sigaction on amd64
	programSize  = codeOffset + actIgnoreOff + sigactSize

	// rt_sigaction flag: sa_restorer is set. x86-64 Linux refuses to deliver a signal
	// to a handler installed without it (the frame setup fails and the process gets
	// SIGSEGV instead), even to a handler that never returns.
	saRestorer = 0x04000000
	sigIgn     = 1 // SIG_IGN
)

// amd64Code is the program's machine code, hand-assembled. Each line is one
// instruction: its offset from the start of the code, its bytes, and its assembly
// (Intel syntax). Linux x86-64 system calls: number in rax, arguments in rdi, rsi,
// rdx, r10; syscall clobbers rax (the result), rcx and r11 and keeps the others.
// "push imm8; pop reg" loads a small constant in 3 bytes.
//
// Check it with:
//
//	objdump -D -b binary -m i386:x86-64 --start-address=0x78 pause
var amd64Code = [][]byte{
	// _start:  rt_sigaction(SIGTERM, &actExit, NULL, 8)
	/* 00 */ {0x48, 0x8d, 0x35, 0x49, 0x00, 0x00, 0x00}, // lea  rsi, [rip+0x49]      ; &actExit (0x07+0x49 = 0x50)
	/* 07 */ {0x31, 0xd2}, //                               xor  edx, edx             ; oldact = NULL
	/* 09 */ {0x6a, 0x08}, //                               push 8
	/* 0b */ {0x41, 0x5a}, //                               pop  r10                  ; sigsetsize = 8
	/* 0d */ {0x6a, 0x0f}, //                               push 15
	/* 0f */ {0x5f}, //                                     pop  rdi                  ; SIGTERM
	/* 10 */ {0x6a, 0x0d}, //                               push 13
	/* 12 */ {0x58}, //                                     pop  rax                  ; rt_sigaction
	/* 13 */ {0x0f, 0x05}, //                               syscall
	/* 15 */ {0x85, 0xc0}, //                               test eax, eax
	/* 17 */ {0x75, 0x26}, //                               jnz  fail                 ; 0x19+0x26 = 0x3f
	// rt_sigaction(SIGINT, &actExit, NULL, 8): rsi, rdx, r10 are kept.
	/* 19 */ {0x6a, 0x02}, //                               push 2
	/* 1b */ {0x5f}, //                                     pop  rdi                  ; SIGINT
	/* 1c */ {0x6a, 0x0d}, //                               push 13
	/* 1e */ {0x58}, //                                     pop  rax                  ; rt_sigaction
	/* 1f */ {0x0f, 0x05}, //                               syscall
	/* 21 */ {0x85, 0xc0}, //                               test eax, eax
	/* 23 */ {0x75, 0x1a}, //                               jnz  fail                 ; 0x25+0x1a = 0x3f
	// rt_sigaction(SIGCHLD, &actIgnore, NULL, 8)
	/* 25 */ {0x48, 0x8d, 0x35, 0x44, 0x00, 0x00, 0x00}, // lea  rsi, [rip+0x44]      ; &actIgnore (0x2c+0x44 = 0x70)
	/* 2c */ {0x6a, 0x11}, //                               push 17
	/* 2e */ {0x5f}, //                                     pop  rdi                  ; SIGCHLD
	/* 2f */ {0x6a, 0x0d}, //                               push 13
	/* 31 */ {0x58}, //                                     pop  rax                  ; rt_sigaction
	/* 32 */ {0x0f, 0x05}, //                               syscall
	/* 34 */ {0x85, 0xc0}, //                               test eax, eax
	/* 36 */ {0x75, 0x07}, //                               jnz  fail                 ; 0x38+0x07 = 0x3f
	// loop: pause() forever. pause returns only after a signal handler has run, and
	// the handlers exit, but looping costs nothing should it return otherwise.
	/* 38 */ {0x6a, 0x22}, //                               push 34
	/* 3a */ {0x58}, //                                     pop  rax                  ; pause
	/* 3b */ {0x0f, 0x05}, //                               syscall
	/* 3d */ {0xeb, 0xf9}, //                               jmp  loop                 ; 0x3f-0x07 = 0x38
	// fail: exit_group(1)
	/* 3f */ {0x6a, 0x01}, //                               push 1
	/* 41 */ {0x5f}, //                                     pop  rdi                  ; status 1
	/* 42 */ {0xeb, 0x02}, //                               jmp  exit                 ; 0x44+0x02 = 0x46
	// onSignal: the SIGTERM and SIGINT handler (and restorer): exit_group(0)
	/* 44 */ {0x31, 0xff}, //                               xor  edi, edi             ; status 0
	// exit:
	/* 46 */ {0xb8, 0xe7, 0x00, 0x00, 0x00}, //             mov  eax, 231             ; exit_group
	/* 4b */ {0x0f, 0x05}, //                               syscall
	/* 4d */ {0xf4, 0xf4, 0xf4}, //                         hlt; hlt; hlt             ; padding, never reached
}

// programAMD64 assembles the amd64 pause program: ELF header, program header, code,
// data.
func programAMD64() []byte {
	le := binary.LittleEndian
	b := make([]byte, 0, programSize)

	// Elf64_Ehdr
	b = append(b, 0x7f, 'E', 'L', 'F')          // e_ident[EI_MAG0..3]
	b = append(b, 2)                            // EI_CLASS: ELFCLASS64
	b = append(b, 1)                            // EI_DATA: ELFDATA2LSB
	b = append(b, 1)                            // EI_VERSION: EV_CURRENT
	b = append(b, 0)                            // EI_OSABI: ELFOSABI_NONE (System V)
	b = append(b, make([]byte, 8)...)           // EI_ABIVERSION, padding
	b = le.AppendUint16(b, 2)                   // e_type: ET_EXEC
	b = le.AppendUint16(b, 62)                  // e_machine: EM_X86_64
	b = le.AppendUint32(b, 1)                   // e_version: EV_CURRENT
	b = le.AppendUint64(b, loadAddr+codeOffset) // e_entry: _start
	b = le.AppendUint64(b, ehdrSize)            // e_phoff: right after this header
	b = le.AppendUint64(b, 0)                   // e_shoff: no section headers
	b = le.AppendUint32(b, 0)                   // e_flags
	b = le.AppendUint16(b, ehdrSize)            // e_ehsize
	b = le.AppendUint16(b, phdrSize)            // e_phentsize
	b = le.AppendUint16(b, 1)                   // e_phnum
	b = le.AppendUint16(b, 0)                   // e_shentsize
	b = le.AppendUint16(b, 0)                   // e_shnum
	b = le.AppendUint16(b, 0)                   // e_shstrndx: SHN_UNDEF

	// Elf64_Phdr: the whole file, read and execute. Without a PT_GNU_STACK header
	// the stack of a 64-bit program is still not executable (Linux 5.8 and later).
	b = le.AppendUint32(b, 1)           // p_type: PT_LOAD
	b = le.AppendUint32(b, 4|1)         // p_flags: PF_R|PF_X
	b = le.AppendUint64(b, 0)           // p_offset
	b = le.AppendUint64(b, loadAddr)    // p_vaddr
	b = le.AppendUint64(b, loadAddr)    // p_paddr
	b = le.AppendUint64(b, programSize) // p_filesz
	b = le.AppendUint64(b, programSize) // p_memsz
	b = le.AppendUint64(b, 0x1000)      // p_align

	for _, ins := range amd64Code {
		b = append(b, ins...)
	}
	if len(b) != codeOffset+codeLen {
		panic(fmt.Sprintf("pause: amd64 code is %d bytes, want %d", len(b)-codeOffset, codeLen))
	}

	// struct sigaction (kernel layout) actExit: { sa_handler, sa_flags, sa_restorer,
	// sa_mask }. The restorer is the handler too: it never runs, as the handler does
	// not return, and if it ever did it would exit 0 as well.
	onSignal := uint64(loadAddr + codeOffset + onSignalOff)
	b = le.AppendUint64(b, onSignal)   // sa_handler
	b = le.AppendUint64(b, saRestorer) // sa_flags
	b = le.AppendUint64(b, onSignal)   // sa_restorer
	b = le.AppendUint64(b, 0)          // sa_mask: empty

	// struct sigaction actIgnore: SIG_IGN. SIGCHLD ignored makes the kernel reap
	// the children as they exit (POSIX.1-2001), as SA_NOCLDWAIT would.
	b = le.AppendUint64(b, sigIgn) // sa_handler
	b = le.AppendUint64(b, 0)      // sa_flags
	b = le.AppendUint64(b, 0)      // sa_restorer
	b = le.AppendUint64(b, 0)      // sa_mask

	if len(b) != programSize {
		panic(fmt.Sprintf("pause: amd64 program is %d bytes, want %d", len(b), programSize))
	}
	return b
}
