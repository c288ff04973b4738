package mount

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Unmount unmounts the top mount at target. While the mount is busy it
// retries for about half a second, then detaches it lazily (MNT_DETACH),
// which always succeeds for a mount point.
func Unmount(target string) error {
	for i := range 10 {
		err := unix.Unmount(target, 0)
		if err == nil {
			return nil
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if !errors.Is(err, unix.EBUSY) {
			return &os.PathError{Op: "umount", Path: target, Err: err}
		}
		time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
	}
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount", Path: target, Err: err}
	}
	return nil
}

// UnmountAll unmounts every mount at or below target, deepest first (as
// listed in /proc/self/mountinfo), including mounts stacked on one another.
// Nothing mounted, or a target that does not exist, is not an error.
func UnmountAll(target string) error {
	target, err := filepath.Abs(target)
	if err != nil {
		return fmt.Errorf("unmount all: %w", err)
	}
	if real, err := filepath.EvalSymlinks(target); err == nil {
		target = real
	} else if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	points, err := mountPoints(target)
	if err != nil {
		return fmt.Errorf("unmount all %s: %w", target, err)
	}
	// mountinfo lists mounts in the order they were made; reversed, a
	// stacked mount comes before the one under it. Then deepest first.
	slices.Reverse(points)
	slices.SortStableFunc(points, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/")
	})
	var errs []error
	for _, p := range points {
		if err := Unmount(p); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Points returns the mount points at or below target (an absolute, clean
// path) in the order they were mounted, as /proc/self/mountinfo lists them.
func Points(target string) ([]string, error) { return mountPoints(target) }

// mountPoints returns the mount points at or below target, in mountinfo order.
func mountPoints(target string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prefix := target + "/"
	if target == "/" {
		prefix = "/"
	}
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := Unescape(fields[4])
		if p == target || strings.HasPrefix(p, prefix) {
			points = append(points, p)
		}
	}
	return points, sc.Err()
}

// Unescape decodes the octal escapes (\040 for a space, ...) the kernel
// uses for whitespace and backslashes in mountinfo paths.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
