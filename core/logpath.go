package core

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// checkLogDirectory validates a sandbox's log_directory: the CRI says it is absolute.
// dockercri runs as root and creates it, so a relative one (resolved against dockercri's
// working directory) is refused, not guessed at.
func checkLogDirectory(dir string) error {
	if dir != "" && (!filepath.IsAbs(dir) || slices.Contains(strings.Split(dir, "/"), "..")) {
		return status.Errorf(codes.InvalidArgument, "log_directory %q is not an absolute path without ..", dir)
	}
	return nil
}

// containerLogPath is where a container's CRI log goes: log_path, relative to the
// sandbox's log_directory, and inside it. The directories between them, which dockercri
// creates, and the file itself must not be symlinks: dockercri writes there as root, and
// a link would take its writes elsewhere.
func containerLogPath(dir, rel string) (string, error) {
	if err := checkLogDirectory(dir); err != nil {
		return "", err
	}
	// "." (or "a/..") is the log directory itself, which the log's symlink or file
	// would replace.
	if dir == "" || !filepath.IsLocal(rel) || filepath.Clean(rel) == "." {
		return "", status.Errorf(codes.InvalidArgument, "log_path %q must be a path inside the sandbox's log_directory %q", rel, dir)
	}
	path := dir
	for _, part := range strings.Split(filepath.Clean(rel), string(filepath.Separator)) {
		path = filepath.Join(path, part)
		st, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", status.Errorf(codes.InvalidArgument, "log_path %s: %v", path, err)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return "", status.Errorf(codes.InvalidArgument, "log_path %s is a symlink; dockercri writes container logs only to files and directories it makes", path)
		}
	}
	return filepath.Join(dir, rel), nil
}
