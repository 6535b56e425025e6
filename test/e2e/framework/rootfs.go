package framework

import (
	"archive/tar"
	"bytes"
	"os"
	"path"
	"strings"
	"time"
)

// Layer builds an image's root filesystem as a tar, for Docker's import. Parent
// directories are added as needed; every entry is root's and dated 1970, so that the
// same content makes the same layer.
type Layer struct {
	buf  bytes.Buffer
	tw   *tar.Writer
	dirs map[string]bool
	// modes of the files added, for their hard links: an extractor applies a link's mode
	// to the inode it shares with its target.
	modes map[string]int64
	err   error
}

// NewLayer starts an empty root filesystem.
func NewLayer() *Layer {
	l := &Layer{dirs: map[string]bool{}, modes: map[string]int64{}}
	l.tw = tar.NewWriter(&l.buf)
	return l
}

var layerTime = time.Unix(0, 0)

func (l *Layer) header(h *tar.Header) {
	if l.err != nil {
		return
	}
	if dir := path.Dir(strings.TrimSuffix(h.Name, "/")); dir != "." {
		l.Dir(dir)
	}
	h.ModTime = layerTime
	l.err = l.tw.WriteHeader(h)
}

// Dir adds a directory (mode 0755; /tmp is 1777 as on every distribution).
func (l *Layer) Dir(name string) *Layer {
	name = strings.Trim(name, "/")
	if l.dirs[name] {
		return l
	}
	l.dirs[name] = true
	mode := int64(0o755)
	if name == "tmp" {
		mode = 0o1777
	}
	l.header(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode})
	return l
}

// File adds a regular file.
func (l *Layer) File(name string, mode int64, data []byte) *Layer {
	name = strings.TrimPrefix(name, "/")
	l.modes[name] = mode
	l.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))})
	if l.err == nil {
		_, l.err = l.tw.Write(data)
	}
	return l
}

// HostFile adds the host's file src (links followed) as name, with its mode; once,
// however often it is asked (programs share their libraries).
func (l *Layer) HostFile(name, src string) *Layer {
	if _, ok := l.modes[strings.TrimPrefix(name, "/")]; ok || l.err != nil {
		return l
	}
	data, err := os.ReadFile(src)
	if err != nil {
		l.err = err
		return l
	}
	st, err := os.Stat(src)
	if err != nil {
		l.err = err
		return l
	}
	return l.File(name, int64(st.Mode().Perm()), data)
}

// Symlink adds name pointing at target.
func (l *Layer) Symlink(name, target string) *Layer {
	l.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(name, "/"), Linkname: target, Mode: 0o777})
	return l
}

// HardLink adds name as a hard link to the layer's file target.
func (l *Layer) HardLink(name, target string) *Layer {
	target = strings.TrimPrefix(target, "/")
	l.header(&tar.Header{Typeflag: tar.TypeLink, Name: strings.TrimPrefix(name, "/"), Linkname: target, Mode: l.modes[target]})
	return l
}

// Bytes ends the layer and returns its tar.
func (l *Layer) Bytes() ([]byte, error) {
	if l.err == nil {
		l.err = l.tw.Close()
	}
	return l.buf.Bytes(), l.err
}
