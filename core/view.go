package core

import (
	"context"
	"errors"
	"sync"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dockercri/dockercri/core/dockerview"
	"github.com/dockercri/dockercri/core/grpcerr"
)

// viewOf lists the view's sandboxes or containers. The slice is shared until the view
// changes: read it, never modify it.
func (s *Service) viewOf(ctx context.Context, kind string) ([]*container.InspectResponse, error) {
	objs, _, err := s.viewKind(ctx, kind)
	return objs, err
}

// viewKind is viewOf with the view's generation, which memo keys on. While the view
// is being listed it waits for it, within ctx.
func (s *Service) viewKind(ctx context.Context, kind string) ([]*container.InspectResponse, uint64, error) {
	all, gen, err := s.view.Snapshot(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, status.FromContextError(ctx.Err()).Err()
		}
		return nil, 0, status.Errorf(codes.Unavailable, "%v", err)
	}
	k := &s.kinds
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.of == nil || k.gen != gen {
		// Split once per state of the view, not at every list.
		k.of, k.gen = map[string][]*container.InspectResponse{}, gen
		for _, obj := range all {
			if obj.Config != nil {
				t := obj.Config.Labels[labelType]
				k.of[t] = append(k.of[t], obj)
			}
		}
	}
	return k.of[kind], gen, nil
}

// viewByKind is the view split by kind (sandbox or container) for one generation.
type viewByKind struct {
	mu  sync.Mutex
	gen uint64
	of  map[string][]*container.InspectResponse
}

// podsView lists the view's sandboxes and containers, for answers about whole pods.
func (s *Service) podsView(ctx context.Context) (sandboxes, containers []*container.InspectResponse, err error) {
	if sandboxes, err = s.viewOf(ctx, typeSandbox); err != nil {
		return nil, nil, err
	}
	containers, err = s.viewOf(ctx, typeContainer)
	return sandboxes, containers, err
}

// lookup finds id (full or unique prefix) in the view; a miss asks Docker, in case the
// event that would have told is still on its way. The object is the view's, shared:
// read it, never modify it.
func (s *Service) lookup(ctx context.Context, id string) (*container.InspectResponse, error) {
	obj, err := s.view.Get(id)
	switch {
	case err == nil:
		return obj, nil
	case errors.Is(err, dockerview.ErrAmbiguous):
		return nil, status.Errorf(codes.InvalidArgument, "id %q: %v", id, err)
	}
	obj, err = s.view.Refresh(ctx, id)
	switch {
	case errors.Is(err, dockerview.ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no sandbox or container %q", id)
	case err != nil:
		return nil, grpcerr.Wrap(err, "inspect "+id)
	}
	return obj, nil
}

// refresh brings the view of id up to date after dockercri changed it, so that the
// next list shows the change.
func (s *Service) refresh(ctx context.Context, id string) {
	// On failure, the event stream brings the view up to date anyway.
	obj, err := s.view.Refresh(context.WithoutCancel(ctx), id)
	if err == nil || errors.Is(err, dockerview.ErrNotFound) {
		s.forgetIfEnded(id, obj)
	}
}
