// Package server runs dockercri as a process: the CRI services of core on their gRPC
// server (the socket, or the one systemd passed), the streaming server, the metrics
// endpoint, the interceptors every call goes through, and the shutdown on a signal.
// core holds the CRI services only.
package server

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/core"
	"github.com/dockercri/dockercri/core/batch"
	"github.com/dockercri/dockercri/core/grpcerr"
	"github.com/dockercri/dockercri/engine"
	"github.com/dockercri/dockercri/metrics"
	"github.com/dockercri/dockercri/streaming"
)

// shutdownGrace bounds how long in-flight calls may finish after SIGTERM.
const shutdownGrace = 10 * time.Second

// maxMsgSize matches the kubelet's CRI client, so large lists pass both ways; the
// lists keep their answers within it (core/batch).
const maxMsgSize = batch.MaxMessage

// flowWindow is the HTTP/2 flow-control window of each call and of the connection,
// fixed: grpc-go otherwise estimates the bandwidth with a ping after each request's
// data, a second round trip (a wake-up of dockercri and of the kubelet) per call, to
// size a window that the kubelet's small requests never fill. Fixed at 1 MiB, the
// largest request (16 MiB) still streams in without waiting on the kubelet's reads.
const flowWindow = 1 << 20

// Serve runs dockercri until ctx ends, then stops accepting calls, lets the ones in
// flight finish (for at most shutdownGrace) and removes the socket.
func Serve(ctx context.Context, cfg *config.Config) error {
	docker, err := engine.New(cfg.DockerEndpoint)
	if err != nil {
		return fmt.Errorf("docker client for %s: %w", cfg.DockerEndpoint, err)
	}
	defer docker.Close()
	svc := core.NewService(cfg, docker)
	svc.RemoveTemps()
	metrics.RegisterViewSize(svc.ViewLen)
	if cfg.MetricsBindAddr != "" {
		ms, err := metrics.Start(cfg.MetricsBindAddr, cfg.EnablePprof)
		if err != nil {
			return fmt.Errorf("--metrics-bind-addr %s: %w", cfg.MetricsBindAddr, err)
		}
		defer ms.Stop()
		klog.InfoS("Serving metrics", "addr", ms.Addr(), "pprof", cfg.EnablePprof)
	}
	defer svc.Close()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	svc.Run(runCtx)

	streams, err := streaming.Start(streaming.Options{Addr: cfg.StreamingBindAddr, CertFile: cfg.StreamingTLSCertFile, KeyFile: cfg.StreamingTLSKeyFile}, svc.StreamRuntime())
	if err != nil {
		return err
	}
	defer streams.Stop()
	svc.SetStreamServer(streams)

	path := cfg.SocketPath()
	lis, err := activatedListener()
	if err != nil {
		return err
	}
	activated := lis != nil
	if !activated {
		if lis, err = listenUnix(path); err != nil {
			return err
		}
	}
	cc := calls{slow: cfg.SlowCallThreshold, docker: &dockerPresence{endpoint: cfg.DockerEndpoint, epoch: svc.Epoch}}
	srv := grpc.NewServer(append(serverOptions(cc), grpc.ForceServerCodecV2(core.NewCodec(svc)))...)
	runtimeapi.RegisterRuntimeServiceServer(srv, svc)
	runtimeapi.RegisterImageServiceServer(srv, svc.Images())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	klog.InfoS("dockercri serving", "endpoint", lis.Addr().String(), "socketActivated", activated, "docker", cfg.DockerEndpoint, "streaming", streams.Addr())
	notifySystemd(daemon.SdNotifyReady)

	select {
	case err = <-served:
	case <-ctx.Done():
		klog.InfoS("Shutting down: finishing calls in flight", "grace", shutdownGrace)
		notifySystemd(daemon.SdNotifyStopping)
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(shutdownGrace):
			srv.Stop()
		}
	}
	if !activated {
		if rmErr := os.Remove(path); rmErr != nil && !os.IsNotExist(rmErr) {
			klog.ErrorS(rmErr, "Remove socket", "path", path)
		}
	}
	return err
}

// serverOptions are the CRI server's gRPC options, but for its codec.
func serverOptions(cc calls) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(cc.unary),
		grpc.ChainStreamInterceptor(cc.stream),
		grpc.MaxRecvMsgSize(maxMsgSize),
		grpc.MaxSendMsgSize(maxMsgSize),
		grpc.StaticStreamWindowSize(flowWindow),
		grpc.StaticConnWindowSize(flowWindow),
	}
}

// notifySystemd tells systemd (Type=notify) how dockercri is doing; outside systemd,
// with no NOTIFY_SOCKET, it does nothing.
func notifySystemd(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		klog.ErrorS(err, "Notify systemd", "state", state)
	}
}

// calls gives every CRI call the same guarantees: a panic becomes an Internal error
// instead of a crash, every error is a gRPC status, and the call is measured (metrics),
// logged at -v=4, and logged at the default level when slower than slow. A failure
// that comes of Docker going away during the call is Unavailable (dockerPresence).
type calls struct {
	slow   time.Duration
	docker *dockerPresence
}

func (c calls) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer c.finish(info.FullMethod, req, time.Now(), c.docker.mark(), &err)
	return handler(ctx, req)
}

func (c calls) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer c.finish(info.FullMethod, nil, time.Now(), c.docker.mark(), &err)
	return handler(srv, ss)
}

// finish is deferred by the interceptors: it recovers a panic of the handler.
func (c calls) finish(fullMethod string, req any, start time.Time, docker presenceMark, err *error) {
	if r := recover(); r != nil {
		klog.ErrorS(nil, "Panic in CRI call", "method", fullMethod, "panic", r, "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Internal, "%s: internal error: %v", fullMethod, r)
	}
	*err = grpcerr.FromDocker(*err)
	if *err != nil {
		*err = c.docker.unavailableIfGone(*err, docker)
	}
	took := time.Since(start)
	method := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	code := status.Code(*err)
	metrics.CRIDuration.WithLabelValues(method).Observe(took.Seconds())
	if code != codes.OK {
		metrics.CRIErrors.WithLabelValues(method, code.String()).Inc()
	}
	msg := "CRI call"
	if c.slow > 0 && took > c.slow {
		msg = "Slow CRI call"
	} else if !klog.V(4).Enabled() {
		return
	}
	klog.InfoS(msg, append([]any{"method", method, "duration", took, "code", code}, subject(req)...)...)
}

// subject is what a call is about, for its log line: the pod and/or container.
func subject(req any) []any {
	var kv []any
	if r, ok := req.(interface{ GetPodSandboxId() string }); ok && r.GetPodSandboxId() != "" {
		kv = append(kv, "podSandboxID", r.GetPodSandboxId())
	}
	if r, ok := req.(interface{ GetContainerId() string }); ok && r.GetContainerId() != "" {
		kv = append(kv, "containerID", r.GetContainerId())
	}
	if r, ok := req.(interface {
		GetConfig() *runtimeapi.PodSandboxConfig
	}); ok && r.GetConfig() != nil {
		kv = append(kv, "pod", klog.KRef(r.GetConfig().GetMetadata().GetNamespace(), r.GetConfig().GetMetadata().GetName()))
	}
	if r, ok := req.(interface {
		GetConfig() *runtimeapi.ContainerConfig
	}); ok && r.GetConfig() != nil {
		kv = append(kv, "container", r.GetConfig().GetMetadata().GetName())
	}
	if r, ok := req.(interface{ GetImage() *runtimeapi.ImageSpec }); ok && r.GetImage() != nil {
		kv = append(kv, "image", r.GetImage().GetImage())
	}
	return kv
}
