package frontend

import (
	"bytes"
	"errors"
	"strings"

	dfcommand "github.com/moby/buildkit/frontend/dockerfile/command"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// cause strips BuildKit's location wrapper from err.
func cause(err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && le.Unwrap() != nil {
		return le.Unwrap()
	}
	return err
}

// errLine returns the first line a BuildKit location error names, or 0.
func errLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) {
		for _, r := range le.Locations {
			if len(r) > 0 {
				return max(r[0].Start.Line, 1)
			}
		}
	}
	return 0
}

// keywordAt returns the instruction keyword starting line n (1-based) of
// dockerfile, upper-cased, or "" if the line starts with none.
func keywordAt(dockerfile []byte, n int) string {
	if n < 1 {
		return ""
	}
	lines := bytes.SplitN(dockerfile, []byte("\n"), n+1)
	if len(lines) < n {
		return ""
	}
	fields := strings.Fields(string(lines[n-1]))
	if len(fields) == 0 {
		return ""
	}
	kw := strings.ToUpper(fields[0])
	if _, ok := dfcommand.Commands[strings.ToLower(kw)]; !ok {
		return ""
	}
	return kw
}

func startLine(r []parser.Range) int {
	if len(r) == 0 {
		return 0
	}
	return r[0].Start.Line
}

// instrName is the instruction keyword of c for errors.
func instrName(c *command) string {
	n := strings.ToUpper(c.Name())
	if c.onbuild {
		return "ONBUILD " + n
	}
	return n
}

// cmdErr locates err at c.
func (b *build) cmdErr(c *command, err error) error {
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	return &Error{File: b.opt.Filename, Line: c.line, Instruction: instrName(c), Err: cause(err)}
}

// errAt locates err at an instruction that is not (yet) a command.
func (b *build) errAt(c instructions.Command, err error) error {
	return &Error{File: b.opt.Filename, Line: startLine(c.Location()), Instruction: strings.ToUpper(c.Name()), Err: cause(err)}
}
