package core

import (
	"context"
	"fmt"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dockercri/dockercri/network"
)

// A network failure has the code of its kind, not Internal for all: the kubelet
// retries a sandbox either way, but the code is what tells an operator where to look.
func TestNetworkErrorCodes(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"no usable config", fmt.Errorf("%w: no CNI config in /etc/cni/net.d", network.ErrNotReady), codes.FailedPrecondition},
		{"a plugin says try again later", fmt.Errorf("CNI ADD on network n: %w", &cnitypes.Error{Code: cnitypes.ErrTryAgainLater, Msg: "busy"}), codes.Unavailable},
		{"a plugin says the config is invalid", fmt.Errorf("CNI ADD on network n: %w", &cnitypes.Error{Code: cnitypes.ErrInvalidNetworkConfig, Msg: "bad"}), codes.FailedPrecondition},
		{"a plugin's own failure", fmt.Errorf("CNI ADD on network n: %w", &cnitypes.Error{Code: 100, Msg: "failed to set up bridge"}), codes.Internal},
		{"the call's deadline", fmt.Errorf("CNI ADD on network n: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		// As network's runtimeConf says it (TestRuntimeConf there).
		{"a bad bandwidth annotation", fmt.Errorf("annotation kubernetes.io/egress-bandwidth=\"fast\": not a positive quantity: %w", cerrdefs.ErrInvalidArgument), codes.InvalidArgument},
	} {
		if got := status.Code(networkError(tt.err, "sandbox sb")); got != tt.want {
			t.Errorf("%s: networkError(%v) code %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
