package streaming

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
)

// The library runs a stream with the request's context, which nothing cancels once the
// connection is hijacked: a client that goes away mid-stream would leave its exec'd
// process running, and the goroutines waiting on it, for as long as the process lives.
// watchedWriter hands the library a connection whose reads, on failing (the client
// closed or the connection broke), cancel the stream's context.

// watchedWriter is a ResponseWriter whose hijacked connection calls gone when its reads
// fail. It has no Unwrap on purpose: the library must hijack through it.
type watchedWriter struct {
	http.ResponseWriter
	gone func()
}

func (w watchedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be hijacked")
	}
	conn, brw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	r := bufio.NewReader(watchedReader{r: brw.Reader, gone: w.gone})
	return watchedConn{Conn: conn, gone: w.gone}, bufio.NewReadWriter(r, brw.Writer), nil
}

func (w watchedWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type watchedConn struct {
	net.Conn
	gone func()
}

func (c watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.gone()
	}
	return n, err
}

type watchedReader struct {
	r    io.Reader
	gone func()
}

func (r watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.gone()
	}
	return n, err
}
