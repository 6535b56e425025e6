package engine

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/docker/docker/pkg/jsonmessage"
)

// ReadProgress reads a progress stream Docker answers with (a pull's, an import's) to
// its end: Docker reports there a failure that comes after it answered. A message of
// Docker's error ends the reading with that error, a *jsonmessage.JSONError; each
// other message calls each (when not nil); an error reading the stream is returned as
// it is.
func ReadProgress(body io.Reader, each func()) error {
	dec := json.NewDecoder(body)
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != nil {
			return msg.Error
		}
		if each != nil {
			each()
		}
	}
}
