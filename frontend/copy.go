package frontend

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/bldbuild/bld/dag"
)

// copyConfig is what COPY and ADD have in common, after expansion.
type copyConfig struct {
	params     instructions.SourcesAndDest
	add        bool
	from       string
	chown      string
	chmod      string
	link       bool
	parents    bool
	excludes   []string
	checksum   string
	keepGitDir bool
	source     string // the instruction's text, for the progress name
}

// dispatchCopy lowers COPY or ADD to a *dag.Copy on top of the stage, with
// the --from stage or image as Inputs[1].
func (b *build) dispatchCopy(s *stage, c *command, cfg copyConfig) error {
	dest := pathRelativeToWorkdir(workdir(s), cfg.params.DestPath)
	if err := checkCopy(cfg); err != nil {
		return err
	}

	var msg strings.Builder
	msg.WriteString("COPY")
	if cfg.add {
		msg.Reset()
		msg.WriteString("ADD")
	}
	if cfg.parents {
		msg.WriteString(" --parents")
	}
	if cfg.chown != "" {
		msg.WriteString(" --chown=" + cfg.chown)
	}
	if cfg.chmod != "" {
		msg.WriteString(" --chmod=" + cfg.chmod)
	}
	for _, src := range cfg.params.SourcePaths {
		msg.WriteString(" " + src)
		switch {
		case isGitSource(src) && !cfg.add:
			return errors.New("source can't be a git ref for COPY")
		case isHTTPSource(src) && !cfg.add:
			return errors.New("source can't be a URL for COPY")
		}
	}
	var docs []dag.Heredoc
	for _, sc := range cfg.params.SourceContents {
		if err := checkHeredocName(sc.Path); err != nil {
			return err
		}
		msg.WriteString(" <<" + sc.Path)
		docs = append(docs, dag.Heredoc{Name: sc.Path, Data: sc.Data, Expand: sc.Expand})
	}
	msg.WriteString(" " + cfg.params.DestPath)

	var extra []*dag.Vertex
	if cfg.from != "" {
		var src *stage
		if len(c.sources) > 0 {
			src = c.sources[0]
		}
		if src == nil || !src.dispatched {
			return fmt.Errorf("cannot copy from stage %q, it needs to be defined before current stage %q", cfg.from, s.label)
		}
		extra = append(extra, src.vertex)
	}
	op := &dag.Copy{
		Sources:    cfg.params.SourcePaths,
		Heredocs:   docs,
		Dest:       dest,
		From:       cfg.from,
		Chown:      cfg.chown,
		Chmod:      cfg.chmod,
		Link:       cfg.link,
		Exclude:    cfg.excludes,
		Add:        cfg.add,
		Checksum:   cfg.checksum,
		KeepGitDir: cfg.keepGitDir,
		Parents:    cfg.parents,
	}
	v := b.step(s, c, op, b.label(s, c, cfg.source, false), extra...)
	s.commit(v, msg.String()+" # buildkit")
	return nil
}

// checkCopy validates the flags of COPY or ADD as BuildKit does.
func checkCopy(cfg copyConfig) error {
	if cfg.chown != "" && cfg.link && chownByName(cfg.chown) {
		return fmt.Errorf("--chown=%s: user and group names can't be resolved when used with --link, use numeric uid[:gid] instead", cfg.chown)
	}
	if cfg.chmod != "" {
		if err := checkChmod(cfg.chmod); err != nil {
			return err
		}
	}
	if cfg.checksum != "" {
		if !cfg.add {
			return errors.New("checksum can't be specified for COPY")
		}
		if len(cfg.params.SourcePaths) != 1 {
			return errors.New("checksum can't be specified for multiple sources")
		}
		if src := cfg.params.SourcePaths[0]; !isHTTPSource(src) && !isGitSource(src) {
			return errors.New("checksum requires HTTP(S) or Git sources")
		}
	}

	return nil
}

// chownByName reports whether a --chown value names a user or group
// rather than giving numeric ids.
func chownByName(chown string) bool {
	user, group, _ := strings.Cut(chown, ":")
	isName := func(s string) bool {
		if s == "" {
			return false
		}
		_, err := strconv.ParseUint(s, 10, 32)
		return err != nil
	}
	return isName(user) || isName(group)
}

// checkChmod accepts an octal mode up to 07777 or a symbolic mode
// ("u+x,go-w"), as BuildKit does.
func checkChmod(chmod string) error {
	nonOctal := fmt.Errorf("invalid chmod parameter: '%v'. it should be octal string and between 0 and 07777", chmod)
	p, err := strconv.ParseUint(chmod, 8, 32)
	if err == nil {
		if p > 0o7777 {
			return nonOctal
		}
		return nil
	}
	if strings.Trim(chmod, "0123456789") == "" {
		return nonOctal
	}
	if !symbolicMode(chmod) {
		return fmt.Errorf("invalid chmod parameter: %q", chmod)
	}
	return nil
}

// symbolicMode reports whether s is a chmod(1) symbolic mode: clauses
// [ugoa]*([-+=]([rwxXst]*|[ugo]))+ separated by commas.
func symbolicMode(s string) bool {
	for _, clause := range strings.Split(s, ",") {
		i := 0
		for i < len(clause) && strings.IndexByte("ugoa", clause[i]) >= 0 {
			i++
		}
		if i == len(clause) {
			return false
		}
		for i < len(clause) {
			if strings.IndexByte("-+=", clause[i]) < 0 {
				return false
			}
			i++
			if i < len(clause) && strings.IndexByte("ugo", clause[i]) >= 0 {
				i++
				continue
			}
			for i < len(clause) && strings.IndexByte("rwxXst", clause[i]) >= 0 {
				i++
			}
		}
	}
	return true
}

// isHTTPSource reports whether an ADD source is a URL to download.
func isHTTPSource(src string) bool {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return false
	}
	return !isGitSource(src)
}

// isGitSource reports whether an ADD source is a Git repository: a git://,
// ssh:// or scp-like git@ address, or an http(s) URL of a .git path.
func isGitSource(src string) bool {
	switch {
	case strings.HasPrefix(src, "git://"), strings.HasPrefix(src, "ssh://"), strings.HasPrefix(src, "git@"):
		return true
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		u, _, _ := strings.Cut(src, "#")
		u, _, _ = strings.Cut(u, "?")
		return strings.HasSuffix(u, ".git") || strings.HasSuffix(u, ".git/")
	}
	return false
}

// checkHeredocName rejects heredoc names that are not a plain file name:
// the builder writes a heredoc as a file of that name (BuildKit fails such
// names when it creates the file).
func checkHeredocName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("invalid heredoc name %q", name)
	}
	return nil
}
