package sandbox

// Devices: the device allowlist of a step, Docker's default rules. A step
// may create any device node (CAP_MKNOD, as in Docker) but read or write
// only null, zero, full, random, urandom, tty, console, ptmx, the pts and
// net/tun. On cgroup v1 the rules are the devices controller's files; on
// cgroup v2 they are a BPF_CGROUP_DEVICE program, written with
// github.com/cilium/ebpf's assembler and attached with its link package;
// a hybrid host gets both.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// deviceRule allows (or denies) access to devices of a type, major and
// minor; -1 is any.
type deviceRule struct {
	typ          byte // 'a' (all), 'b' (block) or 'c' (char)
	major, minor int64
	access       string // of "rwm"
	allow        bool
}

// String is the rule as the v1 devices controller writes it: "c 1:3 rwm".
func (r deviceRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	if r.typ == 'a' {
		return "a"
	}
	return fmt.Sprintf("%c %s:%s %s", r.typ, num(r.major), num(r.minor), r.access)
}

// defaultDeviceRules are Docker's (runc's) default device rules, after a
// deny of everything.
var defaultDeviceRules = []deviceRule{
	{'c', -1, -1, "m", true}, // mknod of any device
	{'b', -1, -1, "m", true},
	{'c', 1, 3, "rwm", true},    // /dev/null
	{'c', 1, 5, "rwm", true},    // /dev/zero
	{'c', 1, 7, "rwm", true},    // /dev/full
	{'c', 1, 8, "rwm", true},    // /dev/random
	{'c', 1, 9, "rwm", true},    // /dev/urandom
	{'c', 5, 0, "rwm", true},    // /dev/tty
	{'c', 5, 1, "rwm", true},    // /dev/console
	{'c', 5, 2, "rwm", true},    // /dev/ptmx
	{'c', 136, -1, "rwm", true}, // /dev/pts/*
	{'c', 10, 200, "rwm", true}, // /dev/net/tun
}

// setDevicesV1 writes rules into the v1 devices cgroup dir: deny all, then
// each rule, in order. devices.allow and devices.deny are opened once: each
// write(2) to them is one rule, so a step makes 2 opens, not 13.
func setDevicesV1(dir string, rules []deviceRule) error {
	var files [2]*os.File // deny, allow
	for i, name := range []string{"devices.deny", "devices.allow"} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer f.Close() // each write is checked: nothing is left to flush
		files[i] = f
	}
	if _, err := files[0].WriteString("a"); err != nil {
		return err
	}
	for _, r := range rules {
		f := files[0]
		if r.allow {
			f = files[1]
		}
		if _, err := f.WriteString(r.String()); err != nil {
			return fmt.Errorf("devices rule %q: %w", r, err)
		}
	}
	return nil
}

// Fields of struct bpf_cgroup_dev_ctx and its access_type encoding.
const (
	devTypeBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devTypeChar  = 2 // BPF_DEVCG_DEV_CHAR
	devAccMknod  = 1 // BPF_DEVCG_ACC_MKNOD
	devAccRead   = 2 // BPF_DEVCG_ACC_READ
	devAccWrite  = 4 // BPF_DEVCG_ACC_WRITE
)

// deviceInstructions compiles rules to a BPF_CGROUP_DEVICE program: the
// first rule that matches decides, nothing matching is denied.
func deviceInstructions(rules []deviceRule) (asm.Instructions, error) {
	// R2 = type, R3 = access, R4 = major, R5 = minor.
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.And.Imm32(asm.R2, 0xffff),
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word),
	}
	for i, r := range rules {
		next := fmt.Sprintf("rule%d", i+1)
		var block asm.Instructions
		switch r.typ {
		case 'a':
		case 'b':
			block = append(block, asm.JNE.Imm(asm.R2, devTypeBlock, next))
		case 'c':
			block = append(block, asm.JNE.Imm(asm.R2, devTypeChar, next))
		default:
			return nil, fmt.Errorf("device rule %q: bad type", r)
		}
		var acc int32
		for _, c := range r.access {
			switch c {
			case 'm':
				acc |= devAccMknod
			case 'r':
				acc |= devAccRead
			case 'w':
				acc |= devAccWrite
			default:
				return nil, fmt.Errorf("device rule %q: bad access", r)
			}
		}
		if acc != devAccMknod|devAccRead|devAccWrite {
			// Every access asked for must be in the rule.
			block = append(block,
				asm.Mov.Reg32(asm.R1, asm.R3),
				asm.And.Imm32(asm.R1, ^acc),
				asm.JNE.Imm(asm.R1, 0, next))
		}
		if r.typ != 'a' && r.major >= 0 {
			block = append(block, asm.JNE.Imm(asm.R4, int32(r.major), next))
		}
		if r.typ != 'a' && r.minor >= 0 {
			block = append(block, asm.JNE.Imm(asm.R5, int32(r.minor), next))
		}
		verdict := int32(0)
		if r.allow {
			verdict = 1
		}
		block = append(block, asm.Mov.Imm32(asm.R0, verdict), asm.Return())
		if i > 0 {
			block[0] = block[0].WithSymbol(fmt.Sprintf("rule%d", i))
		}
		insns = append(insns, block...)
	}
	deny := asm.Instructions{asm.Mov.Imm32(asm.R0, 0), asm.Return()}
	if len(rules) > 0 {
		deny[0] = deny[0].WithSymbol(fmt.Sprintf("rule%d", len(rules)))
	}
	return append(insns, deny...), nil
}

// deviceProgram is the default rules' program, loaded once per process and
// attached to the cgroup of each step.
var deviceProgram = sync.OnceValues(func() (*ebpf.Program, error) {
	insns, err := deviceInstructions(defaultDeviceRules)
	if err != nil {
		return nil, err
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "bld_devices",
		Type:         ebpf.CGroupDevice,
		Instructions: insns,
		License:      "Apache-2.0",
	})
	if err != nil {
		return nil, fmt.Errorf("load device program: %w", err)
	}
	return p, nil
})

// attachDevicesV2 attaches the default rules' program to the v2 cgroup
// dir; closing the result detaches it.
func attachDevicesV2(dir string) (io.Closer, error) {
	p, err := deviceProgram()
	if err != nil {
		return nil, err
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: dir, Attach: ebpf.AttachCGroupDevice, Program: p})
	if err != nil {
		return nil, fmt.Errorf("attach device program to %s: %w", dir, err)
	}
	return l, nil
}

// setDevices applies the default device rules to the step, in each mode
// the host has: the v1 devices controller, and a device program on the v2
// hierarchy (on a hybrid host, both). made maps the hierarchies where the
// step has a directory already to it. A host with neither has no device
// control.
func (cg *cgroup) setDevices(hs []hierarchy, own map[string]string, name string, made map[string]string) error {
	dir := func(h *hierarchy, c string) (string, error) {
		if d, ok := made[h.mountpoint]; ok {
			return d, nil
		}
		d, err := cg.create(h, c, own, name)
		if err == nil {
			made[h.mountpoint] = d
		}
		return d, err
	}
	v1 := false
	if h := findHierarchy(hs, "devices"); h != nil && !h.v2 {
		d, err := dir(h, "devices")
		if err != nil {
			return err
		}
		if err := setDevicesV1(d, defaultDeviceRules); err != nil {
			return err
		}
		v1 = true
	}
	h := findV2(hs)
	if h == nil {
		return nil
	}
	d, err := dir(h, "")
	if err == nil {
		var l io.Closer
		if l, err = attachDevicesV2(d); err == nil {
			cg.detach = append(cg.detach, l)
		}
	}
	if err != nil && v1 {
		// The v1 rules hold: a kernel without cgroup BPF is no hole.
		return nil
	}
	return err
}

// findV2 returns the v2 hierarchy, preferring a mount of the whole of it.
func findV2(hs []hierarchy) *hierarchy {
	var found *hierarchy
	for i := range hs {
		if h := &hs[i]; h.v2 && (found == nil || (found.root != "/" && h.root == "/")) {
			found = h
		}
	}
	return found
}
