package core

import (
	"context"
	"net"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdateRuntimeConfig keeps the pod CIDR the kubelet sends for the network code.
func (s *Service) UpdateRuntimeConfig(_ context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if cidr == "" {
		return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
	}
	// The kubelet sends one CIDR, or an IPv4 and an IPv6 one comma-separated.
	for _, c := range strings.Split(cidr, ",") {
		if _, _, err := net.ParseCIDR(c); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "pod CIDR %q: %v", cidr, err)
		}
	}
	s.network.SetPodCIDR(cidr)
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
