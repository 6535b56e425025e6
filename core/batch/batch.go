// Package batch keeps list answers within the gRPC message limit: the Stream* RPCs of
// the CRI send a list in messages bounded by count and bytes, and a unary list answer
// that would not fit is trimmed where that loses nothing its caller reads, or refused.
package batch

import (
	"cmp"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// MaxMessage is the largest message the kubelet's CRI client takes (its
// MaxCallRecvMsgSize, 16 MiB); dockercri's server keeps the same limit.
const MaxMessage = 16 << 20

// Size is how many items one streamed message carries at most.
const Size = 100

// itemField is the number of the items' field in every CRI list and stream answer.
const itemField = 1

// wireSize is what an item of encoded size n adds to its message.
func wireSize(n int) int { return protowire.SizeTag(itemField) + protowire.SizeBytes(n) }

// ListSize is the encoded size of an answer whose only field holds items of these
// encoded sizes.
func ListSize(sizes []int) int {
	total := 0
	for _, n := range sizes {
		total += wireSize(n)
	}
	return total
}

// ProtoSizes are the encoded sizes of items.
func ProtoSizes[T proto.Message](items []T) []int {
	sizes := make([]int, len(items))
	for i, item := range items {
		sizes[i] = proto.Size(item)
	}
	return sizes
}

// Send sends items in messages of at most Size items and MaxMessage bytes, each made
// by wrap; sizes[i] is the encoded size of items[i]. An item too large for a message
// of its own is ResourceExhausted: no client could take it.
func Send[T, R any](items []T, sizes []int, wrap func([]T) *R, send func(*R) error) error {
	for len(items) > 0 {
		n, bytes := 0, 0
		for n < len(items) && n < Size && bytes+wireSize(sizes[n]) <= MaxMessage {
			bytes += wireSize(sizes[n])
			n++
		}
		if n == 0 {
			return status.Errorf(codes.ResourceExhausted, "an item of %s exceeds the %s message limit by itself", mib(sizes[0]), mib(MaxMessage))
		}
		if err := send(wrap(items[:n])); err != nil {
			return err
		}
		items, sizes = items[n:], sizes[n:]
	}
	return nil
}

// Fit returns items as the answer of the unary list RPC method when it fits in
// MaxMessage (sizes[i] is the encoded size of items[i]). When it does not, and trim is
// not nil, the biggest items are replaced by trim's smaller copies (with their sizes),
// one after another until the answer fits; when even that is not enough, the answer
// is ResourceExhausted naming stream, the RPC that sends the list in parts.
func Fit[T any](method, stream string, items []T, sizes []int, trim func(T) (T, int)) ([]T, error) {
	total := ListSize(sizes)
	if total <= MaxMessage {
		return items, nil
	}
	if trim != nil {
		order := make([]int, len(items))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
		out, left := slices.Clone(items), total
		for _, i := range order {
			if left <= MaxMessage {
				break
			}
			small, n := trim(items[i])
			out[i], left = small, left-wireSize(sizes[i])+wireSize(n)
		}
		if left <= MaxMessage {
			return out, nil
		}
	}
	return nil, status.Errorf(codes.ResourceExhausted, "%s: the answer, %d items in %s, exceeds the %s message limit of the kubelet's CRI client; %s sends it in parts (the kubelet calls it with its CRIListStreaming feature gate)",
		method, len(items), mib(total), mib(MaxMessage), stream)
}

func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
