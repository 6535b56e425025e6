// Package core serves the CRI on Docker Engine: the runtime service, and the image
// service from core/images. Package server runs them as a process.
//
// # Where an RPC is
//
// Each RPC is in the file named after it, as in containerd's internal/cri/server:
// RunPodSandbox in sandbox_run.go, RemoveContainer in container_remove.go, PortForward
// in sandbox_portforward.go, UpdateContainerResources in
// container_update_resources.go; the Stream* list RPCs beside their List twins;
// Version, Status, RuntimeConfig and UpdateRuntimeConfig in runtime_*.go. Exec,
// Attach and PortForward hand out a URL of the streaming server (package streaming),
// which then runs the stream with streamRuntime's method of the same name, in the
// same file. The other files hold what several RPCs share.
//
// # The list pipeline
//
// ListPodSandbox and ListContainers (and StreamPodSandboxes, StreamContainers) are
// asked every second by the kubelet, so their answers are made of parts kept between
// calls, in four layers:
//
//  1. The view of Docker (core/dockerview): every pod container Docker holds, as one
//     *container.InspectResponse each, filled by one list at start and kept current
//     from Docker's event stream and dockercri's own Refresh calls. A change replaces
//     the object (a new pointer) and gives the view a new generation; Snapshot hands
//     out one slice per generation, shared by every caller.
//  2. The split by kind (view.go: viewKind): the snapshot's sandboxes and containers,
//     made once per generation and shared.
//  3. The memo of CRI forms (memo.go): the *runtimeapi.PodSandbox or
//     *runtimeapi.Container of each view object, keyed by the object's pointer, so
//     that an object converts once, however many lists show it; the filtered answers
//     are new slices of these same items.
//  4. The codec (codec.go): gRPC's proto codec, except that a list answer is written
//     from each item's protobuf encoding, made once and kept in the memo beside the
//     item (answerCodec, which knows the service only as keptEncodings).
//
// ContainerStatus, asked for every container every few seconds, keeps its answer the
// same way (statusMemo, memo.go): per container, while its view object stays, with the
// answer's encoding beside it for the codec.
//
// Nothing is copied along the way: an object of the view, and an item of a list
// answer, are shared by every call and every generation that holds them. Read them,
// never modify them. An edit in place gives no error: it changes the answers of
// other calls, and, once the item was encoded, the next answers send its old bytes,
// so the kubelet sees something other than what the item says. To answer something
// else, make a new item (proto.Clone it, as list_fit.go does to leave annotations
// out). TestListPipelineIntact checks the rule over every list RPC and
// ContainerStatus: after the calls, each memo item and kept status is still the CRI
// form of its view object, each kept encoding still decodes to its item, and each
// view object is still what Docker said.
package core
