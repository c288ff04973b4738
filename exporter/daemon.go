package exporter

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultDockerSocket is where docker listens when DOCKER_HOST is unset.
const DefaultDockerSocket = "/var/run/docker.sock"

// DockerSocket returns the unix socket of the docker daemon --load talks
// to: DOCKER_HOST when it is unix://PATH, else DefaultDockerSocket. A
// DOCKER_HOST of another scheme (tcp://, ssh://) is an error: bld only
// loads over a local socket.
func DockerSocket() (string, error) {
	h := os.Getenv("DOCKER_HOST")
	if h == "" {
		return DefaultDockerSocket, nil
	}
	if p, ok := strings.CutPrefix(h, "unix://"); ok && p != "" {
		return p, nil
	}
	return "", fmt.Errorf("DOCKER_HOST=%s: bld loads only over a local unix:// socket", h)
}

// Engine is the container engine Daemon loads images into: the docker
// daemon at DockerSocket, or else podman's binary Podman.
type Engine struct {
	DockerSocket string
	Podman       string
}

// String names the engine: "docker at SOCKET" or "podman".
func (e Engine) String() string {
	if e.DockerSocket != "" {
		return "docker at " + e.DockerSocket
	}
	return "podman"
}

// FindEngine finds the engine --load loads into, as buildx --load does:
// the docker daemon at DockerSocket when it answers GET /_ping, else
// podman when it is installed. When neither runs it fails with one line
// saying so; a build calls it before it starts.
func FindEngine(ctx context.Context) (Engine, error) {
	sock, err := DockerSocket()
	if err != nil {
		return Engine{}, fmt.Errorf("--load: %w", err)
	}
	pingErr := dockerPing(ctx, dockerClient(sock))
	if pingErr == nil {
		return Engine{DockerSocket: sock}, nil
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		return Engine{}, fmt.Errorf("--load: no docker daemon answers at %s (%v) and podman is not installed", sock, pingErr)
	}
	return Engine{Podman: podman}, nil
}

// Daemon returns an Exporter that loads the image, named names, into e:
// a docker daemon gets it as a docker archive on POST /images/load,
// podman on the standard input of podman load.
func Daemon(e Engine, names []string) Exporter {
	return ExporterFunc(func(ctx context.Context, img v1.Image) error {
		if e.DockerSocket != "" {
			if err := dockerLoad(ctx, dockerClient(e.DockerSocket), img, names); err != nil {
				return fmt.Errorf("load into docker at %s: %w", e.DockerSocket, err)
			}
			return nil
		}
		if err := podmanLoad(ctx, e.Podman, img, names); err != nil {
			return fmt.Errorf("load into podman: %w", err)
		}
		return nil
	})
}

// dockerClient talks HTTP to the docker daemon over its unix socket.
func dockerClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// dockerPing is docker's liveness check; it gives up after 3 seconds.
func dockerPing(ctx context.Context, c *http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return op.Err
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /_ping: %s", resp.Status)
	}
	return nil
}

// dockerLoad streams the image as a docker archive to POST /images/load
// and reads the daemon's JSON message stream for an error.
func dockerLoad(ctx context.Context, c *http.Client, img v1.Image, names []string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeDocker(ctx, pw, img, names)) }()
	defer pr.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://docker/images/load?quiet=1", pr)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST /images/load: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	// The body is a stream of JSON messages; a failure is one with an
	// error field.
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("POST /images/load: reading the reply: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// podmanLoad pipes the image as a docker archive into podman load.
func podmanLoad(ctx context.Context, podman string, img v1.Image, names []string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeDocker(ctx, pw, img, names)) }()
	defer pr.Close()
	cmd := exec.CommandContext(ctx, podman, "load", "-q")
	cmd.Stdin = pr
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("podman load: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
