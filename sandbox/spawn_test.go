package sandbox

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestStepSurvivesThreadExits: a step runs to its end while other
// goroutines lock OS threads and return locked (which ends the thread),
// as the overlay mount and the rootless tap set-up do during a build.
// On the code before spawn.go, the step's init got its parent-death
// SIGKILL whenever the thread that had forked it was one of them (the
// step ended "signal: killed", or a pooled network's holder vanished
// under slirp4netns). Needs root (namespaces).
func TestStepSurvivesThreadExits(t *testing.T) {
	root := newRoot(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			done := make(chan struct{})
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends
				close(done)
			}()
			<-done
			time.Sleep(time.Millisecond)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	nets := &Networks{}
	defer nets.Close()
	for i := range 10 {
		var out, errOut bytes.Buffer
		spec := Spec{Root: bindRoot(root), Args: []string{"sh", "-c", "sleep 0.2; echo ok"}, Stdout: &out, Stderr: &errOut}
		if err := nets.Run(t.Context(), spec); err != nil || out.String() != "ok\n" {
			t.Fatalf("step %d: %v, %q; stderr:\n%s", i, err, out.String(), errOut.String())
		}
	}
}
