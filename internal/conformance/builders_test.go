package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/bldbuild/bld/internal/testutil"
)

// commandTimeout bounds every external command (one build, one unpack).
const commandTimeout = 3 * time.Minute

// runner runs external commands, appending their output to a log file.
type runner struct {
	log string   // file that collects every command and its output
	env []string // extra environment
}

// cmdError is a failed command with the tail of its output.
type cmdError struct {
	Args   []string
	Err    error
	Output string
}

func (e *cmdError) Error() string {
	return fmt.Sprintf("%s: %v\n%s", strings.Join(e.Args, " "), e.Err, tail(e.Output, 40))
}

func (e *cmdError) Unwrap() error { return e.Err }

// run runs a command; the error is a *cmdError when it ran and failed.
func (r *runner) run(ctx context.Context, name string, args ...string) (string, error) {
	return r.exec(ctx, "", true, name, args...)
}

// runQuiet is run without copying the output into the log (for commands
// that print pages of JSON).
func (r *runner) runQuiet(ctx context.Context, name string, args ...string) (string, error) {
	return r.exec(ctx, "", false, name, args...)
}

func (r *runner) runIn(ctx context.Context, dir, name string, args ...string) (string, error) {
	return r.exec(ctx, dir, true, name, args...)
}

func (r *runner) exec(ctx context.Context, dir string, logOutput bool, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), r.env...)
	return r.runCmd(cmd, logOutput, name, args)
}

// runAs runs name as the test user u (rootless bld), in dir, with only
// the runner's environment.
func (r *runner) runAs(ctx context.Context, u *testutil.User, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	return r.runCmd(u.Command(ctx, dir, r.env, name, args...), true, "["+u.Name+"] "+name, args)
}

// runCmd runs a prepared command, logging it as name and args.
func (r *runner) runCmd(cmd *exec.Cmd, logOutput bool, name string, args []string) (string, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	if r.log != "" {
		if f, ferr := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
			logged := "(output not logged)"
			if logOutput || err != nil {
				logged = tail(out.String(), 30)
			}
			fmt.Fprintf(f, "$ %s %s\n%s\n[exit: %v, %s]\n\n", name, strings.Join(args, " "), logged, err, time.Since(start).Round(time.Millisecond))
			f.Close()
		}
	}
	if err != nil {
		return out.String(), &cmdError{Args: append([]string{name}, args...), Err: err, Output: out.String()}
	}
	return out.String(), nil
}

// note appends a line to the log.
func (r *runner) note(format string, args ...any) {
	if r.log == "" {
		return
	}
	if f, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "# "+format+"\n\n", args...)
		f.Close()
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// buildah drives buildah 1.28 with a private storage, the overlay driver
// and chroot isolation:
//   - --root/--runroot under the suite's temp dir: nothing touches the
//     machine's storage; cleanup removes images, unmounts what is left
//     and removes the dir;
//   - overlay: buildah's usual driver, and with --layers about four times
//     faster than vfs here (vfs diffs whole trees at every step);
//   - --isolation chroot: runs reliably here as root and needs no network
//     setup (isolation oci also works, but sets up a CNI/netavark bridge
//     per RUN step, which is slower and leaves host state);
//   - --format docker: buildah's OCI format drops HEALTHCHECK, ONBUILD and
//     SHELL; the docker config keeps them, and the suite reads the config
//     from `buildah inspect` (skopeo's conversion to OCI drops them again).
type buildah struct {
	r        *runner
	root     string
	runroot  string
	policy   string // skopeo signature policy: accept anything, it is all local
	storeRef string // the containers-storage transport prefix for skopeo
}

func newBuildah(dir string, r *runner) (*buildah, error) {
	b := &buildah{
		r:       r,
		root:    filepath.Join(dir, "root"),
		runroot: filepath.Join(dir, "runroot"),
		policy:  filepath.Join(dir, "policy.json"),
	}
	b.storeRef = fmt.Sprintf("containers-storage:[overlay@%s+%s]", b.root, b.runroot)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(b.policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *buildah) global() []string {
	return []string{"--root", b.root, "--runroot", b.runroot, "--storage-driver", "overlay"}
}

// importBase puts the base rootfs into buildah's storage as "busybox"
// (docker.io/library/busybox:latest), an image with an empty config.
func (b *buildah) importBase(ctx context.Context, rootfs string) error {
	out, err := b.r.run(ctx, "buildah", append(b.global(), "from", "scratch")...)
	if err != nil {
		return err
	}
	ctr := strings.TrimSpace(out)
	out, err = b.r.run(ctx, "buildah", append(b.global(), "mount", ctr)...)
	if err != nil {
		return err
	}
	mnt := strings.TrimSpace(out)
	// cp -a keeps ownership, modes and symlinks exactly.
	if _, err := b.r.run(ctx, "cp", "-a", rootfs+"/.", mnt+"/"); err != nil {
		return err
	}
	if _, err := b.r.run(ctx, "buildah", append(b.global(), "umount", ctr)...); err != nil {
		return err
	}
	if _, err := b.r.run(ctx, "buildah", append(b.global(), "commit", "--format", "docker", "-q", ctr, "busybox")...); err != nil {
		return err
	}
	_, err = b.r.run(ctx, "buildah", append(b.global(), "rm", ctr)...)
	return err
}

// buildOpts are the inputs of one build, for either builder.
type buildOpts struct {
	dockerfile string
	context    string
	tag        string
	buildArgs  map[string]string
	target     string
	secrets    map[string]string // id -> absolute file
	extra      []string          // extra flags (buildah only)
}

func (o buildOpts) commonFlags() []string {
	var args []string
	for _, k := range sortedKeys(o.buildArgs) {
		args = append(args, "--build-arg", k+"="+o.buildArgs[k])
	}
	if o.target != "" {
		args = append(args, "--target", o.target)
	}
	for _, id := range sortedKeys(o.secrets) {
		args = append(args, "--secret", "id="+id+",src="+o.secrets[id])
	}
	return args
}

// build runs `buildah bud`; on success the image is tagged o.tag.
func (b *buildah) build(ctx context.Context, o buildOpts) (string, error) {
	args := append(b.global(), "bud", "--layers", "--format", "docker", "--pull=never", "--isolation", "chroot",
		"-f", o.dockerfile, "-t", o.tag)
	args = append(args, o.commonFlags()...)
	args = append(args, o.extra...)
	args = append(args, o.context)
	return b.r.run(ctx, "buildah", args...)
}

// export unpacks the image tagged tag into work: the layers through skopeo
// (to an OCI archive) and umoci, the config from `buildah inspect`.
func (b *buildah) export(ctx context.Context, tag, work string) (*image, error) {
	archive := filepath.Join(work, "buildah.tar")
	if _, err := b.r.run(ctx, "skopeo", "--policy", b.policy, "copy", "--quiet",
		b.storeRef+"localhost/"+tag+":latest", "oci-archive:"+archive+":image"); err != nil {
		return nil, err
	}
	img, err := unpackOCITar(ctx, b.r, archive, filepath.Join(work, "buildah"))
	if err != nil {
		return nil, err
	}
	out, err := b.r.runQuiet(ctx, "buildah", append(b.global(), "inspect", "--type", "image", tag)...)
	if err != nil {
		return nil, err
	}
	var insp struct {
		Docker struct {
			Config rawConfig `json:"config"`
		} `json:"Docker"`
	}
	if err := json.Unmarshal([]byte(out), &insp); err != nil {
		return nil, fmt.Errorf("parse buildah inspect: %w", err)
	}
	img.config = insp.Docker.Config.normalise()
	normaliseBuildahStubs(img.fs)
	return img, nil
}

// buildahStubs are the files buildah's RUN bind-mounts over and, when the
// image has none, leaves behind as empty files with mode 0755. BuildKit
// (and bld) leave nothing (DESIGN.md: "layers carry nothing of the host"),
// so the suite drops them from buildah's side; bld's side is not
// normalised, so a stub bld leaves shows up as a difference.
var buildahStubs = []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}

func normaliseBuildahStubs(t tree) {
	for _, p := range buildahStubs {
		if e := t[p]; e != nil && e.Type == "file" && e.Size == 0 && e.Mode == 0o755 && e.UID == 0 && e.GID == 0 {
			delete(t, p)
		}
	}
}

// cleanup removes every container and image, and detaches any mount left
// under the storage (a crashed step can leave one), so that the caller can
// remove the dirs.
func (b *buildah) cleanup(ctx context.Context) {
	b.r.run(ctx, "buildah", append(b.global(), "rm", "--all")...)
	b.r.run(ctx, "buildah", append(b.global(), "rmi", "--all", "--force")...)
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var under []string
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			for _, dir := range []string{b.root, b.runroot} {
				if f[1] == dir || strings.HasPrefix(f[1], dir+"/") {
					under = append(under, f[1])
				}
			}
		}
	}
	// Innermost first.
	sort.Sort(sort.Reverse(sort.StringSlice(under)))
	for _, m := range under {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

// bld drives the bld binary through its CLI, one store per case; as root,
// or rootless as user when it is set.
type bld struct {
	r    *runner
	bin  string
	root string
	user *testutil.User
}

// epoch is SOURCE_DATE_EPOCH for every bld build of the suite, so that a
// root and a rootless build of a case give the same digest. It changes
// no file's content, mode or owner, nor the config fields the suite
// compares with buildah (mtimes and created are not compared).
const epoch = "SOURCE_DATE_EPOCH=1700000000"

func (d *bld) run(ctx context.Context, args ...string) (string, error) {
	args = append([]string{"--root", d.root}, args...)
	r := *d.r
	r.env = append(slices.Clone(r.env), epoch)
	if d.user != nil {
		r.env = []string{epoch} // the suite's TMPDIR is root's
		return r.runAs(ctx, d.user, "/", d.bin, args...)
	}
	return r.run(ctx, d.bin, args...)
}

// importBase imports the base image from baseTar (a tarball of the base
// rootfs, the same path for root and rootless: the history records it).
func (d *bld) importBase(ctx context.Context, baseTar string) error {
	_, err := d.run(ctx, "import", baseTar, "busybox")
	return err
}

// build runs `bld build` exporting an OCI layout tarball to out.
func (d *bld) build(ctx context.Context, o buildOpts, out string) (string, error) {
	args := []string{"build", "-f", o.dockerfile, "-t", o.tag}
	args = append(args, o.commonFlags()...)
	args = append(args, "--output", "type=oci,dest="+out, o.context)
	return d.run(ctx, args...)
}

// missingTools names the tools the suite needs that are not on PATH.
func missingTools() []string {
	var missing []string
	for _, t := range []string{"buildah", "skopeo", "umoci", "cp", "/bin/busybox", "/bin/sh"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	sort.Strings(missing)
	return missing
}

// exitedNonZero reports whether err is a command that ran and failed (not
// one that could not start or timed out).
func exitedNonZero(err error) bool {
	var ce *cmdError
	var ee *exec.ExitError
	return errors.As(err, &ce) && errors.As(err, &ee) && ee.ExitCode() > 0
}
