// Package pause is dockercri's own pause image: the image of a pod's pause container
// when the configured --pod-infra-container-image cannot be pulled (an air-gapped node).
//
// The image holds one file, /pause: a tiny static program, emitted byte by byte by
// Program, that behaves like Kubernetes' pause. It exits 0 at once on SIGTERM or
// SIGINT, ignores SIGCHLD so that the kernel reaps the children reparented to it (it is
// PID 1 of the pod's PID namespace when the pod shares one), and otherwise sleeps
// forever waiting for a signal. There is one for amd64 and one for arm64, doing the
// same system calls in the same order. Ensure imports the one for Docker's architecture
// under a name of dockercri's own, ImageName, that changes whenever the program does.
package pause

import (
	"encoding/binary"
	"fmt"
)

// Program returns the pause program: a static ELF executable for Linux on goarch, with
// no libc and no dependency on anything in its root filesystem.
func Program(goarch string) ([]byte, error) {
	switch goarch {
	case "amd64":
		return programAMD64(), nil
	case "arm64":
		return programARM64(), nil
	}
	return nil, fmt.Errorf("pause: no built-in pause program for GOARCH %q (only amd64 and arm64)", goarch)
}

// Layout of each program: one PT_LOAD segment maps the whole file, headers included,
// read-only and executable at loadAddr. The code follows the headers; the two sigaction
// structures rt_sigaction reads follow the code.
const (
	loadAddr   = 0x400000
	ehdrSize   = 64                  // Elf64_Ehdr
	phdrSize   = 56                  // Elf64_Phdr
	codeOffset = ehdrSize + phdrSize // 0x78: file offset of the code, and of _start

	sigactSize = 32 // the kernel's struct sigaction on amd64 and arm64
	sigIgn     = 1  // SIG_IGN

	// ELF machines.
	emX86_64  = 62
	emAARCH64 = 183
)

// elfHeaders returns the ELF header and the program header of a program for machine
// that is size bytes long, code at codeOffset.
func elfHeaders(machine uint16, size int) []byte {
	le := binary.LittleEndian
	b := make([]byte, 0, codeOffset)

	// Elf64_Ehdr
	b = append(b, 0x7f, 'E', 'L', 'F')          // e_ident[EI_MAG0..3]
	b = append(b, 2)                            // EI_CLASS: ELFCLASS64
	b = append(b, 1)                            // EI_DATA: ELFDATA2LSB
	b = append(b, 1)                            // EI_VERSION: EV_CURRENT
	b = append(b, 0)                            // EI_OSABI: ELFOSABI_NONE (System V)
	b = append(b, make([]byte, 8)...)           // EI_ABIVERSION, padding
	b = le.AppendUint16(b, 2)                   // e_type: ET_EXEC
	b = le.AppendUint16(b, machine)             // e_machine
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
	b = le.AppendUint32(b, 1)            // p_type: PT_LOAD
	b = le.AppendUint32(b, 4|1)          // p_flags: PF_R|PF_X
	b = le.AppendUint64(b, 0)            // p_offset
	b = le.AppendUint64(b, loadAddr)     // p_vaddr
	b = le.AppendUint64(b, loadAddr)     // p_paddr
	b = le.AppendUint64(b, uint64(size)) // p_filesz
	b = le.AppendUint64(b, uint64(size)) // p_memsz
	b = le.AppendUint64(b, 0x1000)       // p_align
	return b
}

// appendSigaction appends a struct sigaction in the kernel's layout on amd64 and arm64:
// { sa_handler, sa_flags, sa_restorer, sa_mask }, the mask empty.
func appendSigaction(b []byte, handler, flags, restorer uint64) []byte {
	le := binary.LittleEndian
	b = le.AppendUint64(b, handler)
	b = le.AppendUint64(b, flags)
	b = le.AppendUint64(b, restorer)
	return le.AppendUint64(b, 0)
}
