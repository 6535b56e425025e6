package crilog

import (
	"github.com/docker/docker/api/types/container"

	"github.com/dockercri/dockercri/engine/enginetest"
)

// The copier's tests run on enginetest's Docker, which holds containers' log records as
// Docker's log driver does and serves them as Docker 20.10's logs API does: Since
// inclusive, Follow until the container stops, multiplexed frames without a TTY, raw
// with one.
type (
	fakeDocker = enginetest.Engine
	fakeRecord = enginetest.LogRecord
)

var (
	newFakeDocker = func() *fakeDocker { return enginetest.New() }
	encodeRecord  = enginetest.EncodeRecord
	frame         = enginetest.Frame
)

func logCalls(f *fakeDocker) []container.LogsOptions {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]container.LogsOptions(nil), f.LogCalls...)
}
