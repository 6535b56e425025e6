package core

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Labels on Docker containers, as dockershim and cri-dockerd set them. They are how
// dockercri finds its sandboxes and containers again after a restart, and how pods made
// by cri-dockerd on the same Docker are recognised.
const (
	labelType          = "io.kubernetes.docker.type"
	typeSandbox        = "podsandbox"
	typeContainer      = "container"
	labelSandboxID     = "io.kubernetes.sandbox.id"
	labelLogPath       = "io.kubernetes.container.logpath"
	labelContainerName = "io.kubernetes.container.name"
	// annotationPrefix marks a CRI annotation stored as a Docker label: Docker has no
	// annotations.
	annotationPrefix = "annotation."

	// labelCreated is dockercri's own: the creation time in nanoseconds, which Docker's
	// container list gives only to the second. List and status report it alike.
	labelCreated = "io.dockercri.created"
	// labelRuntimeHandler is the sandbox's CRI runtime handler (RuntimeClass).
	labelRuntimeHandler = "io.dockercri.runtime-handler"
	// labelSharedPID marks a sandbox whose containers share one PID namespace (the
	// pod's shareProcessNamespace): Docker's view of the pause container cannot tell.
	labelSharedPID = "io.dockercri.shared-pid"
	// labelImageName and labelImageRef are how the container's status names its image
	// (container_image.go).
	labelImageName = "io.dockercri.image"
	labelImageRef  = "io.dockercri.image-ref"
	// labelRoot is the root directory of the dockercri that created the container: the
	// one whose log copying it is when that dockercri restarts. Another dockercri on the
	// same Docker (a test's, a second node agent) must not copy into its log file too.
	labelRoot = "io.dockercri.root"
)

// internalLabels are dockercri's bookkeeping, not the kubelet's labels.
var internalLabels = map[string]bool{labelType: true, labelSandboxID: true, labelLogPath: true, labelCreated: true, labelRuntimeHandler: true, labelSharedPID: true, labelPrivilegedFallback: true, labelImageName: true, labelImageRef: true, labelUnified: true, labelRoot: true}

// dockerLabels merges CRI labels and annotations into Docker labels.
func dockerLabels(labels, annotations map[string]string) map[string]string {
	out := make(map[string]string, len(labels)+len(annotations)+4)
	for k, v := range labels {
		out[k] = v
	}
	for k, v := range annotations {
		out[annotationPrefix+k] = v
	}
	out[labelCreated] = strconv.FormatInt(time.Now().UnixNano(), 10)
	return out
}

// criLabels splits Docker labels back into CRI labels and annotations. A sandbox's
// container name label ("POD") is dockershim's, for `docker ps`, not the kubelet's.
func criLabels(docker map[string]string) (labels, annotations map[string]string) {
	labels, annotations = map[string]string{}, map[string]string{}
	sandbox := docker[labelType] == typeSandbox
	for k, v := range docker {
		switch {
		case strings.HasPrefix(k, annotationPrefix):
			annotations[strings.TrimPrefix(k, annotationPrefix)] = v
		case sandbox && k == labelContainerName:
		case !internalLabels[k]:
			labels[k] = v
		}
	}
	return labels, annotations
}

// createdAt is when dockercri created the object, in nanoseconds; fallback is Docker's
// own time for objects made by someone else (cri-dockerd).
func createdAt(labels map[string]string, fallback int64) int64 {
	if n, err := strconv.ParseInt(labels[labelCreated], 10, 64); err == nil {
		return n
	}
	return fallback
}

// matchSelector reports whether labels has every key and value of selector.
func matchSelector(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// checkLabels applies the Kubernetes limits to a sandbox's or container's labels and
// annotations, so that what every list answer carries stays bounded: qualified keys,
// and labels, like annotations, 256 KiB in all. A label value's own Kubernetes limit
// (63 characters) is not one: the kubelet labels each sandbox and container with its
// pod's name, which may be 253 characters long.
func checkLabels(what string, labels, annotations map[string]string) error {
	// A label of dockercri's own name would be overwritten or hidden, one under the
	// annotation prefix read back as an annotation.
	for k := range labels {
		if internalLabels[k] || strings.HasPrefix(k, annotationPrefix) {
			return status.Errorf(codes.InvalidArgument, "%s: label %q is one dockercri keeps for itself", what, k)
		}
	}
	// The checks are apimachinery's ValidateLabelName and ValidateAnnotations, made of
	// the same validator (content.IsLabelKey) and limit: their packages (api/validation,
	// meta/v1/validation) link the whole of apimachinery's object machinery (meta/v1,
	// runtime, json-iterator), 0.6 MB of code that is resident in every dockercri.
	var errs field.ErrorList
	errs = append(errs, checkKeys(field.NewPath("labels"), labels, false)...)
	errs = append(errs, checkKeys(field.NewPath("annotations"), annotations, true)...)
	if len(errs) > 0 {
		return status.Errorf(codes.InvalidArgument, "%s: %v", what, errs.ToAggregate())
	}
	return nil
}

// totalLabelBytes is Kubernetes' limit of the annotations of an object, keys and
// values (apimachinery's TotalAnnotationSizeLimitB), which dockercri applies to labels
// too.
const totalLabelBytes = 256 << 10

// checkKeys checks that each key is a qualified name (annotations': whatever its case)
// and that keys and values are totalLabelBytes at most in all.
func checkKeys(path *field.Path, m map[string]string, anyCase bool) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for k, v := range m {
		key := k
		if anyCase {
			key = strings.ToLower(k)
		}
		for _, msg := range content.IsLabelKey(key) {
			errs = append(errs, field.Invalid(path, k, msg))
		}
		size += len(k) + len(v)
	}
	if size > totalLabelBytes {
		errs = append(errs, field.TooLong(path, "", totalLabelBytes))
	}
	return errs
}
