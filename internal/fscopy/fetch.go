package fscopy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// urlName is the file name ADD gives a URL downloaded into a directory: the
// last element of its path (BuildKit: "__unnamed__" when there is none).
func urlName(s string) string {
	u, err := url.Parse(s)
	if err == nil {
		if base := path.Base(u.Path); base != "." && base != "/" && base != "" {
			return base
		}
	}
	return "__unnamed__"
}

// digester checks an ADD --checksum ("algorithm:hex").
type digester struct {
	alg  string
	want string
	h    hash.Hash
}

func newDigester(checksum string) (*digester, error) {
	if checksum == "" {
		return nil, nil
	}
	alg, want, ok := strings.Cut(checksum, ":")
	var h hash.Hash
	switch alg {
	case "sha256":
		h = sha256.New()
	case "sha384":
		h = sha512.New384()
	case "sha512":
		h = sha512.New()
	}
	if !ok || h == nil || len(want) != 2*h.Size() {
		return nil, fmt.Errorf("invalid checksum %q: want sha256:<hex>", checksum)
	}
	if _, err := hex.DecodeString(want); err != nil {
		return nil, fmt.Errorf("invalid checksum %q: want sha256:<hex>", checksum)
	}
	return &digester{alg: alg, want: strings.ToLower(want), h: h}, nil
}

func (d *digester) verify() error {
	if got := hex.EncodeToString(d.h.Sum(nil)); got != d.want {
		return fmt.Errorf("checksum mismatch: want %s:%s, got %s:%s", d.alg, d.want, d.alg, got)
	}
	return nil
}

// get starts a GET of the URL u and checks its status.
func get(ctx context.Context, client *http.Client, u string) (*http.Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, fmt.Errorf("unexpected status %s", resp.Status)
	}
	return resp, nil
}

// fetch downloads a URL item to dest: a file of mode 0600 (or --chmod),
// owned by --chown or 0:0, with the mtime of Last-Modified. It is never
// extracted. The download goes to a temporary file next to the target and
// is renamed into place once its checksum is verified.
func (c *copier) fetch(ctx context.Context, it *item, d *dest) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("ADD %s: %w", it.url, err)
		}
	}()
	dg, err := newDigester(c.opt.Checksum)
	if err != nil {
		return err
	}
	resp, err := get(ctx, c.opt.HTTPClient, it.url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	mtime := c.opt.now()
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		mtime = c.opt.clamp(lm)
	}
	var body io.Reader = resp.Body
	if dg != nil {
		body = io.TeeReader(body, dg.h)
	}
	mode := uint32(0o600)
	if c.chmod != nil {
		mode = c.chmod.Apply(mode, false)
	}
	uid, gid := c.opt.owner(0, 0)
	return c.writeNew(d, it.name, body, uid, gid, mode, mtime, func() error {
		if dg != nil {
			return dg.verify()
		}
		return nil
	})
}

// writeNew writes a new file named name for dest d from r, via a
// temporary file renamed into place after check passes.
func (t *tree) writeNew(d *dest, name string, r io.Reader, uid, gid int, mode uint32, mtime time.Time, check func() error) error {
	dir, base, err := t.singleFile(d, name)
	if err != nil {
		return err
	}
	defer dir.f.Close()
	shown := imagePath(joinRel(dir.rel, base))
	tmp := ".bld-tmp-" + rand.Text()
	fd, err := openat(dir.fd, tmp, flagCreate, 0o600)
	if err != nil {
		return &fs.PathError{Op: "create", Path: shown, Err: err}
	}
	f := os.NewFile(uintptr(fd), shown)
	done := false
	defer func() {
		f.Close()
		if !done {
			unix.Unlinkat(dir.fd, tmp, 0)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	if err := chownErr(unix.Fchown(fd, uid, gid)); err != nil {
		return &fs.PathError{Op: "chown", Path: shown, Err: err}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return &fs.PathError{Op: "chmod", Path: shown, Err: err}
	}
	if err := futimes(fd, mtime); err != nil {
		return &fs.PathError{Op: "chtimes", Path: shown, Err: err}
	}
	var st unix.Stat_t
	if lstatAt(dir.fd, base, &st) == nil && isDir(&st) {
		return &fs.PathError{Op: "write", Path: shown, Err: errReplaceDir}
	}
	if err := unix.Renameat(dir.fd, tmp, dir.fd, base); err != nil {
		return &fs.PathError{Op: "rename", Path: shown, Err: err}
	}
	done = true
	return nil
}
