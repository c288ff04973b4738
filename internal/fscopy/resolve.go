package fscopy

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// maxLinks bounds the symbolic links followed while resolving one path,
// like the kernel's ELOOP limit.
const maxLinks = 255

// resolveIn resolves p inside the root r as if r were "/": every symbolic
// link is followed, an absolute target restarts from r, and ".." stops at r.
// Components that do not exist are kept as written. The result is clean,
// relative to r ("." for r itself), and names no symbolic link except when
// a link loop is cut short by ELOOP. Nothing outside r is ever looked at:
// the lookups are os.Root calls on paths free of links.
func resolveIn(r *os.Root, p string) (string, error) {
	todo := splitPath(p)
	var out []string
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, c)
		cur := strings.Join(out, "/")
		fi, err := r.Lstat(cur)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if links++; links > maxLinks {
			return "", &fs.PathError{Op: "resolve", Path: "/" + cur, Err: syscall.ELOOP}
		}
		target, err := r.Readlink(cur)
		if err != nil {
			return "", err
		}
		out = out[:len(out)-1]
		if path.IsAbs(target) {
			out = out[:0]
		}
		todo = append(splitPath(target), todo...)
	}
	if len(out) == 0 {
		return ".", nil
	}
	return strings.Join(out, "/"), nil
}

// splitPath splits a slash-separated path into its components, dropping
// empty ones and ".".
func splitPath(p string) []string {
	var parts []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			parts = append(parts, c)
		}
	}
	return parts
}

// cleanRel cleans p as a path rooted at "/" and returns it relative to "/"
// ("." for the root): "../x", "/x" and "x" are all "x".
func cleanRel(p string) string {
	c := path.Clean("/" + p)
	if c == "/" {
		return "."
	}
	return c[1:]
}

// imagePath shows a path relative to a root as the image sees it.
func imagePath(rel string) string {
	if rel == "." || rel == "" {
		return "/"
	}
	return "/" + rel
}

// joinRel joins relative slash paths, treating "." and "" as empty.
func joinRel(a, b string) string {
	switch {
	case a == "." || a == "":
		if b == "" {
			return "."
		}
		return b
	case b == "." || b == "":
		return a
	}
	return a + "/" + b
}
