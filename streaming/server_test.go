package streaming

import (
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A URL serves once, and not after tokenTTL; old entries go when new ones come.
func TestURLsAreSingleUseAndExpire(t *testing.T) {
	s := &Server{requests: map[string]pending{}}
	exec := &runtimeapi.ExecRequest{ContainerId: "c1"}
	if err := s.remember("http://127.0.0.1:1/exec/tok1", exec); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.take("/exec/tok1"); !ok || got != exec {
		t.Fatalf("first use: %v, %v", got, ok)
	}
	if _, ok := s.take("/exec/tok1"); ok {
		t.Error("a URL served twice")
	}
	if _, ok := s.take("/attach/tok1"); ok {
		t.Error("a URL never handed out served")
	}

	if err := s.remember("http://127.0.0.1:1/portforward/old", &runtimeapi.PortForwardRequest{}); err != nil {
		t.Fatal(err)
	}
	s.requests["/portforward/old"] = pending{req: s.requests["/portforward/old"].req, at: time.Now().Add(-tokenTTL - time.Second)}
	if _, ok := s.take("/portforward/old"); ok {
		t.Error("an expired URL served")
	}

	s.requests["/exec/stale"] = pending{req: exec, at: time.Now().Add(-tokenTTL - time.Second)}
	if err := s.remember("http://127.0.0.1:1/exec/new", exec); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.requests["/exec/stale"]; ok || len(s.requests) != 1 {
		t.Errorf("expired entries kept: %v", s.requests)
	}
	if err := s.remember("%zz", exec); err == nil {
		t.Error("a malformed URL remembered")
	}
}
