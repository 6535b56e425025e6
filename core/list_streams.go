package core

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/dockercri/dockercri/core/batch"
)

// The Stream* RPCs send what their List counterparts answer, whole (nothing trimmed),
// in messages bounded by count and bytes (core/batch), for nodes whose lists outgrow
// one gRPC message. Each is beside its List twin (sandbox_list.go, container_list.go,
// sandbox_stats.go, container_stats.go); they all go through streamList.

// streamList sends the items list finds for filter f, in batches that wrap makes into
// messages of the stream; sizes gives each item's encoded size.
func streamList[F, T, R any](ctx context.Context, f F, list func(context.Context, F) ([]T, error), sizes func([]T) ([]int, error), wrap func([]T) *R, send func(*R) error) error {
	items, err := list(ctx, f)
	if err != nil {
		return err
	}
	sz, err := sizes(items)
	if err != nil {
		return err
	}
	return batch.Send(items, sz, wrap, send)
}

// protoSizes is batch.ProtoSizes for streamList: the items of no memo are sized as
// they are.
func protoSizes[T proto.Message](items []T) ([]int, error) { return batch.ProtoSizes(items), nil }
