package core

import (
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protopath"
	"google.golang.org/protobuf/reflect/protorange"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// checkEnums refuses a request with an enum value its enum does not name: protobuf
// keeps unknown values, and a switch over the known ones would quietly read one as
// the default (a namespace mode, a protocol "5" for CNI, a signal Docker has no name
// for).
func checkEnums(m proto.Message) error {
	return protorange.Range(m.ProtoReflect(), func(p protopath.Values) error {
		last := p.Index(-1)
		var fd protoreflect.FieldDescriptor
		switch last.Step.Kind() {
		case protopath.FieldAccessStep:
			if fd = last.Step.FieldDescriptor(); fd.IsList() || fd.IsMap() {
				return nil
			}
		case protopath.ListIndexStep:
			fd = p.Index(-2).Step.FieldDescriptor()
		default:
			return nil
		}
		if fd.Enum() != nil && fd.Enum().Values().ByNumber(last.Value.Enum()) == nil {
			return status.Errorf(codes.InvalidArgument, "%s: %d is not a value of %s", strings.TrimPrefix(p.Path[1:].String(), "."), last.Value.Enum(), fd.Enum().Name())
		}
		return nil
	})
}
