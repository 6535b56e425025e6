// Package metrics is dockercri's own instrumentation: Prometheus metrics of the CRI
// calls it serves, the Docker calls and CNI operations it makes, its view of Docker and
// the logs it writes, served with --metrics-bind-addr (and pprof with --enable-pprof).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "dockercri"

// latencyBuckets span 100 µs (a list from the view) to 2 minutes (a pull, a slow stop).
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2.5, 15)

var (
	// CRIDuration is the latency of each CRI call by gRPC method.
	CRIDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "cri_request_duration_seconds",
		Help:    "Latency of the CRI calls dockercri serves, by method.",
		Buckets: latencyBuckets,
	}, []string{"method"})
	// CRIErrors counts failed CRI calls by method and gRPC code.
	CRIErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cri_request_errors_total",
		Help: "CRI calls that failed, by method and gRPC status code.",
	}, []string{"method", "code"})
	// DockerDuration is the latency of Docker API requests by operation (until the
	// response headers: a log or event stream counts once, at its start).
	DockerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "docker_request_duration_seconds",
		Help:    "Latency of Docker Engine API requests until their response headers, by operation.",
		Buckets: latencyBuckets,
	}, []string{"operation"})
	// DockerErrors counts Docker API requests that failed or got a 5xx answer.
	DockerErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "docker_request_errors_total",
		Help: "Docker Engine API requests that failed to get an answer or got a server error, by operation.",
	}, []string{"operation"})
	// CNIDuration is the latency of CNI ADD and DEL on a pod's network.
	CNIDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "cni_operation_duration_seconds",
		Help:    "Latency of CNI operations on pod networks (ADD, DEL), by operation and result.",
		Buckets: latencyBuckets,
	}, []string{"operation", "result"})
	// EventStreamReconnects counts how often Docker's event stream was opened again.
	EventStreamReconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "docker_event_stream_reconnects_total",
		Help: "Times Docker's event stream broke and the view was listed again.",
	})
	// LogBytes counts the bytes of container output written to CRI log files.
	LogBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "container_log_bytes_total",
		Help: "Bytes of container output written to CRI log files.",
	})
)

// Registry holds dockercri's metrics and the Go runtime's and process's (RSS, CPU).
var Registry = prometheus.NewRegistry()

func init() {
	Registry.MustRegister(CRIDuration, CRIErrors, DockerDuration, DockerErrors, CNIDuration, EventStreamReconnects, LogBytes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// RegisterViewSize adds the gauge of how many containers the view holds, read from
// size at each scrape (once per process: a second view is not counted).
func RegisterViewSize(size func() int) {
	_ = Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "view_containers",
		Help: "Pod sandboxes and containers in dockercri's event-fed view of Docker.",
	}, func() float64 { return float64(size()) }))
}
