package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
)

// socketMode lets root and the socket's group in, nobody else.
const socketMode = 0o660

// activatedListener is the socket systemd passed (socket activation: LISTEN_FDS), nil
// when started otherwise. systemd owns that socket: dockercri neither creates nor
// removes it.
func activatedListener() (net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("sockets passed by systemd: %w", err)
	}
	for _, l := range ls {
		if l != nil && l.Addr().Network() == "unix" {
			return l, nil
		}
	}
	if len(ls) > 0 {
		return nil, errors.New("systemd passed no unix socket")
	}
	return nil, nil
}

// listenUnix listens on the unix socket at path. A socket file left by a crashed run is
// replaced; one that another process still serves is an error, so that two dockercri
// never answer on one endpoint.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
			conn.Close()
			return nil, fmt.Errorf("%s is served by another process (is dockercri already running?)", path)
		} else if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOTSOCK) {
			return nil, fmt.Errorf("probe existing socket %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	// The umask makes the socket appear with its final mode: there is no moment in which
	// others could connect before a chmod.
	old := syscall.Umask(0o777 &^ socketMode)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	return l, nil
}
