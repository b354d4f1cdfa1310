package provisioning

import "context"

// Progress is told of each step of a session once its record is durable:
// the session's path, the step's number (from 1) and name. It runs on the
// engine's goroutine, between one step and the next, so it must not block.
type Progress func(path Path, n int, step string)

type progressKey struct{}

// WithProgress returns a context under which the engine's calls tell p of
// each step they record, so that a caller can pass progress on as it
// happens instead of polling the session record.
func WithProgress(ctx context.Context, p Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

// progress tells ctx's Progress, if any, that step n of r is recorded.
func progress(ctx context.Context, r *run, n int, step string) {
	if p, ok := ctx.Value(progressKey{}).(Progress); ok && p != nil {
		p(r.sess.Path, n, step)
	}
}
