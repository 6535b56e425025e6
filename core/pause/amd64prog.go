package pause

import "fmt"

// Layout of the amd64 program (see loadAddr).
const (
	// Offsets inside the code (from codeOffset) of what the code refers to. The
	// displacements in amd64Code are computed by hand from these; programAMD64
	// checks the code's length against them.
	amd64OnSignalOff  = 0x44 // the SIGTERM/SIGINT handler
	amd64CodeLen      = 0x50 // the code, padded to 8 bytes
	amd64ActExitOff   = 0x50 // struct sigaction for SIGTERM and SIGINT
	amd64ActIgnoreOff = 0x70 // struct sigaction for SIGCHLD
	amd64ProgramSize  = codeOffset + amd64ActIgnoreOff + sigactSize

	// rt_sigaction flag: sa_restorer is set. x86-64 Linux refuses to deliver a signal
	// to a handler installed without it (the frame setup fails and the process gets
	// SIGSEGV instead), even to a handler that never returns.
	saRestorer = 0x04000000
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
	b := elfHeaders(emX86_64, amd64ProgramSize)
	for _, ins := range amd64Code {
		b = append(b, ins...)
	}
	if len(b) != codeOffset+amd64CodeLen {
		panic(fmt.Sprintf("pause: amd64 code is %d bytes, want %d", len(b)-codeOffset, amd64CodeLen))
	}

	// actExit: the handler, which is its restorer too: the restorer never runs, as
	// the handler does not return, and if it ever did it would exit 0 as well.
	onSignal := uint64(loadAddr + codeOffset + amd64OnSignalOff)
	b = appendSigaction(b, onSignal, saRestorer, onSignal)
	// actIgnore: SIG_IGN. SIGCHLD ignored makes the kernel reap the children as they
	// exit (POSIX.1-2001), as SA_NOCLDWAIT would.
	b = appendSigaction(b, sigIgn, 0, 0)

	if len(b) != amd64ProgramSize {
		panic(fmt.Sprintf("pause: amd64 program is %d bytes, want %d", len(b), amd64ProgramSize))
	}
	return b
}
