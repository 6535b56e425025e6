// Command dockercri serves the Container Runtime Interface on Docker Engine.
package main

import (
	"os"

	"k8s.io/klog/v2"
)

func main() {
	setMaxProcs()
	setGCPercent()
	if err := newRootCommand().Execute(); err != nil {
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}
