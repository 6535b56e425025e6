package pause

import (
	"encoding/binary"
	"fmt"
)

// Layout of the arm64 program (see loadAddr).
const (
	// Offsets inside the code (from codeOffset) of what the code refers to: labels,
	// from which the instructions' displacements are computed.
	arm64LoopOff      = 0x48 // the ppoll loop
	arm64FailOff      = 0x54 // exit 1
	arm64OnSignalOff  = 0x5c // the SIGTERM/SIGINT handler: exit 0
	arm64ExitOff      = 0x60 // exit_group(x0)
	arm64CodeLen      = 0x68 // the code, a multiple of 8 bytes
	arm64ActExitOff   = 0x68 // struct sigaction for SIGTERM and SIGINT
	arm64ActIgnoreOff = 0x88 // struct sigaction for SIGCHLD
	arm64ProgramSize  = codeOffset + arm64ActIgnoreOff + sigactSize
)

// arm64Code is the program's machine code, hand-assembled by the encoders below. Each
// line is one 4-byte instruction: its offset from the start of the code, the
// instruction, and its assembly. Linux arm64 system calls (the generic table): number
// in x8, arguments in x0 to x5; svc #0 leaves the result in x0 and keeps every other
// register. arm64 has no pause(2): libc's pause() is ppoll(NULL, 0, NULL, NULL), which
// sleeps until a signal's handler has run, as pause does.
//
// Check it with:
//
//	aarch64-linux-gnu-objdump -D -b binary -m aarch64 --start-address=0x78 pause
var arm64Code = []uint32{
	// _start:  rt_sigaction(SIGTERM, &actExit, NULL, 8)
	/* 00 */ adr(1, 0x00, arm64ActExitOff), //    adr  x1, actExit
	/* 04 */ movz(2, 0), //                           mov  x2, #0          ; oldact = NULL
	/* 08 */ movz(3, 8), //                           mov  x3, #8          ; sigsetsize = 8
	/* 0c */ movz(8, 134), //                         mov  x8, #134        ; rt_sigaction
	/* 10 */ movz(0, 15), //                          mov  x0, #15         ; SIGTERM
	/* 14 */ svc0, //                                 svc  #0
	/* 18 */ cbnz(0, 0x18, arm64FailOff), //          cbnz x0, fail
	// rt_sigaction(SIGINT, &actExit, NULL, 8): x1, x2, x3, x8 are kept.
	/* 1c */ movz(0, 2), //                           mov  x0, #2          ; SIGINT
	/* 20 */ svc0, //                                 svc  #0
	/* 24 */ cbnz(0, 0x24, arm64FailOff), //          cbnz x0, fail
	// rt_sigaction(SIGCHLD, &actIgnore, NULL, 8)
	/* 28 */ adr(1, 0x28, arm64ActIgnoreOff), //      adr  x1, actIgnore
	/* 2c */ movz(0, 17), //                          mov  x0, #17         ; SIGCHLD
	/* 30 */ svc0, //                                 svc  #0
	/* 34 */ cbnz(0, 0x34, arm64FailOff), //          cbnz x0, fail
	// ppoll(NULL, 0, NULL, NULL, 0) forever: x2 (the timeout) is NULL already. ppoll
	// returns only after a signal handler has run, and the handlers exit, but looping
	// costs nothing should it return otherwise.
	/* 38 */ movz(1, 0), //                           mov  x1, #0          ; nfds = 0
	/* 3c */ movz(3, 0), //                           mov  x3, #0          ; sigmask = NULL
	/* 40 */ movz(4, 0), //                           mov  x4, #0          ; sigsetsize
	/* 44 */ movz(8, 73), //                          mov  x8, #73         ; ppoll
	// loop:
	/* 48 */ movz(0, 0), //                           mov  x0, #0          ; fds = NULL (x0 holds the last result)
	/* 4c */ svc0, //                                 svc  #0
	/* 50 */ b(0x50, arm64LoopOff), //                b    loop
	// fail: exit_group(1)
	/* 54 */ movz(0, 1), //                           mov  x0, #1          ; status 1
	/* 58 */ b(0x58, arm64ExitOff), //                b    exit
	// onSignal: the SIGTERM and SIGINT handler: exit_group(0)
	/* 5c */ movz(0, 0), //                           mov  x0, #0          ; status 0
	// exit:
	/* 60 */ movz(8, 94), //                          mov  x8, #94         ; exit_group
	/* 64 */ svc0, //                                 svc  #0
}

// A64 encoders of the few instructions arm64Code uses, from the Arm Architecture
// Reference Manual. Registers are numbers (x0 to x30); at and to are offsets in the
// code of the instruction and of its target.
const svc0 = 0xd4000001 // svc #0

// movz encodes mov xd, #imm (MOVZ, 64-bit, no shift).
func movz(rd, imm uint32) uint32 {
	if imm > 0xffff {
		panic(fmt.Sprintf("pause: movz #%d does not fit 16 bits", imm))
	}
	return 0xd2800000 | imm<<5 | rd
}

// adr encodes adr xd, <to>: xd = the address of to, within 1 MiB.
func adr(rd uint32, at, to int) uint32 {
	off := uint32(to-at) & 0x1fffff
	return 0x10000000 | (off&3)<<29 | (off>>2)<<5 | rd
}

// cbnz encodes cbnz xt, <to>: branch when xt is not 0.
func cbnz(rt uint32, at, to int) uint32 {
	return 0xb5000000 | (uint32((to-at)/4)&0x7ffff)<<5 | rt
}

// b encodes b <to>.
func b(at, to int) uint32 {
	return 0x14000000 | uint32((to-at)/4)&0x3ffffff
}

// programARM64 assembles the arm64 pause program: ELF header, program header, code,
// data.
func programARM64() []byte {
	b := elfHeaders(emAARCH64, arm64ProgramSize)
	for _, ins := range arm64Code {
		b = binary.LittleEndian.AppendUint32(b, ins)
	}
	if len(b) != codeOffset+arm64CodeLen {
		panic(fmt.Sprintf("pause: arm64 code is %d bytes, want %d", len(b)-codeOffset, arm64CodeLen))
	}

	// actExit: the handler, no flags. A 64-bit process on arm64 needs no SA_RESTORER
	// (it exists for AArch32 processes): a handler without one returns through the
	// vDSO's sigreturn trampoline, and this one never returns.
	b = appendSigaction(b, uint64(loadAddr+codeOffset+arm64OnSignalOff), 0, 0)
	// actIgnore: SIG_IGN, which makes the kernel reap the children as they exit.
	b = appendSigaction(b, sigIgn, 0, 0)

	if len(b) != arm64ProgramSize {
		panic(fmt.Sprintf("pause: arm64 program is %d bytes, want %d", len(b), arm64ProgramSize))
	}
	return b
}
