package core

import (
	"context"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/dockercri/dockercri/core/pause"
)

// pauseRetry is how long after a failed pull of the configured pause image pods use
// dockercri's own instead of trying the pull again: on an offline node each try can take
// as long as the registry's address takes to fail.
const pauseRetry = 5 * time.Minute

// sandboxImages picks the image of each pod's pause container.
type sandboxImages struct {
	mu            sync.Mutex
	fallbackUntil time.Time
}

// sandboxImage returns the pause image to use: the configured one, pulled when missing,
// or, when it cannot be had (an offline node), the one dockercri carries itself.
func (s *Service) sandboxImage(ctx context.Context) (string, error) {
	// Without the configured image, dockercri's own, for the architecture of dockerd's
	// containers.
	builtin := func() (string, error) {
		arch, err := s.engineArch(ctx)
		if err != nil {
			return "", err
		}
		return pause.Ensure(ctx, s.docker, arch)
	}
	s.pauseImages.mu.Lock()
	useOwn := time.Now().Before(s.pauseImages.fallbackUntil)
	s.pauseImages.mu.Unlock()
	if !useOwn {
		if _, err := s.images.Ensure(ctx, s.cfg.PodInfraImage); err == nil {
			return s.cfg.PodInfraImage, nil
		} else {
			own, ownErr := builtin()
			if ownErr != nil {
				return "", err
			}
			klog.InfoS("Cannot get the pod infra image; pods use dockercri's built-in pause image", "image", s.cfg.PodInfraImage, "err", err, "builtin", own, "retryIn", pauseRetry)
			s.pauseImages.mu.Lock()
			s.pauseImages.fallbackUntil = time.Now().Add(pauseRetry)
			s.pauseImages.mu.Unlock()
			return own, nil
		}
	}
	return builtin()
}
