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
	"net/http"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/sockets"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)

	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string, options container.StartOptions) error
	ContainerStop(ctx context.Context, id string, options container.StopOptions) error
	ContainerKill(ctx context.Context, id, signal string) error
	ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerUpdate(ctx context.Context, id string, updateConfig container.UpdateConfig) (container.UpdateResponse, error)
	ContainerWait(ctx context.Context, id string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerLogs(ctx context.Context, id string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerAttach(ctx context.Context, id string, options container.AttachOptions) (types.HijackedResponse, error)
	ContainerResize(ctx context.Context, id string, options container.ResizeOptions) error

	ContainerExecCreate(ctx context.Context, id string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
	ContainerExecResize(ctx context.Context, execID string, options container.ResizeOptions) error

	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)

	Close() error
}

// New returns a client for the Docker Engine at endpoint (unix:///path, tcp://host:port).
//
// The API version is negotiated with the daemon on the first request that reaches it,
// so dockercri works with Docker Engine 20.10 (API 1.41) and newer, and a daemon that
// is down at start-up is negotiated with once it comes up.
//
// Every request goes through a transport that times it by operation (metrics).
func New(endpoint string) (Engine, error) {
	u, err := client.ParseHostURL(endpoint)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{}
	if err := sockets.ConfigureTransport(transport, u.Scheme, u.Host); err != nil {
		return nil, err
	}
	// WithHost first, on the client's own transport (it insists on an *http.Transport);
	// then the instrumented one, configured the same way, replaces it.
	return client.NewClientWithOpts(client.WithHost(endpoint), client.WithHTTPClient(&http.Client{Transport: instrumented{transport}}), client.WithAPIVersionNegotiation())
}
