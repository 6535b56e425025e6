// Package engine is dockercri's one door to Docker Engine.
//
// Everything dockercri asks of Docker goes through the Engine interface, so the CRI
// translation in core/ can be unit-tested against a fake and the real client stays in
// one place. The methods carry the Docker client's own signatures: *client.Client
// satisfies Engine as it is.
package engine

import (
	"context"
	"io"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
)

// Engine is the part of Docker's API that dockercri uses.
type Engine interface {
	Ping(ctx context.Context) (types.Ping, error)
	Info(ctx context.Context) (system.Info, error)
	ServerVersion(ctx context.Context) (types.Version, error)
	// ClientVersion is the API version in use: the negotiated one once Docker answered.
	ClientVersion() string

	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageRemove(ctx context.Context, ref string, options image.RemoveOptions) ([]image.DeleteResponse, error)

	Close() error
}

// New returns a client for the Docker Engine at endpoint (unix:///path, tcp://host:port).
//
// The API version is negotiated with the daemon on the first request that reaches it,
// so dockercri works with Docker Engine 20.10 (API 1.41) and newer, and a daemon that
// is down at start-up is negotiated with once it comes up.
func New(endpoint string) (Engine, error) {
	return client.NewClientWithOpts(client.WithHost(endpoint), client.WithAPIVersionNegotiation())
}
