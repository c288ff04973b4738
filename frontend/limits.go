package frontend

import (
	"fmt"

	"github.com/docker/go-units"
)

// Limits bound what one Dockerfile may ask of the frontend, so a hostile
// or broken one fails at once with the limit named, never with unbounded
// memory or time. Zero fields take DefaultLimits' values.
type Limits struct {
	// DockerfileSize is the largest Dockerfile, in bytes.
	DockerfileSize int64
	// Instructions is the most instructions (all stages together).
	Instructions int
	// WordSize is the largest expanded word or variable value, in bytes
	// (Linux refuses a single argument over 128 KiB to a command anyway).
	WordSize int
	// EnvSize is the largest total of one stage's variables (names and
	// values), in bytes.
	EnvSize int
}

// DefaultLimits are generous for real Dockerfiles: the largest seen in
// the wild are a few hundred kilobytes and a few thousand instructions.
var DefaultLimits = Limits{
	DockerfileSize: 4 << 20,
	Instructions:   20000,
	WordSize:       1 << 20,
	EnvSize:        16 << 20,
}

func (l Limits) withDefaults() Limits {
	if l.DockerfileSize <= 0 {
		l.DockerfileSize = DefaultLimits.DockerfileSize
	}
	if l.Instructions <= 0 {
		l.Instructions = DefaultLimits.Instructions
	}
	if l.WordSize <= 0 {
		l.WordSize = DefaultLimits.WordSize
	}
	if l.EnvSize <= 0 {
		l.EnvSize = DefaultLimits.EnvSize
	}
	return l
}

// LimitError reports input over one of Limits' bounds. Key is the name
// `bld build --limit KEY=VALUE` raises it with.
type LimitError struct {
	What  string // what was too large: "expanded word", "Dockerfile", ...
	Key   string // dockerfile-size, instructions, word-size, env-size
	Got   int64
	Limit int64
	Count bool // Got and Limit count things rather than bytes
}

func (e *LimitError) Error() string {
	if e.Count {
		return fmt.Sprintf("%s: %d, over the limit of %d (--limit %s=N raises it)", e.What, e.Got, e.Limit, e.Key)
	}
	return fmt.Sprintf("%s: %s, over the limit of %s (--limit %s=SIZE raises it)", e.What,
		units.BytesSize(float64(e.Got)), units.BytesSize(float64(e.Limit)), e.Key)
}
