package batch

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// sandboxes are n sandboxes with annotations of about each bytes.
func sandboxes(n, each int) []*runtimeapi.PodSandbox {
	out := make([]*runtimeapi.PodSandbox, n)
	for i := range out {
		out[i] = &runtimeapi.PodSandbox{
			Id:          strings.Repeat(strconv.Itoa(i%10), 64),
			Metadata:    &runtimeapi.PodSandboxMetadata{Name: "pod-" + strconv.Itoa(i), Namespace: "default", Uid: "u" + strconv.Itoa(i)},
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"big": strings.Repeat("x", each)},
		}
	}
	return out
}

// ListSize is the size gRPC sees: the answer's encoding.
func TestListSize(t *testing.T) {
	for _, items := range [][]*runtimeapi.PodSandbox{nil, sandboxes(1, 0), sandboxes(3, 100), sandboxes(2, 300<<10)} {
		want := proto.Size(&runtimeapi.ListPodSandboxResponse{Items: items})
		if got := ListSize(ProtoSizes(items)); got != want {
			t.Errorf("ListSize of %d items = %d, want %d", len(items), got, want)
		}
	}
}

// Each streamed message stays within both bounds, and all items arrive in order.
func TestSendBoundsEachMessage(t *testing.T) {
	for _, tt := range []struct {
		name     string
		items    []*runtimeapi.PodSandbox
		messages int
	}{
		{"none", nil, 0},
		{"small: by count", sandboxes(250, 10), 3},
		// 240 KiB each: 69 make a message, not 100.
		{"big: by bytes", sandboxes(150, 240<<10), 3},
		{"one just under the limit alone", sandboxes(1, MaxMessage-200), 1},
	} {
		var got []*runtimeapi.PodSandbox
		messages := 0
		err := Send(tt.items, ProtoSizes(tt.items), func(b []*runtimeapi.PodSandbox) *runtimeapi.StreamPodSandboxesResponse {
			return &runtimeapi.StreamPodSandboxesResponse{PodSandboxes: b}
		}, func(m *runtimeapi.StreamPodSandboxesResponse) error {
			messages++
			if n := proto.Size(m); n > MaxMessage {
				t.Errorf("%s: a message of %d bytes", tt.name, n)
			}
			if len(m.PodSandboxes) > Size {
				t.Errorf("%s: a message of %d items", tt.name, len(m.PodSandboxes))
			}
			got = append(got, m.PodSandboxes...)
			return nil
		})
		if err != nil || messages != tt.messages || len(got) != len(tt.items) {
			t.Errorf("%s: %d messages, %d of %d items, %v; want %d messages", tt.name, messages, len(got), len(tt.items), err, tt.messages)
		}
		for i := range got {
			if got[i] != tt.items[i] {
				t.Fatalf("%s: item %d out of order", tt.name, i)
			}
		}
	}
	// An item larger than a message cannot be sent at all.
	big := sandboxes(2, MaxMessage)
	err := Send(big, ProtoSizes(big), func(b []*runtimeapi.PodSandbox) *runtimeapi.StreamPodSandboxesResponse { return nil },
		func(*runtimeapi.StreamPodSandboxesResponse) error { t.Error("sent a message"); return nil })
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("an item over the limit: %v, want ResourceExhausted", err)
	}
}

func trimAnnotations(sb *runtimeapi.PodSandbox) (*runtimeapi.PodSandbox, int) {
	c := proto.Clone(sb).(*runtimeapi.PodSandbox)
	c.Annotations = map[string]string{"omitted": "yes"}
	return c, proto.Size(c)
}

func TestFit(t *testing.T) {
	// Within the limit: the same items.
	small := sandboxes(60, 250<<10)
	got, err := Fit("ListPodSandbox", "StreamPodSandboxes", small, ProtoSizes(small), trimAnnotations)
	if err != nil || len(got) != len(small) || got[0] != small[0] {
		t.Errorf("60 pods of 250 KiB: %d items, %v; want them as they are", len(got), err)
	}

	// 70 pods of 250 KiB: the biggest are trimmed until the answer fits, the rest kept.
	big := sandboxes(70, 250<<10)
	big[3].Annotations["more"] = strings.Repeat("y", 5<<10)
	got, err = Fit("ListPodSandbox", "StreamPodSandboxes", big, ProtoSizes(big), trimAnnotations)
	if err != nil {
		t.Fatalf("70 pods of 250 KiB: %v", err)
	}
	if n := proto.Size(&runtimeapi.ListPodSandboxResponse{Items: got}); n > MaxMessage {
		t.Errorf("the trimmed answer has %d bytes", n)
	}
	trimmed := 0
	for i, sb := range got {
		if sb.Annotations["omitted"] == "yes" {
			trimmed++
			if sb.Id != big[i].Id || !proto.Equal(sb.Metadata, big[i].Metadata) {
				t.Errorf("item %d trimmed into another", i)
			}
		} else if sb != big[i] {
			t.Errorf("item %d changed though kept", i)
		}
	}
	if got[3].Annotations["omitted"] != "yes" || trimmed == 0 || trimmed > 10 {
		t.Errorf("%d trimmed (the biggest: %v); want the biggest first, a few", trimmed, got[3].Annotations["omitted"])
	}
	if big[3].Annotations["omitted"] != "" {
		t.Error("the caller's item was changed")
	}

	// Nothing to trim: ResourceExhausted naming the stream.
	_, err = Fit("ListPodSandbox", "StreamPodSandboxes", big, ProtoSizes(big), nil)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "StreamPodSandboxes") {
		t.Errorf("70 pods, no trim: %v, want ResourceExhausted naming StreamPodSandboxes", err)
	}
	// Trimmed, and still too large: the labels are what is big.
	labelled := sandboxes(70, 0)
	for _, sb := range labelled {
		sb.Labels["big"] = strings.Repeat("z", 250<<10)
	}
	_, err = Fit("ListPodSandbox", "StreamPodSandboxes", labelled, ProtoSizes(labelled), trimAnnotations)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("70 pods of 250 KiB of labels: %v, want ResourceExhausted", err)
	}
}
