// Package batch sends a list over a gRPC server stream in messages of bounded size: the
// Stream* RPCs of the CRI, for lists too large for one message.
package batch

// Size is how many items one message carries.
const Size = 100

// Send sends items in messages of at most Size items, each made by wrap.
func Send[T, R any](items []T, wrap func([]T) *R, send func(*R) error) error {
	for len(items) > 0 {
		n := min(Size, len(items))
		if err := send(wrap(items[:n])); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}
