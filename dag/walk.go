package dag

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Func solves one vertex given the results of its inputs, in Inputs order.
type Func[R any] func(ctx context.Context, v *Vertex, inputs []R) (R, error)

// Walk solves roots and everything they depend on. Each distinct vertex is
// solved once, even when several paths reach it; independent vertices are
// solved concurrently. Walk limits no work itself (a caller limits its
// expensive sections, never the waiting for inputs). The first error
// cancels the rest, and Walk returns that error, not a sibling's
// context.Canceled. The result maps every solved vertex to its result.
func Walk[R any](ctx context.Context, roots []*Vertex, fn Func[R]) (map[*Vertex]R, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := &walker[R]{fn: fn, memo: map[*Vertex]func() (R, error){}, cancel: cancel}
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range roots {
		g.Go(func() error {
			_, err := w.solve(gctx, r)
			return err
		})
	}
	err := g.Wait()
	if cause := context.Cause(ctx); err != nil && cause != nil && cause != context.Canceled {
		err = cause
	}
	if err != nil {
		return nil, err
	}
	out := make(map[*Vertex]R, len(w.memo))
	for v, f := range w.memo {
		r, _ := f()
		out[v] = r
	}
	return out, nil
}

type walker[R any] struct {
	fn     Func[R]
	cancel context.CancelCauseFunc
	mu     sync.Mutex // protects memo
	memo   map[*Vertex]func() (R, error)
}

func (w *walker[R]) solve(ctx context.Context, v *Vertex) (R, error) {
	w.mu.Lock()
	f, ok := w.memo[v]
	if !ok {
		f = sync.OnceValues(func() (R, error) { return w.run(ctx, v) })
		w.memo[v] = f
	}
	w.mu.Unlock()
	return f()
}

func (w *walker[R]) run(ctx context.Context, v *Vertex) (R, error) {
	var zero R
	results := make([]R, len(v.Inputs))
	g, gctx := errgroup.WithContext(ctx)
	for i, in := range v.Inputs {
		g.Go(func() error {
			r, err := w.solve(gctx, in)
			results[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return zero, err
	}
	if err := ctx.Err(); err != nil {
		return zero, context.Cause(ctx)
	}
	r, err := w.fn(ctx, v, results)
	if err != nil {
		w.cancel(err)
		return zero, err
	}
	return r, nil
}
