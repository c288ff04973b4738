package sandbox

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bldbuild/bld/sandbox/internal/stepinit"
)

// receive gets each message whole, whatever its size (the buffer is sized
// by a peek at the next one), with the descriptors sent along, and ends
// when the init's end is closed.
func TestReceive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		errors []int // sizes of the Error of each message
	}{
		{"none", nil},
		{"one small", []int{10}},
		{"growing", []int{10, 5000, 150 << 10}},
		{"shrinking", []int{150 << 10, 10, 0}},
		{"many", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[0])
			var want []message
			for i, size := range tc.errors {
				want = append(want, message{Error: strings.Repeat("x", size), Placeholders: []stepinit.Placeholder{{Name: strconv.Itoa(i)}}})
			}
			dir := t.TempDir()
			sent := make(chan error, 1)
			go func() { // the socket holds less than the largest messages together
				err := send(fds[1], want, dir)
				unix.Close(fds[1])
				sent <- err
			}()
			got := receive(fds[0])
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d messages, want %d", len(got), len(want))
			}
			for i := range got {
				ph := got[i].Placeholders
				if got[i].Error != want[i].Error || len(ph) != 1 || ph[0].Name != strconv.Itoa(i) {
					t.Errorf("message %d: error of %d bytes, placeholders %+v; want %d bytes, placeholder %d", i, len(got[i].Error), ph, len(want[i].Error), i)
					continue
				}
				var st unix.Stat_t
				if err := unix.Fstat(ph[0].Parent, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
					t.Errorf("message %d: parent descriptor %d: %v", i, ph[0].Parent, err)
				}
				unix.Close(ph[0].Parent)
			}
		})
	}
}

// send sends each of ms as the init does, with a descriptor of dir.
func send(sock int, ms []message, dir string) error {
	for _, m := range ms {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		err = unix.Sendmsg(sock, b, unix.UnixRights(fd), nil, 0)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	return nil
}
