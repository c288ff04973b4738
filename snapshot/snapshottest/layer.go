package snapshottest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/archive"
)

// Entry describes one tar entry of a test layer.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg when zero
	Mode     int64
	UID, GID int
	ModTime  time.Time // T0 when zero
	Body     string
	Link     string
	Major    int64
	Minor    int64
	Xattrs   map[string]string
}

// T0 is the default modification time of test entries.
var T0 = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// Layer returns an uncompressed tar of entries, in the order given.
func Layer(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:     e.Name,
			Typeflag: e.Type,
			Mode:     e.Mode,
			Uid:      e.UID,
			Gid:      e.GID,
			ModTime:  e.ModTime,
			Linkname: e.Link,
			Devmajor: e.Major,
			Devminor: e.Minor,
			Format:   tar.FormatPAX,
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.ModTime.IsZero() {
			hdr.ModTime = T0
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		for k, v := range e.Xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("write %s: %v", e.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, e.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Entries reads a layer into one line per entry (name, type, mode, owner,
// mtime, size, content digest, link, device, xattrs), in tar order.
func Entries(t testing.TB, layer []byte) []string {
	t.Helper()
	var out []string
	err := archive.Walk(context.Background(), bytes.NewReader(layer), func(hdr *tar.Header, r io.Reader) error {
		body, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		out = append(out, describeHeader(hdr, body))
		return nil
	})
	if err != nil {
		t.Fatalf("read layer: %v", err)
	}
	return out
}

func describeHeader(hdr *tar.Header, body []byte) string {
	var xs []string
	for k, v := range hdr.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			xs = append(xs, x+"="+v)
		}
	}
	slices.Sort(xs)
	s := fmt.Sprintf("%s type=%c mode=%o owner=%d:%d mtime=%d", strings.TrimSuffix(hdr.Name, "/"), hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime.Unix())
	switch hdr.Typeflag {
	case tar.TypeReg:
		sum := sha256.Sum256(body)
		s += fmt.Sprintf(" size=%d sha=%s", hdr.Size, hex.EncodeToString(sum[:4]))
	case tar.TypeLink, tar.TypeSymlink:
		s += " link=" + hdr.Linkname
	case tar.TypeChar, tar.TypeBlock:
		s += fmt.Sprintf(" dev=%d,%d", hdr.Devmajor, hdr.Devminor)
	}
	if len(xs) > 0 {
		s += " xattrs=" + strings.Join(xs, ",")
	}
	return s
}

// Tree describes every entry under root (not root itself) by path: type,
// mode, owner, mtime in seconds, size and content digest, link target,
// device, xattrs (not trusted.overlay ones), and for a hard link the first
// path of its inode.
func Tree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	first := map[[2]uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		s := fmt.Sprintf("mode=%o owner=%d:%d mtime=%d", st.Mode, st.Uid, st.Gid, st.Mtim.Sec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			s += fmt.Sprintf(" size=%d sha=%s", len(b), hex.EncodeToString(sum[:4]))
			if st.Nlink > 1 {
				id := [2]uint64{uint64(st.Dev), st.Ino}
				if f, ok := first[id]; ok {
					s += " hardlink=" + f
				} else {
					first[id] = rel
				}
			}
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			s += " link=" + target
		case unix.S_IFCHR, unix.S_IFBLK:
			s += fmt.Sprintf(" dev=%d,%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		}
		if xs := xattrs(t, p); len(xs) > 0 {
			s += " xattrs=" + strings.Join(xs, ",")
		}
		out[rel] = s
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

func xattrs(t testing.TB, p string) []string {
	buf := make([]byte, 64*1024)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range strings.Split(string(buf[:n]), "\x00") {
		if k == "" || strings.HasPrefix(k, "trusted.overlay.") {
			continue
		}
		v := make([]byte, 64*1024)
		m, err := unix.Lgetxattr(p, k, v)
		if err != nil {
			t.Fatalf("lgetxattr %s %s: %v", p, k, err)
		}
		out = append(out, k+"="+string(v[:m]))
	}
	slices.Sort(out)
	return out
}

// DiffTrees returns the differences between two Tree results, one line
// each, or "" if they are equal.
func DiffTrees(got, want map[string]string) string {
	var lines []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("missing %s: %s", p, w))
		case g != w:
			lines = append(lines, fmt.Sprintf("differs %s:\n   got %s\n  want %s", p, g, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			lines = append(lines, fmt.Sprintf("extra %s: %s", p, g))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
