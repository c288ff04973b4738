// Package stepinit is the sandbox's init: the code that runs in the
// process package sandbox's Run starts as PID 1 of a step's new
// namespaces, builds the step's root there, pivot_roots into it and
// execve's the command. Run starts a program with Env in its environment;
// this package's init function sees it and becomes the init, before main
// and before the initialisers of the packages that import it. The program
// is bld-init (cmd/bld-init: this package and nothing else), which make
// build embeds in bld and Run starts from a sealed memfd, or, in a bld
// built without it, bld itself.
//
// # Why an init function, in a package of its own
//
// A re-executed bld is the whole of bld, and Go runs package
// initialisers before main: a step's init used to pay for all of them (the
// Dockerfile frontend and its checks' regexps, the digest and reference
// regexps, registry clients, the sandbox's own seccomp tables: 163
// packages with init work) for code it never calls. Go initialises, of the
// packages whose imports are all initialised, the first by import path
// (the Go spec, since 1.21), so this package's init function runs as soon
// as its imports are, and in an init process it never returns: it execs
// the command or exits. Packages outside its imports that sort before one
// of them and are ready meanwhile are still initialised first (its import
// of golang.org/x/sys/unix, and internal/mount's of path/filepath, let
// about 100 of the 163 in: protobuf, compressors, crypto), the rest never
// are. TestInitEarly checks that with GODEBUG=inittrace=1.
//
// So this package must stay light: no import of package sandbox or of
// anything that compiles profiles, talks to registries or parses
// Dockerfiles. The parent side (namespaces, cgroups, seccomp compilation,
// networks, cleanup) stays in package sandbox, which sends the init a
// Config as JSON and reads its Messages.
package stepinit

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/internal/mount"
)

// Env marks a process started by sandbox.Run as a sandbox init.
const Env = "_BLD_SANDBOX_INIT"

func init() {
	if os.Getenv(Env) == "" {
		return
	}
	// The bounding set, credentials, keyring and namespaces joined are per
	// thread: keep all of it on the thread that execs. (Package
	// initialisation runs on the main goroutine, locked to the main
	// thread already; this keeps it so.)
	runtime.LockOSThread()
	os.Exit(initMain())
}

// Config is what Run sends to the init, as JSON.
type Config struct {
	Root     []mount.Mount
	Mounts   []mount.Mount
	Files    map[string][]byte // EtcFiles' contents
	Args     []string
	Env      []string
	Dir      string
	User     string
	Hostname string
	NewNet   bool
	// State is Run's scratch directory: the init mounts a tmpfs on it (in
	// the step's mount namespace), holding the /etc files and the
	// directory the root is mounted on.
	State string
	// CgroupProcs are the files that move the init into the step's
	// cgroups (sandbox's cgroup.joinFiles); it writes "0" to each before
	// execve'ing the command.
	CgroupProcs []string
	// Seccomp is the command's seccomp filter (sandbox's encodeSeccomp),
	// sent after the JSON as it is (EncodeConfig): as a JSON string, its
	// 16 KB took the init longer to decode than the rest.
	Seccomp []byte `json:"-"`
	// NetUp, when not 0, is the descriptor (5, or 6 with JoinNet) of a
	// pipe from Run: the default network (slirp4netns) comes up while the
	// init sets up, and the init waits for Run's byte there before the
	// command starts.
	NetUp int
	// JoinNet: fd 5 is a pooled network namespace (sandbox.Networks); the
	// init joins it.
	JoinNet  bool
	ShmSize  int64 // bytes of /dev/shm; never 0 here
	Ulimits  []Ulimit
	Insecure bool // sandbox.Spec.Insecure
}

// EncodeConfig is what Run writes to the init's fd 4: the lengths of cfg's
// JSON and of cfg.Seccomp (4 bytes each, little-endian), that JSON, and
// cfg.Seccomp's bytes.
func EncodeConfig(cfg *Config) ([]byte, error) {
	j, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 8+len(j)+len(cfg.Seccomp))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(j)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cfg.Seccomp)))
	return append(append(b, j...), cfg.Seccomp...), nil
}

// DecodeConfig reads what EncodeConfig wrote, and nothing less or more.
func DecodeConfig(b []byte, cfg *Config) error {
	if len(b) < 8 {
		return fmt.Errorf("config of %d bytes: truncated", len(b))
	}
	j, f := uint64(binary.LittleEndian.Uint32(b)), uint64(binary.LittleEndian.Uint32(b[4:]))
	if 8+j+f != uint64(len(b)) {
		return fmt.Errorf("config of %d bytes, want %d", len(b), 8+j+f)
	}
	if err := json.Unmarshal(b[8:8+j], cfg); err != nil {
		return err
	}
	cfg.Seccomp = b[8+j:]
	return nil
}

// Message is what the init reports to Run on its socket (a SOCK_SEQPACKET:
// one message per send): the mount targets it created, with their
// parents' descriptors as SCM_RIGHTS, and, if it could not start the
// command, why.
type Message struct {
	Error        string        `json:"error,omitempty"`
	Placeholders []Placeholder `json:"placeholders,omitempty"`
}

// MaxFDs is how many descriptors one message carries (the kernel's
// SCM_MAX_FD is 253).
const MaxFDs = 200

// Ulimit is one resource limit of Config.Ulimits (sandbox.Spec.Ulimits).
// Name is docker's (nofile, nproc, core, ...: the keys of Rlimits).
type Ulimit struct {
	Name       string
	Soft, Hard uint64
}

// Rlimits maps docker's ulimit names to the RLIMIT_ resources.
var Rlimits = map[string]int{
	"core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
	"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
	"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
	"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
	"as": unix.RLIMIT_AS,
}

// etcFiles are the files of /etc the sandbox provides, from Config.Files.
var etcFiles = []string{"hosts", "resolv.conf", "hostname"}

// bindFile is a read-write bind mount of file src at target.
func bindFile(src, target string) mount.Mount {
	return mount.Mount{Type: "bind", Source: src, Target: target, Options: []string{"bind"}}
}

// IsBind reports whether m is a bind mount, whose source is a host path.
func IsBind(m mount.Mount) bool {
	return m.Type == "bind" || m.Type == "rbind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}

// HasEnv reports whether env (KEY=VALUE pairs) sets key.
func HasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// LoopbackUp sets the loopback interface of a new network namespace up.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl SIOCGIFFLAGS lo", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl SIOCSIFFLAGS lo", err)
	}
	return nil
}
