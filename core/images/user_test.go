package images

import (
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestSetUser(t *testing.T) {
	tests := []struct {
		user     string
		wantUID  *int64 // nil: no uid
		wantName string
	}{
		{"", nil, ""},
		{"0", ptr(0), ""},
		{"1000", ptr(1000), ""},
		{"1000:1000", ptr(1000), ""},
		{"1000:staff", ptr(1000), ""},
		{"0:0", ptr(0), ""},
		{"nobody", nil, "nobody"},
		{"nobody:nogroup", nil, "nobody"},
		{"nobody:65534", nil, "nobody"},
		{"4294967294", ptr(4294967294), ""},
		// The group alone names no user: nothing is set, as for no USER.
		{":1000", nil, ""},
		// A negative number is no uid; it is passed on as a name for the kubelet to refuse.
		{"-1", nil, "-1"},
		{"-1:-1", nil, "-1"},
		// Too large for an int64: a name.
		{"99999999999999999999", nil, "99999999999999999999"},
		{"1000a", nil, "1000a"},
		{" 1000", nil, " 1000"},
	}
	for _, tt := range tests {
		img := &runtimeapi.Image{}
		setUser(img, tt.user)
		switch {
		case tt.wantUID == nil && img.Uid != nil:
			t.Errorf("setUser(%q): uid = %d, want none", tt.user, img.Uid.Value)
		case tt.wantUID != nil && img.Uid == nil:
			t.Errorf("setUser(%q): no uid, want %d", tt.user, *tt.wantUID)
		case tt.wantUID != nil && img.Uid.Value != *tt.wantUID:
			t.Errorf("setUser(%q): uid = %d, want %d", tt.user, img.Uid.Value, *tt.wantUID)
		}
		if img.Username != tt.wantName {
			t.Errorf("setUser(%q): username = %q, want %q", tt.user, img.Username, tt.wantName)
		}
		if img.Uid != nil && img.Username != "" {
			t.Errorf("setUser(%q) set both uid and username", tt.user)
		}
	}
}

func ptr(v int64) *int64 { return &v }
