package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// WebSocket v5 (v5.channel.k8s.io) is v4 with one addition: the client can close a
// channel, which is how it says that stdin ended. k8s.io/cri-streaming negotiates up to
// v4 only; k8s.io/streaming's WebSocket connection carries v5 when asked for it, so
// exec and attach over v5 are served here on it, with the library's channel numbers and
// the v4 status on the error channel.

func (s *Server) serveExecV5(w http.ResponseWriter, r *http.Request, req *runtimeapi.ExecRequest) {
	st, ok := openV5(w, r, req.GetStdin(), req.GetStdout(), req.GetStderr() && !req.GetTty(), s.idleTimeout)
	if !ok {
		return
	}
	defer st.conn.Close()
	err := s.rt.Exec(r.Context(), req.GetContainerId(), req.GetCmd(), st.in, st.out, st.errw, req.GetTty(), st.resize)
	var exitErr utilexec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		st.writeStatus(exitStatus(exitErr))
		return
	}
	st.writeStatus(resultStatus(err, "error executing command in container"))
}

func (s *Server) serveAttachV5(w http.ResponseWriter, r *http.Request, req *runtimeapi.AttachRequest) {
	st, ok := openV5(w, r, req.GetStdin(), req.GetStdout(), req.GetStderr() && !req.GetTty(), s.idleTimeout)
	if !ok {
		return
	}
	defer st.conn.Close()
	err := s.rt.Attach(r.Context(), req.GetContainerId(), st.in, st.out, st.errw, req.GetTty(), st.resize)
	st.writeStatus(resultStatus(err, "error attaching to container"))
}

// v5Streams are a v5 connection's channels, nil where the client asked for none.
type v5Streams struct {
	conn      *wsstream.Conn
	in        io.Reader
	out, errw io.WriteCloser
	errStream io.Writer
	resize    chan remotecommand.TerminalSize
}

// openV5 upgrades to a v5 WebSocket with the channels asked for and starts reading the
// client's terminal sizes.
func openV5(w http.ResponseWriter, r *http.Request, stdin, stdout, stderr bool, idleTimeout time.Duration) (*v5Streams, bool) {
	channels := make([]wsstream.ChannelType, remotecommand.StreamResize+1)
	channels[remotecommand.StreamStdIn] = channelIf(stdin, wsstream.ReadChannel)
	channels[remotecommand.StreamStdOut] = channelIf(stdout, wsstream.WriteChannel)
	channels[remotecommand.StreamStdErr] = channelIf(stderr, wsstream.WriteChannel)
	channels[remotecommand.StreamErr] = wsstream.WriteChannel
	channels[remotecommand.StreamResize] = wsstream.ReadChannel
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		remotecommand.StreamProtocolV5Name: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(idleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		klog.V(2).InfoS("Open a v5 WebSocket stream", "err", err)
		return nil, false
	}
	st := &v5Streams{conn: conn, errStream: streams[remotecommand.StreamErr], resize: make(chan remotecommand.TerminalSize)}
	if stdin {
		st.in = streams[remotecommand.StreamStdIn]
	}
	if stdout {
		st.out = streams[remotecommand.StreamStdOut]
	}
	if stderr {
		st.errw = streams[remotecommand.StreamStdErr]
	}
	// An empty message on the first channel the client reads tells it the streams are
	// ready, as the library does for v4.
	switch {
	case stdout:
		_, _ = st.out.Write(nil)
	case stderr:
		_, _ = st.errw.Write(nil)
	default:
		_, _ = st.errStream.Write(nil)
	}
	go readSizes(r.Context(), streams[remotecommand.StreamResize], st.resize)
	return st, true
}

func channelIf(asked bool, t wsstream.ChannelType) wsstream.ChannelType {
	if asked {
		return t
	}
	return wsstream.IgnoreChannel
}

// readSizes passes the JSON terminal sizes the client sends on to sizes, until the
// channel ends or ctx does.
func readSizes(ctx context.Context, r io.Reader, sizes chan<- remotecommand.TerminalSize) {
	defer close(sizes)
	dec := json.NewDecoder(r)
	for {
		var size remotecommand.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case sizes <- size:
		case <-ctx.Done():
			return
		}
	}
}

// streamStatus is the status written on the error channel: a Kubernetes
// metav1.Status in JSON, of which clients read these fields.
type streamStatus struct {
	Status  string         `json:"status,omitempty"`
	Message string         `json:"message,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Details *statusDetails `json:"details,omitempty"`
	Code    int32          `json:"code,omitempty"`
}

type statusDetails struct {
	Causes []statusCause `json:"causes,omitempty"`
}

type statusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

func exitStatus(err utilexec.ExitError) streamStatus {
	return streamStatus{
		Status:  "Failure",
		Reason:  remotecommand.NonZeroExitCodeReason,
		Message: fmt.Sprintf("command terminated with non-zero exit code: %v", err),
		Details: &statusDetails{Causes: []statusCause{{Type: remotecommand.ExitCodeCauseType, Message: strconv.Itoa(err.ExitStatus())}}},
	}
}

// resultStatus is success for no error, else an internal error saying what failed.
func resultStatus(err error, what string) streamStatus {
	if err == nil {
		return streamStatus{Status: "Success"}
	}
	return streamStatus{
		Status:  "Failure",
		Reason:  "InternalError",
		Message: fmt.Sprintf("Internal error occurred: %s: %v", what, err),
		Code:    http.StatusInternalServerError,
	}
}

func (st *v5Streams) writeStatus(s streamStatus) {
	b, err := json.Marshal(s)
	if err == nil {
		_, err = st.errStream.Write(b)
	}
	if err != nil {
		klog.V(4).InfoS("Write a stream's status", "err", err)
	}
}
