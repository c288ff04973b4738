package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// String returns "info", "warning" or "error".
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText encodes s as its name, so JSON shows "warning", not 1.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a name written by MarshalText.
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "info":
		*s = Info
	case "warning":
		*s = Warning
	case "error":
		*s = Error
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// String returns "Dockerfile:7 RootUser: message". Format prints the fix on
// the next line.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d %s: %s", f.File, f.Line, f.Rule, f.Message)
}

// Format writes fs to w as "text" (each finding on one line, as
// Finding.String, then "  fix: ..." on the next) or "json" (an array of
// findings, "[]" when there are none).
func Format(w io.Writer, fs []Finding, format string) error {
	switch format {
	case "text", "":
		var b strings.Builder
		for _, f := range fs {
			b.WriteString(f.String())
			b.WriteByte('\n')
			if f.Fix != "" {
				b.WriteString("  fix: ")
				b.WriteString(f.Fix)
				b.WriteByte('\n')
			}
		}
		_, err := io.WriteString(w, b.String())
		return err
	case "json":
		if fs == nil {
			fs = []Finding{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(fs)
	}
	return fmt.Errorf("unknown format %q: want text or json", format)
}

// RuleNames returns the rules that fired in fs, each once, in the order
// they first fired.
func RuleNames(fs []Finding) []string {
	seen := map[string]bool{}
	var names []string
	for _, f := range fs {
		if !seen[f.Rule] {
			seen[f.Rule] = true
			names = append(names, f.Rule)
		}
	}
	return names
}
