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
	Started  State = iota // the step began executing; Reason says why it missed the cache
	Cached                // the step's result came from the cache
	Log                   // a line of the step's output
	Done                  // the step finished; Duration is set
	Failed                // the step failed; Err is set
	Bytes                 // bytes moved for the vertex (a layer pulled or compressed); Current, Total and What are set
	Canceled              // the step was stopped before it finished (interrupt, or another step failed); Duration is set
)

func (s State) String() string {
	return [...]string{"started", "cached", "log", "done", "failed", "bytes", "canceled"}[s]
}

// Event is one progress report. Events for one vertex arrive in order;
// events of different vertices interleave. A Source's Bytes events come
// after its Done: its layers are pulled when a step first needs them.
type Event struct {
	Vertex   *dag.Vertex
	State    State
	Time     time.Time
	Reason   string        // Started: why the step missed the cache ("" if unknown)
	Line     string        // Log: one line of output, without the newline
	Stream   int           // Log: 1 stdout, 2 stderr
	Duration time.Duration // Done, Failed
	Err      error         // Failed
	// Bytes: what is moved ("pull 3f2a91c0a2b4", "compress"), the bytes
	// moved so far, and the bytes in all (0 while unknown). The last
	// event of a transfer has Current == Total.
	What           string
	Current, Total int64
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
