package testutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// User is an ordinary host user made for a test (NewUser), to run bld
// rootless as it.
type User struct {
	Name     string
	Home     string // its home, in a directory every user can traverse
	UID, GID int
}

// NewUser adds a user with useradd (removed after the test, with its
// /etc/subuid and /etc/subgid lines); with ranges, it gets a subordinate
// range of 65536 ids in both, far above what useradd hands out. Needs
// root, useradd and newuidmap (Debian's uidmap, which make test installs).
func NewUser(t testing.TB, ranges bool) *User {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "useradd")
	RequireTool(t, "newuidmap")
	// Unique per test process: packages' tests run in parallel processes.
	name := fmt.Sprintf("bldt%d", os.Getpid()%100000)
	if !ranges {
		name += "n"
	}
	base, err := os.MkdirTemp("", "bld-user-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(base, "home")
	// --system: no subordinate ranges from login.defs; the test adds its own.
	Run(t, "useradd", "--system", "--home-dir", home, "--create-home", "--shell", "/bin/sh", name)
	t.Cleanup(func() {
		exec.Command("userdel", "-r", name).Run()
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			removeLines(f, name+":")
		}
		os.RemoveAll(base)
	})
	if ranges {
		start := 3000000 + (os.Getpid()%1000)*65536
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			fh, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(fh, "%s:%d:65536\n", name, start)
			fh.Close()
		}
	}
	var ids [2]int
	for i, flag := range []string{"-u", "-g"} {
		if ids[i], err = strconv.Atoi(strings.TrimSpace(string(Run(t, "id", flag, name)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	return &User{Name: name, Home: home, UID: ids[0], GID: ids[1]}
}

// Command runs name with args as the user (runuser), in dir, with only
// HOME, PATH and env in its environment.
func (u *User) Command(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	full := append([]string{"-u", u.Name, "--", "env", "-i", "HOME=" + u.Home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	cmd := exec.CommandContext(ctx, "runuser", append(append(full, name), args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Dir = dir
	return cmd
}

// Chown gives the user everything under dir (its group too), keeping
// every mode as it was: chown clears setuid and setgid bits, which are
// set again.
func (u *User) Chown(t testing.TB, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, u.UID, u.GID); err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return nil
		}
		return os.Chmod(p, fi.Mode())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// removeLines removes the lines of path that start with prefix.
func removeLines(path, prefix string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var keep []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l != "" && !strings.HasPrefix(l, prefix) {
			keep = append(keep, l)
		}
	}
	os.WriteFile(path, []byte(strings.Join(keep, "")), 0o644)
}
