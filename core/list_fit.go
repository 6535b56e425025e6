package core

import (
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A unary list answer must fit in one gRPC message (16 MiB for the kubelet), and with
// each pod's annotations (up to 256 KiB, copied onto its sandbox) 64 pods can pass it:
// the kubelet's relist would then fail at every try, and the node go NotReady. The
// kubelet never reads the annotations of a listed sandbox, nor those of stats'
// attributes, so such answers leave them out of their biggest items, with
// annotationsOmitted in their place, until they fit (batch.Fit). The statuses and the
// Stream* RPCs have them whole.

// annotationsOmitted marks an item of a list answer whose annotations were left out.
const annotationsOmitted = "io.dockercri.annotations-omitted"

var omittedNote = map[string]string{annotationsOmitted: "the answer would exceed the 16 MiB message limit; the status and the Stream RPC have them"}

func sandboxWithoutAnnotations(sb *runtimeapi.PodSandbox) (*runtimeapi.PodSandbox, int) {
	c := proto.Clone(sb).(*runtimeapi.PodSandbox)
	c.Annotations = omittedNote
	return c, proto.Size(c)
}

func containerStatsWithoutAnnotations(st *runtimeapi.ContainerStats) (*runtimeapi.ContainerStats, int) {
	c := proto.Clone(st).(*runtimeapi.ContainerStats)
	if c.Attributes != nil {
		c.Attributes.Annotations = omittedNote
	}
	return c, proto.Size(c)
}

func sandboxStatsWithoutAnnotations(st *runtimeapi.PodSandboxStats) (*runtimeapi.PodSandboxStats, int) {
	c := proto.Clone(st).(*runtimeapi.PodSandboxStats)
	if c.Attributes != nil {
		c.Attributes.Annotations = omittedNote
	}
	for _, cs := range c.GetLinux().GetContainers() {
		if cs.Attributes != nil {
			cs.Attributes.Annotations = omittedNote
		}
	}
	for _, cs := range c.GetWindows().GetContainers() {
		if cs.Attributes != nil {
			cs.Attributes.Annotations = omittedNote
		}
	}
	return c, proto.Size(c)
}
