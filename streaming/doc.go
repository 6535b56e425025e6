// Package streaming serves exec, attach and port-forward for the kubelet through
// k8s.io/cri-streaming. Until it does, the Exec, Attach and PortForward RPCs answer
// Unimplemented; --streaming-bind-addr is accepted so that unit files need no change.
package streaming
