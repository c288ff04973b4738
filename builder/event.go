package builder

import (
	"fmt"
	"strings"
	"time"

	"github.com/bldbuild/bld/dag"
)

// State is what an Event reports about a vertex.
type State int

const (
	Started State = iota // the step began executing; Reason says why it missed the cache
	Cached               // the step's result came from the cache
	Log                  // a line of the step's output
	Done                 // the step finished; Duration is set
	Failed               // the step failed; Err is set
)

func (s State) String() string {
	return [...]string{"started", "cached", "log", "done", "failed"}[s]
}

// Event is one progress report. Events for one vertex arrive in order;
// events of different vertices interleave.
type Event struct {
	Vertex   *dag.Vertex
	State    State
	Time     time.Time
	Reason   string        // Started: why the step missed the cache ("" if unknown)
	Line     string        // Log: one line of output, without the newline
	Stream   int           // Log: 1 stdout, 2 stderr
	Duration time.Duration // Done, Failed
	Err      error         // Failed
}

// StepError is a failed step, located in the Dockerfile.
type StepError struct {
	Pos         dag.Pos
	Instruction string   // "RUN make test"
	Err         error    // e.g. *sandbox.ExitError
	Tail        []string // the step's last output lines
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("%s: %s: %v", e.Pos, e.Instruction, e.Err)
	if len(e.Tail) > 0 {
		msg += "\n  last output:\n    " + strings.Join(e.Tail, "\n    ")
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }
