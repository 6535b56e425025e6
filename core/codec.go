package core

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers "proto", which answerCodec wraps
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// answerCodec is gRPC's proto codec, except for the answers of ListPodSandbox and
// ListContainers, and the messages of their Stream* twins: their items are encoded
// once each and kept beside the memo of the view's CRI form, so a list costs a copy of
// bytes instead of marshalling every item's label and annotation maps, which
// protobuf-go does through reflection — most of a list's CPU at 200 pods, by pprof —
// at each of the kubelet's polls. A kept ContainerStatus answer is sent as the bytes
// kept with it, likewise.
//
// It knows of the service only the kept encodings (keptEncodings): what the memos hold
// for the items and answers the handlers answered with (memo.go; the whole pipeline:
// doc.go).
type answerCodec struct {
	encoding.CodecV2
	kept keptEncodings
}

// keptEncodings gives the protobuf encoding of each of the items of a list answer,
// kept with the memo of the items (encoded once each), or made for an item it does not
// hold.
type keptEncodings interface {
	sandboxEncodings(items []*runtimeapi.PodSandbox) ([][]byte, error)
	containerEncodings(items []*runtimeapi.Container) ([][]byte, error)
	// statusEncoding is the kept encoding of a ContainerStatus answer; ok is false
	// for one not kept.
	statusEncoding(resp *runtimeapi.ContainerStatusResponse) (b []byte, ok bool, err error)
}

func (s *Service) sandboxEncodings(items []*runtimeapi.PodSandbox) ([][]byte, error) {
	return s.sandboxItems.encoded(items)
}

func (s *Service) containerEncodings(items []*runtimeapi.Container) ([][]byte, error) {
	return s.containerItems.encoded(items)
}

func (s *Service) statusEncoding(resp *runtimeapi.ContainerStatusResponse) ([]byte, bool, error) {
	return s.statuses.encoded(resp)
}

// NewCodec is the gRPC codec of the CRI server on s: gRPC's proto codec, with the list
// answers written from the encodings s keeps.
func NewCodec(s *Service) encoding.CodecV2 { return newAnswerCodec(s) }

func newAnswerCodec(kept keptEncodings) answerCodec {
	return answerCodec{CodecV2: encoding.GetCodecV2("proto"), kept: kept}
}

// The field numbers of the lists' items; ok is false if a message has other fields
// (a newer CRI), whose answers are then marshalled as usual.
var (
	sandboxesField, sandboxesOnly               = onlyField(&runtimeapi.ListPodSandboxResponse{}, "items")
	containersField, containersOnly             = onlyField(&runtimeapi.ListContainersResponse{}, "containers")
	streamSandboxesField, streamSandboxesOnly   = onlyField(&runtimeapi.StreamPodSandboxesResponse{}, "pod_sandboxes")
	streamContainersField, streamContainersOnly = onlyField(&runtimeapi.StreamContainersResponse{}, "containers")
)

func onlyField(m proto.Message, name protoreflect.Name) (protowire.Number, bool) {
	fields := m.ProtoReflect().Descriptor().Fields()
	f := fields.ByName(name)
	if f == nil || fields.Len() != 1 || !f.IsList() || f.Kind() != protoreflect.MessageKind {
		return 0, false
	}
	return f.Number(), true
}

func (c answerCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *runtimeapi.ListPodSandboxResponse:
		if sandboxesOnly && len(m.ProtoReflect().GetUnknown()) == 0 {
			return encodeList(sandboxesField, c.kept.sandboxEncodings, m.Items)
		}
	case *runtimeapi.ListContainersResponse:
		if containersOnly && len(m.ProtoReflect().GetUnknown()) == 0 {
			return encodeList(containersField, c.kept.containerEncodings, m.Containers)
		}
	case *runtimeapi.StreamPodSandboxesResponse:
		if streamSandboxesOnly && len(m.ProtoReflect().GetUnknown()) == 0 {
			return encodeList(streamSandboxesField, c.kept.sandboxEncodings, m.PodSandboxes)
		}
	case *runtimeapi.StreamContainersResponse:
		if streamContainersOnly && len(m.ProtoReflect().GetUnknown()) == 0 {
			return encodeList(streamContainersField, c.kept.containerEncodings, m.Containers)
		}
	case *runtimeapi.ContainerStatusResponse:
		if b, ok, err := c.kept.statusEncoding(m); ok || err != nil {
			return mem.BufferSlice{mem.SliceBuffer(b)}, err
		}
	}
	return c.CodecV2.Marshal(v)
}

// encodeList encodes a message whose only field, a repeated message, holds items.
func encodeList[T any](field protowire.Number, encoded func([]T) ([][]byte, error), items []T) (mem.BufferSlice, error) {
	parts, err := encoded(items)
	if err != nil {
		return nil, err
	}
	size := 0
	for _, p := range parts {
		size += protowire.SizeTag(field) + protowire.SizeBytes(len(p))
	}
	b := make([]byte, 0, size)
	for _, p := range parts {
		b = protowire.AppendTag(b, field, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}
