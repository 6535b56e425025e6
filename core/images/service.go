// Package images serves the CRI ImageService on Docker Engine.
package images

import (
	"context"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/core/dockerview"
	"github.com/dockercri/dockercri/engine"
)

// Service implements runtimeapi.ImageServiceServer.
type Service struct {
	runtimeapi.UnimplementedImageServiceServer

	docker engine.Engine
	// timeout bounds each Docker call but pulls, which are bounded by progress instead.
	timeout time.Duration
	// pullDeadline cancels a pull that makes no progress for this long.
	pullDeadline time.Duration

	// users caches each image's USER by image ID. An ID names an immutable config, so
	// an entry never goes stale; it only goes away with the image. This spares
	// ListImages an inspect per image on every call.
	mu    sync.Mutex
	users map[string]string
	// imageRoot is where Docker keeps images (ImageFsInfo), kept while dockerd runs.
	imageRoot *dockerview.Fact[string]
}

// New returns the image service on docker; epoch tells for how long what it learns of
// dockerd itself holds (dockerview.Cache.Epoch).
func New(docker engine.Engine, timeout, pullDeadline time.Duration, epoch func() (uint64, bool)) *Service {
	return &Service{docker: docker, timeout: timeout, pullDeadline: pullDeadline, users: map[string]string{}, imageRoot: dockerview.NewFact[string](epoch)}
}

func (s *Service) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}
