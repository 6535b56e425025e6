package core

import (
	"context"
	"errors"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dockercri/dockercri/core/cache"
	"github.com/dockercri/dockercri/core/grpcerr"
)

// viewOf lists the view's sandboxes or containers.
func (s *Service) viewOf(kind string) ([]*container.InspectResponse, error) {
	all, err := s.view.List()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	out := all[:0:0]
	for _, obj := range all {
		if obj.Config != nil && obj.Config.Labels[labelType] == kind {
			out = append(out, obj)
		}
	}
	return out, nil
}

// podsView lists the view's sandboxes and containers, for answers about whole pods.
func (s *Service) podsView() (sandboxes, containers []*container.InspectResponse, err error) {
	if sandboxes, err = s.viewOf(typeSandbox); err != nil {
		return nil, nil, err
	}
	containers, err = s.viewOf(typeContainer)
	return sandboxes, containers, err
}

// lookup finds id (full or unique prefix) in the view; a miss asks Docker, in case the
// event that would have told is still on its way.
func (s *Service) lookup(ctx context.Context, id string) (container.InspectResponse, error) {
	obj, err := s.view.Get(id)
	switch {
	case err == nil:
		return *obj, nil
	case errors.Is(err, cache.ErrAmbiguous):
		return container.InspectResponse{}, status.Errorf(codes.InvalidArgument, "id %q: %v", id, err)
	}
	obj, err = s.view.Refresh(ctx, id)
	switch {
	case errors.Is(err, cache.ErrNotFound):
		return container.InspectResponse{}, status.Errorf(codes.NotFound, "no sandbox or container %q", id)
	case err != nil:
		return container.InspectResponse{}, grpcerr.Wrap(err, "inspect "+id)
	}
	return *obj, nil
}

// refresh brings the view of id up to date after dockercri changed it, so that the
// next list shows the change.
func (s *Service) refresh(ctx context.Context, id string) {
	// On failure, the event stream brings the view up to date anyway.
	_, _ = s.view.Refresh(context.WithoutCancel(ctx), id)
}
