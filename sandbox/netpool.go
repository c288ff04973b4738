package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Networks is a pool of default-mode networks (a network namespace and
// the slirp4netns serving it) for the RUN steps of one build, so that a
// step does not pay for a new namespace and a slirp4netns start (4-6 ms
// a step here). A step has a network to itself while it runs, as under
// Run alone: parallel steps never share one, so each may listen on any
// port; a later step of the same build may get it again, once every
// process of the earlier one is gone (its PID namespace ended). The
// network stays isolated from the host's as before (slirp4netns with
// --disable-host-loopback); steps hold Docker's default capabilities,
// without CAP_NET_ADMIN, so they cannot change it for the next one.
// Nothing is mounted for a pooled namespace and no process holds it: a
// descriptor of bld's does (newNetNS), which goes with bld however bld
// ends, as slirp4netns does (its exit pipe). The zero value is ready;
// Close ends every network.
type Networks struct {
	mu      sync.Mutex
	free    []*heldNet
	all     []*heldNet
	closed  bool
	warming int           // networks Warm is making
	warmed  chan struct{} // closed (and replaced) whenever one of them is done
	warms   sync.WaitGroup
	stop    context.CancelFunc // ends the warms' context; set by the first Warm
	warmCtx context.Context
}

// Warm starts making n networks in the background, for steps to come:
// a build calls it once it knows how many RUN steps in the default
// network will want one at once, so that their networks start while the
// steps before them run. A step that finds no free network waits for one
// being warmed rather than making its own. A network that fails to start
// here is dropped without a word: the step that would have used it makes
// its own, and reports the error.
func (p *Networks) Warm(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || n <= 0 {
		return
	}
	ctx := context.Background()
	if p.stop == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		p.stop = cancel
		p.warmCtx = ctx
	}
	if p.warmed == nil {
		p.warmed = make(chan struct{})
	}
	for range n {
		p.warming++
		p.warms.Add(1)
		go func() {
			defer p.warms.Done()
			net, err := newHeldNet(p.warmCtx)
			p.mu.Lock()
			p.warming--
			close(p.warmed)
			p.warmed = make(chan struct{})
			switch {
			case err != nil:
				// Dropped: see Warm.
			case p.closed:
				net.close()
			default:
				p.all = append(p.all, net)
				p.free = append(p.free, net)
			}
			p.mu.Unlock()
		}()
	}
}

// heldNet is one pooled network: a network namespace held by a
// descriptor alone (newNetNS: lo up, the tap made) and the slirp4netns
// serving it.
type heldNet struct {
	ns   *os.File // the namespace, for the init to join
	unet *userNet
	up   netUp
}

// netUp is a pooled network coming up: done is closed once its
// slirp4netns has configured it, or failed to (err, set before).
type netUp struct {
	done chan struct{}
	err  error
}

// failed reports whether the network came up and went, or never came up:
// it must not serve another step.
func (n *heldNet) failed() bool {
	select {
	case <-n.unet.done:
		return true
	default:
	}
	select {
	case <-n.up.done:
		return n.up.err != nil
	default:
		return false
	}
}

// Run is Run with a pooled network for a step in the default network
// mode; other modes are Run's own.
func (p *Networks) Run(ctx context.Context, spec Spec) error {
	if !isUserNet(spec.Network) {
		return Run(ctx, spec)
	}
	n, err := p.get(ctx)
	if err != nil {
		return fmt.Errorf("sandbox: network: %w", err)
	}
	spec.netns, spec.netUp = n.ns, &n.up
	err = Run(ctx, spec)
	p.put(n)
	return err
}

// get takes a free network, waits for one being warmed, or makes one.
func (p *Networks) get(ctx context.Context) (*heldNet, error) {
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("network pool closed")
		}
		if k := len(p.free); k > 0 {
			n := p.free[k-1]
			p.free = p.free[:k-1]
			p.mu.Unlock()
			return n, nil
		}
		if p.warming == 0 {
			break
		}
		// More steps than warming networks may wait here: each takes
		// one as it comes, and the last make their own once none is
		// warming.
		warmed := p.warmed
		p.mu.Unlock()
		select {
		case <-warmed:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		p.mu.Lock()
	}
	p.mu.Unlock()
	n, err := newHeldNet(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.all = append(p.all, n)
	p.mu.Unlock()
	return n, nil
}

// put gives n back, unless its slirp4netns has ended or never configured
// it (it is then closed).
func (p *Networks) put(n *heldNet) {
	if n.failed() {
		n.close()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.free = append(p.free, n)
}

// Close ends every network of the pool, those still being warmed too;
// steps still running keep theirs until they end (the namespace lives
// while a process is in it).
func (p *Networks) Close() error {
	p.mu.Lock()
	all := p.all
	p.all, p.free, p.closed = nil, nil, true
	if p.stop != nil {
		p.stop()
	}
	p.mu.Unlock()
	p.warms.Wait()
	// At once: each waits for its slirp4netns to exit (1 to 2 ms here),
	// and four stages' networks closed one by one took 7 ms.
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, n := range all {
		wg.Go(func() { errs[i] = n.close() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// newHeldNet makes a network namespace and starts slirp4netns on it. It
// does not wait for the network: n.up says when it is up, while the step
// that gets it sets its root up. ctx bounds the wait for slirp4netns.
func newHeldNet(ctx context.Context) (n *heldNet, err error) {
	n = &heldNet{up: netUp{done: make(chan struct{})}}
	if n.ns, err = newNetNS(); err != nil {
		return nil, err
	}
	if n.unet, err = startUserNetNS(n.ns); err != nil {
		return nil, errors.Join(err, n.close())
	}
	go func() {
		n.up.err = n.unet.wait(ctx)
		close(n.up.done)
	}()
	return n, nil
}

// close stops slirp4netns and closes the namespace's descriptor: the
// namespace ends with the last step in it.
func (n *heldNet) close() error {
	var err error
	if n.unet != nil {
		err = n.unet.close()
	}
	if n.ns != nil {
		n.ns.Close()
	}
	return err
}
