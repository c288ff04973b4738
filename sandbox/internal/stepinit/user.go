package stepinit

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// User is who the command runs as.
type User struct {
	UID, GID uint32
	Groups   []uint32 // supplementary
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// LookupUser resolves spec ("", "name", "uid", "name:group", "uid:gid") in
// /etc/passwd and /etc/group under root, as Docker (runc) does:
// "" is uid 0; a uid missing from /etc/passwd is fine and gets gid 0; a
// user given without a group gets its primary group and the groups that
// list it as a member. The primary group is always among the groups.
func LookupUser(root, spec string) (User, error) {
	u, err := findUser(root, spec)
	if err != nil {
		return User{}, err
	}
	// The primary group is a supplementary one too, as containerd and
	// Docker do since CVE-2023-25173.
	u.Groups = append([]uint32{u.GID}, slices.DeleteFunc(u.Groups, func(g uint32) bool { return g == u.GID })...)
	return u, nil
}

func findUser(root, spec string) (User, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	if name == "" {
		if hasGroup {
			return User{}, fmt.Errorf("user %q: no user name", spec)
		}
		name = "0"
	}
	users, err := readPasswd(filepath.Join(root, "etc/passwd"))
	if err != nil {
		return User{}, err
	}
	id, numErr := parseID(name)
	var match *passwdEntry
	for i := range users {
		if (numErr == nil && users[i].uid == id) || (numErr != nil && users[i].name == name) {
			match = &users[i]
			break
		}
	}
	u := User{UID: id, Home: "/"}
	switch {
	case match != nil:
		u.UID, u.GID, u.Home = match.uid, match.gid, match.home
		if u.Home == "" {
			u.Home = "/"
		}
	case numErr != nil:
		return User{}, fmt.Errorf("user %q: no such user in /etc/passwd", name)
	}
	if !hasGroup && match == nil {
		return u, nil
	}
	groups, err := readGroup(filepath.Join(root, "etc/group"))
	if err != nil {
		return User{}, err
	}
	if !hasGroup {
		for _, g := range groups {
			if slices.Contains(g.members, match.name) && !slices.Contains(u.Groups, g.gid) {
				u.Groups = append(u.Groups, g.gid)
			}
		}
		return u, nil
	}
	if group == "" {
		return User{}, fmt.Errorf("user %q: no group name", spec)
	}
	if gid, err := parseID(group); err == nil {
		u.GID = gid
		return u, nil
	}
	for _, g := range groups {
		if g.name == group {
			u.GID = g.gid
			return u, nil
		}
	}
	return User{}, fmt.Errorf("group %q: no such group in /etc/group", group)
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

// readPasswd parses an /etc/passwd; a missing file has no entries. Lines
// that do not parse (NIS "+" lines, comments) are skipped, as libc does.
func readPasswd(p string) ([]passwdEntry, error) {
	var out []passwdEntry
	err := readColonFile(p, func(f []string) {
		if len(f) < 4 {
			return
		}
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil {
			return
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	})
	return out, err
}

// readGroup parses an /etc/group; a missing file has no entries.
func readGroup(p string) ([]groupEntry, error) {
	var out []groupEntry
	err := readColonFile(p, func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, err := parseID(f[2])
		if err != nil {
			return
		}
		e := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			for _, m := range strings.Split(f[3], ",") {
				e.members = append(e.members, strings.TrimSpace(m))
			}
		}
		out = append(out, e)
	})
	return out, err
}

func readColonFile(p string, fn func([]string)) error {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
}

// mkdirOwned creates dir and its missing parents, owned by uid:gid.
func mkdirOwned(dir string, uid, gid int) error {
	p := "/"
	for _, part := range strings.Split(path.Clean("/"+dir), "/") {
		if part == "" {
			continue
		}
		p = path.Join(p, part)
		err := os.Mkdir(p, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// lookPath finds file in the PATH of env, like exec.LookPath; a name with a
// slash is used as it is.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	var pathEnv string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			if !filepath.IsAbs(p) {
				p = "./" + p
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}
