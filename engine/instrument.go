package engine

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/dockercri/dockercri/metrics"
)

// instrumented times every Docker API request by operation, for the metrics.
type instrumented struct {
	next http.RoundTripper
}

func (t instrumented) RoundTrip(req *http.Request) (*http.Response, error) {
	op := operation(req.Method, req.URL.Path)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	metrics.DockerDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil || resp.StatusCode >= 500 {
		metrics.DockerErrors.WithLabelValues(op).Inc()
	}
	return resp, err
}

var apiVersion = regexp.MustCompile(`^/v[0-9]+\.[0-9]+/`)

// fixed are the path segments after /containers/, /exec/ or /images/ that name an
// endpoint rather than an object.
var fixed = map[string]bool{"json": true, "create": true, "prune": true, "load": true, "search": true, "get": true}

// operation names a request by method and path with object ids and image names
// replaced, so that the metrics have one series per kind of call:
// "GET /containers/{id}/json", "DELETE /images/{name}", "POST /images/create".
func operation(method, path string) string {
	path = apiVersion.ReplaceAllString(path, "/")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) >= 2 && !fixed[segs[1]] {
		switch segs[0] {
		case "containers", "exec", "networks", "volumes":
			segs[1] = "{id}"
		case "images", "distribution":
			// Image names hold slashes: keep a trailing action only.
			last := segs[len(segs)-1]
			segs = []string{segs[0], "{name}"}
			if method != http.MethodDelete && (last == "json" || last == "tag" || last == "push" || last == "history") {
				segs = append(segs, last)
			}
		}
	}
	return method + " /" + strings.Join(segs, "/")
}
