package core

import (
	"testing"

	"github.com/docker/docker/api/types/container"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The list answers encoded from the kept items read back as the same messages, and an
// item's encoding is kept only while the view holds it.
func TestAnswerCodecLists(t *testing.T) {
	if !sandboxesOnly || !containersOnly {
		t.Fatal("a list answer has fields besides its items: answerCodec falls back to plain marshalling")
	}
	s := &Service{}
	codec := newAnswerCodec(s)
	objs := []*container.InspectResponse{{}, {}}
	sandboxes := map[*container.InspectResponse]*runtimeapi.PodSandbox{
		objs[0]: {Id: "a", State: runtimeapi.PodSandboxState_SANDBOX_READY, Labels: map[string]string{"app": "web", "x": "ü"}, Annotations: map[string]string{"k": "v"}, Metadata: &runtimeapi.PodSandboxMetadata{Name: "web", Attempt: 2}},
		objs[1]: {Id: "b", CreatedAt: 42},
	}
	conv := func(o *container.InspectResponse) (*runtimeapi.PodSandbox, error) { return sandboxes[o], nil }
	items := s.sandboxItems.each(1, objs, conv)
	for range 2 { // the second time from the kept encodings
		want := &runtimeapi.ListPodSandboxResponse{Items: items}
		data, err := codec.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got := &runtimeapi.ListPodSandboxResponse{}
		if err := proto.Unmarshal(data.Materialize(), got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("decoded %v, want %v", got, want)
		}
	}
	if len(s.sandboxItems.wire) != 2 {
		t.Errorf("%d encodings kept, want 2", len(s.sandboxItems.wire))
	}
	s.sandboxItems.each(2, objs[1:], conv)
	if _, kept := s.sandboxItems.wire[sandboxes[objs[0]]]; kept || len(s.sandboxItems.wire) != 1 {
		t.Errorf("the encoding of an item gone from the view is kept (%d kept)", len(s.sandboxItems.wire))
	}

	ctrs := []*runtimeapi.Container{{Id: "c", PodSandboxId: "a", Labels: map[string]string{"io.kubernetes.container.name": "app"}, Image: &runtimeapi.ImageSpec{Image: "busybox"}}}
	data, err := codec.Marshal(&runtimeapi.ListContainersResponse{Containers: ctrs})
	if err != nil {
		t.Fatal(err)
	}
	got := &runtimeapi.ListContainersResponse{}
	if err := proto.Unmarshal(data.Materialize(), got); err != nil || !proto.Equal(got, &runtimeapi.ListContainersResponse{Containers: ctrs}) {
		t.Errorf("containers decoded %v, %v", got, err)
	}
	// Other answers go through gRPC's codec.
	data, err = codec.Marshal(&runtimeapi.VersionResponse{RuntimeName: "dockercri"})
	if err != nil || len(data.Materialize()) == 0 {
		t.Errorf("VersionResponse: %d bytes, %v", len(data.Materialize()), err)
	}
}

// The Stream* messages of sandboxes and containers are written from the kept
// encodings too; items the view does not hold (a list's trimmed copies) are encoded
// but not kept, so that no call adds to what is kept.
func TestAnswerCodecStreamsAndCopies(t *testing.T) {
	if !streamSandboxesOnly || !streamContainersOnly {
		t.Fatal("a stream message has fields besides its items: answerCodec falls back to plain marshalling")
	}
	s := &Service{}
	codec := newAnswerCodec(s)
	obj := &container.InspectResponse{}
	sb := &runtimeapi.PodSandbox{Id: "a", Annotations: map[string]string{"k": "v"}}
	items := s.sandboxItems.each(1, []*container.InspectResponse{obj}, func(*container.InspectResponse) (*runtimeapi.PodSandbox, error) { return sb, nil })
	want := &runtimeapi.StreamPodSandboxesResponse{PodSandboxes: items}
	data, err := codec.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got := &runtimeapi.StreamPodSandboxesResponse{}
	if err := proto.Unmarshal(data.Materialize(), got); err != nil || !proto.Equal(got, want) {
		t.Errorf("decoded %v, %v; want %v", got, err, want)
	}
	if s.sandboxItems.wire[sb] == nil {
		t.Error("the streamed item's encoding is not kept")
	}
	trimmed, _ := sandboxWithoutAnnotations(sb)
	for range 3 {
		if _, err := codec.Marshal(&runtimeapi.ListPodSandboxResponse{Items: []*runtimeapi.PodSandbox{trimmed}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.sandboxItems.wire) != 1 {
		t.Errorf("%d encodings kept after answers of a trimmed copy, want 1", len(s.sandboxItems.wire))
	}
}
