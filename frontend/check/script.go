package check

import (
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// This file reads shell scripts well enough to find the commands in them:
// not a shell parser, a tokenizer that never fails.

// commands splits a shell script into simple commands, each a list of words
// with quotes removed. It splits at unquoted newlines, ; & | ( ) and keeps
// $(...), ${...} and `...` inside the word they belong to.
func commands(s string) [][]string {
	var (
		cmds   [][]string
		words  []string
		w      strings.Builder
		inWord bool
	)
	endWord := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
			words = nil
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\':
			if i+1 < len(s) {
				i++
				if s[i] != '\n' {
					w.WriteByte(s[i])
					inWord = true
				}
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			inWord = true
		case ch == '$' && i+1 < len(s) && (s[i+1] == '(' || s[i+1] == '{'):
			j := matching(s, i+1)
			w.WriteString(s[i:j])
			i = j - 1
			inWord = true
		case ch == '`':
			end := len(s)
			if j := strings.IndexByte(s[i+1:], '`'); j >= 0 {
				end = i + j + 2
			}
			w.WriteString(s[i:end])
			i = end - 1
			inWord = true
		case ch == '#' && !inWord:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			endCmd()
		case ch == ' ' || ch == '\t' || ch == '\r':
			endWord()
		case ch == '\n' || ch == ';' || ch == '&' || ch == '|' || ch == '(' || ch == ')':
			endCmd()
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	endCmd()
	return cmds
}

// matching returns the index just after the bracket that closes s[open].
func matching(s string, open int) int {
	o, c := s[open], byte(')')
	if o == '{' {
		c = '}'
	}
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case o:
			depth++
		case c:
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

var shellKeywords = map[string]bool{"if": true, "then": true, "else": true, "elif": true, "do": true, "while": true, "until": true, "!": true, "time": true, "{": true, "}": true}

// program returns the program a simple command runs (its base name) and
// its arguments, skipping shell keywords, VAR=value assignments and the
// wrappers sudo, env, nice, nohup and command.
func program(words []string) (string, []string) {
	for len(words) > 0 {
		w := words[0]
		switch {
		case shellKeywords[w]:
			words = words[1:]
		case isAssignment(w):
			words = words[1:]
		case w == "sudo" || w == "env" || w == "nice" || w == "nohup" || w == "command":
			words = words[1:]
			for len(words) > 0 && strings.HasPrefix(words[0], "-") {
				words = words[1:]
			}
		default:
			return path.Base(w), words[1:]
		}
	}
	return "", nil
}

func isAssignment(w string) bool {
	k, _, ok := strings.Cut(w, "=")
	if !ok || k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// subcommand returns the first argument that is not a flag.
func subcommand(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

func hasFlag(args []string, flags ...string) bool {
	for _, a := range args {
		for _, f := range flags {
			if a == f || strings.HasPrefix(a, f+"=") {
				return true
			}
		}
	}
	return false
}

var shells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true}

// shellScript returns the script of an exec-form ["sh", "-c", script, ...].
func shellScript(argv []string) (string, bool) {
	if len(argv) < 3 || !shells[path.Base(argv[0])] {
		return "", false
	}
	for i := 1; i < len(argv)-1; i++ {
		a := argv[i]
		switch {
		case a == "-o" || a == "+o":
			i++
		case strings.HasPrefix(a, "--"):
		case strings.HasPrefix(a, "-") && strings.Contains(a, "c"):
			return argv[i+1], true
		case !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "+"):
			return "", false // a script file
		}
	}
	return "", false
}

// script returns the shell text of a RUN, CMD or ENTRYPOINT and whether a
// shell runs it.
func script(cl instructions.ShellDependantCmdLine) (string, bool) {
	if cl.PrependShell {
		s := strings.Join(cl.CmdLine, " ")
		if heredocIsScript(s) && len(cl.Files) > 0 {
			s = ""
		}
		for _, f := range cl.Files {
			s += "\n" + f.Data
		}
		return s, true
	}
	return shellScript(cl.CmdLine)
}

// heredocIsScript reports whether a RUN line only names its heredocs,
// possibly for a shell (RUN <<EOF, RUN bash <<EOF): the heredoc is the script.
func heredocIsScript(line string) bool {
	for _, w := range strings.Fields(line) {
		if !strings.HasPrefix(w, "<<") && !shells[path.Base(w)] {
			return false
		}
	}
	return true
}

// runCommands returns the simple commands a RUN executes.
func runCommands(cl instructions.ShellDependantCmdLine) [][]string {
	if s, ok := script(cl); ok {
		return commands(s)
	}
	if len(cl.CmdLine) == 0 {
		return nil
	}
	return [][]string{cl.CmdLine}
}

// usesExec reports whether script replaces the shell with a program.
func usesExec(script string) bool {
	for _, cmd := range commands(script) {
		for len(cmd) > 0 && shellKeywords[cmd[0]] {
			cmd = cmd[1:]
		}
		if len(cmd) >= 2 && cmd[0] == "exec" && !strings.ContainsAny(cmd[1], "<>") {
			return true
		}
	}
	return false
}
