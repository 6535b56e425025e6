package core

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/config"
	"github.com/dockercri/dockercri/core/checkpoint"
	"github.com/dockercri/dockercri/core/crilog"
	"github.com/dockercri/dockercri/core/dockerview"
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
	// oldCheckpoints are the checkpoint stores of the servers the node may have moved
	// from (not dockercri's own root).
	oldCheckpoints []*checkpoint.Store
	logs           logCopier
	host           hostLimits
	pauseImages    sandboxImages
	streams        *streaming.Server
	view           *dockerview.View
	stats          *stats.Collector
	// dockerVersion is Docker's /version, kept while dockerd runs: it runs runc and
	// docker-init to report theirs, and the kubelet asks every second.
	dockerVersion *dockerview.Fact[types.Version]
	// apiProblemOnce logs an unsupported Docker Engine API once.
	apiProblemOnce sync.Once
	// daemon is what docker info says of dockerd that calls need, kept while it runs.
	daemon *dockerview.Fact[daemonFacts]
	// netLocks serialise the network work on each sandbox (see sweepNetworks).
	netLocks sandboxLocks
	kinds    viewByKind
	// The CRI form of the view's objects, kept between calls.
	sandboxItems   memo[*runtimeapi.PodSandbox]
	containerItems memo[*runtimeapi.Container]
	statuses       statusMemo
	starting       startingSandboxes
}

// NewService returns the CRI services on docker.
func NewService(cfg *config.Config, docker engine.Engine) *Service {
	view := dockerview.New(docker, labelType)
	return &Service{
		cfg:    cfg,
		docker: docker,
		network: network.NewManager(network.Options{Plugin: cfg.NetworkPlugin, ConfDir: cfg.CNIConfDir, BinDirs: cfg.CNIBinDirs, CacheDir: cfg.CNICacheDir,
			StateDir: filepath.Join(cfg.RootDirectory, "cni")}),
		images:         images.New(docker, cfg.RuntimeRequestTimeout, cfg.ImagePullProgressDeadline, view.Epoch),
		checkpoints:    checkpoint.NewStore(cfg.RootDirectory),
		oldCheckpoints: oldStores(cfg),
		logs:           crilog.NewManager(docker, filepath.Join(cfg.RootDirectory, "logs")),
		host:           probeHost(cfg.RestrictOOMScoreAdj),
		view:           view,
		stats:          stats.NewCollector(),
		dockerVersion:  dockerview.NewFact[types.Version](view.Epoch),
		daemon:         dockerview.NewFact[daemonFacts](view.Epoch),
	}
}

// oldStores are the checkpoint stores of cfg.OldRootDirectories but dockercri's own.
func oldStores(cfg *config.Config) []*checkpoint.Store {
	var stores []*checkpoint.Store
	for _, dir := range cfg.OldRootDirectories {
		if dir != "" && filepath.Clean(dir) != filepath.Clean(cfg.RootDirectory) {
			stores = append(stores, checkpoint.NewStore(dir))
		}
	}
	return stores
}

// RemoveTemps removes the temporary files of the checkpoint and CNI result writes a
// kill cut short, which nothing else would remove. It is for start-up, before any
// call can write one.
func (s *Service) RemoveTemps() {
	if err := s.checkpoints.RemoveTemps(); err != nil {
		klog.ErrorS(err, "Remove the temporary files of interrupted checkpoint writes")
	}
	if err := s.network.RemoveTemps(); err != nil {
		klog.ErrorS(err, "Remove the temporary files of interrupted CNI result writes")
	}
}

// Run starts the service's work in the background until ctx ends: the log copies of
// the containers found running resume, the view follows Docker's events, and the
// network sweep runs.
func (s *Service) Run(ctx context.Context) {
	go s.resumeLogs(ctx, time.Now())
	go s.view.Run(ctx)
	go s.sweepNetworks(ctx, s.cfg.NetworkSweepInterval)
	go s.forgetEnded(ctx)
}

// Close stops the log copies and closes the cgroup files the stats keep open.
func (s *Service) Close() {
	s.logs.Close()
	s.stats.Close()
}

// ViewLen is how many containers the view of Docker holds (a metric).
func (s *Service) ViewLen() int { return s.view.Len() }

// Epoch is the view's (dockerview.View.Epoch): it changes when the view lists Docker
// again after its event stream broke, and ok is false while the stream is down.
func (s *Service) Epoch() (epoch uint64, ok bool) { return s.view.Epoch() }

// Images is the CRI image service.
func (s *Service) Images() runtimeapi.ImageServiceServer { return s.images }

func (s *Service) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RuntimeRequestTimeout)
}
