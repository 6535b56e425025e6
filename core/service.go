// Package core serves the CRI on Docker Engine: the gRPC server, the runtime service,
// and the image service from core/images.
package core

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/docker/docker/api/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/core/cache"
	"github.com/dockercri/dockercri/core/checkpoint"
	"github.com/dockercri/dockercri/core/crilog"
	"github.com/dockercri/dockercri/core/images"
	"github.com/dockercri/dockercri/core/stats"
	"github.com/dockercri/dockercri/engine"
	"github.com/dockercri/dockercri/network"
	"github.com/dockercri/dockercri/streaming"
)

// Service implements runtimeapi.RuntimeServiceServer. RPCs a later part of dockercri
// provides answer Unimplemented until then.
type Service struct {
	runtimeapi.UnimplementedRuntimeServiceServer

	cfg         *config.Config
	docker      engine.Engine
	network     *network.Manager
	images      *images.Service
	checkpoints *checkpoint.Store
	logs        logCopier
	host        hostLimits
	pauseImages sandboxImages
	streams     *streaming.Server
	view        *cache.Cache
	stats       *stats.Collector
	// dockerVersion is Docker's /version, kept while dockerd runs: it runs runc and
	// docker-init to report theirs, and the kubelet asks every second.
	dockerVersion *cache.Fact[types.Version]
	// apiProblemOnce logs an unsupported Docker Engine API once.
	apiProblemOnce sync.Once
	// daemon is what docker info says of dockerd that calls need, kept while it runs.
	daemon *cache.Fact[daemonFacts]
	// The CRI form of the view's objects, kept between list calls.
	// netLocks serialise the network work on each sandbox (see sweepNetworks).
	netLocks       sandboxLocks
	kinds          viewByKind
	sandboxItems   memo[*runtimeapi.PodSandbox]
	containerItems memo[*runtimeapi.Container]
	starting       startingSandboxes
}

// NewService returns the CRI services on docker.
func NewService(cfg *config.Config, docker engine.Engine) *Service {
	view := cache.New(docker, labelType)
	return &Service{
		cfg:    cfg,
		docker: docker,
		network: network.NewManager(network.Options{Plugin: cfg.NetworkPlugin, ConfDir: cfg.CNIConfDir, BinDirs: cfg.CNIBinDirs, CacheDir: cfg.CNICacheDir,
			StateDir: filepath.Join(cfg.RootDirectory, "cni")}),
		images:        images.New(docker, cfg.RuntimeRequestTimeout, cfg.ImagePullProgressDeadline, view.Epoch),
		checkpoints:   checkpoint.NewStore(cfg.RootDirectory),
		logs:          crilog.NewManager(docker, filepath.Join(cfg.RootDirectory, "logs")),
		host:          probeHost(cfg.RestrictOOMScoreAdj),
		view:          view,
		stats:         stats.NewCollector(),
		dockerVersion: cache.NewFact[types.Version](view.Epoch),
		daemon:        cache.NewFact[daemonFacts](view.Epoch),
	}
}

// Images is the CRI image service.
func (s *Service) Images() runtimeapi.ImageServiceServer { return s.images }

func (s *Service) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RuntimeRequestTimeout)
}
