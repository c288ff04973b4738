package fscopy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Owner is the numeric owner given to copied files. A field of -1 keeps the
// source's id (files from the build context, URLs and heredocs count as
// owned by 0:0).
type Owner struct{ UID, GID int }

// maxIDFile bounds how much of /etc/passwd or /etc/group is read.
const maxIDFile = 10 << 20

// LookupOwner resolves a --chown or USER value ("user", "user:group",
// "uid", "uid:gid", "user:gid", "uid:group") against the /etc/passwd and
// /etc/group of the root filesystem root, read inside root (links are
// resolved in it). A user given alone takes its primary group, a numeric
// uid given alone takes the same gid (BuildKit). Numeric ids and "root" need
// no files. An unknown name is an error that names it.
func LookupOwner(root, spec string) (Owner, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	if user == "" || (hasGroup && strings.Contains(group, ":")) {
		return Owner{}, fmt.Errorf("invalid user %q: want user[:group]", spec)
	}
	var o Owner
	uid, numeric, err := parseID(user)
	if err != nil {
		return Owner{}, fmt.Errorf("invalid user %q: %w", spec, err)
	}
	if numeric {
		o = Owner{UID: uid, GID: uid}
	} else {
		line, err := lookupID(root, "/etc/passwd", user)
		if err != nil {
			return Owner{}, err
		}
		if len(line) < 4 {
			return Owner{}, fmt.Errorf("user %q: malformed entry in /etc/passwd", user)
		}
		if o.UID, err = strconv.Atoi(line[2]); err != nil {
			return Owner{}, fmt.Errorf("user %q: malformed uid %q in /etc/passwd", user, line[2])
		}
		if o.GID, err = strconv.Atoi(line[3]); err != nil {
			return Owner{}, fmt.Errorf("user %q: malformed gid %q in /etc/passwd", user, line[3])
		}
	}
	if group == "" {
		return o, nil
	}
	gid, numeric, err := parseID(group)
	if err != nil {
		return Owner{}, fmt.Errorf("invalid group in %q: %w", spec, err)
	}
	if numeric {
		o.GID = gid
		return o, nil
	}
	line, err := lookupID(root, "/etc/group", group)
	if err != nil {
		return Owner{}, err
	}
	if len(line) < 3 {
		return Owner{}, fmt.Errorf("group %q: malformed entry in /etc/group", group)
	}
	if o.GID, err = strconv.Atoi(line[2]); err != nil {
		return Owner{}, fmt.Errorf("group %q: malformed gid %q in /etc/group", group, line[2])
	}
	return o, nil
}

// parseID parses a numeric id; "root" is 0 without looking at files.
func parseID(s string) (id int, numeric bool, err error) {
	if s == "root" {
		return 0, true, nil
	}
	if s[0] < '0' || s[0] > '9' {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, false, fmt.Errorf("invalid id %q", s)
	}
	return int(n), true, nil
}

// lookupID returns the colon-separated fields of the first line of file
// (read inside root) whose first field is name.
func lookupID(root, file, name string) ([]string, error) {
	kind := "user"
	if file == "/etc/group" {
		kind = "group"
	}
	data, err := readInRoot(root, file, maxIDFile)
	if err != nil {
		if errorsIsNotExist(err) {
			return nil, fmt.Errorf("unknown %s %q: no %s in the image", kind, name, file)
		}
		return nil, fmt.Errorf("lookup %s %q: %w", kind, name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxIDFile)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, ":")
		if f[0] == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("unknown %s %q: not in %s", kind, name, file)
}

// readInRoot reads the regular file p (resolved inside root) up to limit
// bytes.
func readInRoot(root, p string, limit int64) ([]byte, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	rel, err := resolveIn(r, p)
	if err != nil {
		return nil, err
	}
	fi, err := r.Lstat(rel)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("not a regular file")}
	}
	f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: p, Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	return data, nil
}

func errorsIsNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// modeFromUnix converts permission and special bits (07777) to a FileMode.
func modeFromUnix(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// unixMode converts a FileMode's permission and special bits to 07777 form.
func unixMode(mode fs.FileMode) uint32 {
	m := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}
