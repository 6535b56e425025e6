package engine

import "testing"

func TestOperation(t *testing.T) {
	cases := []struct{ method, path, want string }{
		{"GET", "/v1.41/containers/0123abcd/json", "GET /containers/{id}/json"},
		{"GET", "/v1.41/containers/json", "GET /containers/json"},
		{"POST", "/v1.41/containers/create", "POST /containers/create"},
		{"POST", "/v1.41/containers/0123abcd/start", "POST /containers/{id}/start"},
		{"DELETE", "/v1.41/containers/0123abcd", "DELETE /containers/{id}"},
		{"POST", "/v1.41/exec/beef/start", "POST /exec/{id}/start"},
		{"GET", "/v1.41/images/127.0.0.1:5000/team/busybox:1/json", "GET /images/{name}/json"},
		{"DELETE", "/v1.41/images/sha256:abc", "DELETE /images/{name}"},
		{"POST", "/v1.41/images/create", "POST /images/create"},
		{"GET", "/v1.41/images/json", "GET /images/json"},
		{"GET", "/_ping", "GET /_ping"},
		{"HEAD", "/_ping", "HEAD /_ping"},
		{"GET", "/v1.44/events", "GET /events"},
		{"GET", "/v1.41/info", "GET /info"},
	}
	for _, c := range cases {
		if got := operation(c.method, c.path); got != c.want {
			t.Errorf("operation(%s %s) = %q, want %q", c.method, c.path, got, c.want)
		}
	}
}
