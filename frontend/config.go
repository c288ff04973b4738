package frontend

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// dispatchConfig applies an instruction that changes only the image config,
// recording it in the history as BuildKit does (ONBUILD is not recorded).
func dispatchConfig(s *stage, c instructions.Command) error {
	switch x := c.(type) {
	case *instructions.MaintainerCommand:
		s.author = x.Maintainer
		s.commit(nil, "MAINTAINER "+x.Maintainer)
	case *instructions.EnvCommand:
		msg := "ENV"
		for _, kv := range x.Env {
			msg += " " + kv.String()
			s.env.Set(kv.Key, kv.Value)
			s.cfg.Env = addEnv(s.cfg.Env, kv.Key, kv.Value)
		}
		s.commit(nil, msg)
	case *instructions.LabelCommand:
		msg := "LABEL"
		if s.cfg.Labels == nil {
			s.cfg.Labels = make(map[string]string, len(x.Labels))
		}
		for _, kv := range x.Labels {
			s.cfg.Labels[kv.Key] = kv.Value
			msg += " " + kv.String()
		}
		s.commit(nil, msg)
	case *instructions.OnbuildCommand:
		s.cfg.OnBuild = append(s.cfg.OnBuild, x.Expression)
	case *instructions.CmdCommand:
		dispatchCmd(s, x)
	case *instructions.EntrypointCommand:
		dispatchEntrypoint(s, x)
	case *instructions.HealthCheckCommand:
		dispatchHealthcheck(s, x)
	case *instructions.UserCommand:
		s.cfg.User = x.User
		s.commit(nil, "USER "+x.User)
	case *instructions.VolumeCommand:
		if s.cfg.Volumes == nil {
			s.cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range x.Volumes {
			if v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			s.cfg.Volumes[v] = struct{}{}
		}
		s.commit(nil, fmt.Sprintf("VOLUME %v", x.Volumes))
	case *instructions.StopSignalCommand:
		if err := checkSignal(x.Signal); err != nil {
			return err
		}
		s.cfg.StopSignal = x.Signal
		s.commit(nil, "STOPSIGNAL "+x.Signal)
	case *instructions.ShellCommand:
		s.cfg.Shell = slices.Clone(x.Shell)
		s.commit(nil, fmt.Sprintf("SHELL %v", x.Shell))
	default:
		return fmt.Errorf("unsupported instruction %s", strings.ToUpper(c.Name()))
	}
	return nil
}

// dispatchCmd sets CMD, wrapping the shell form in SHELL. BuildKit sets
// ArgsEscaped with every CMD.
func dispatchCmd(s *stage, x *instructions.CmdCommand) {
	args := x.CmdLine
	if x.PrependShell {
		args = withShell(s.cfg.Shell, args)
	}
	s.cfg.Cmd = args
	s.cfg.ArgsEscaped = true
	s.cmdSet = true
	s.commit(nil, fmt.Sprintf("CMD %q", args))
}

// dispatchEntrypoint sets ENTRYPOINT; it drops an inherited CMD unless this
// stage set one.
func dispatchEntrypoint(s *stage, x *instructions.EntrypointCommand) {
	args := x.CmdLine
	if x.PrependShell {
		args = withShell(s.cfg.Shell, args)
	}
	s.cfg.Entrypoint = args
	if !s.cmdSet {
		s.cfg.Cmd = nil
	}
	s.commit(nil, fmt.Sprintf("ENTRYPOINT %q", args))
}

// dispatchHealthcheck sets HEALTHCHECK. v1.HealthConfig has no
// StartInterval, so --start-interval reaches the history only.
func dispatchHealthcheck(s *stage, x *instructions.HealthCheckCommand) {
	h := x.Health
	if h == nil {
		h = &dockerspec.HealthcheckConfig{}
	}
	s.cfg.Healthcheck = &v1.HealthConfig{
		Test:        slices.Clone(h.Test),
		Interval:    h.Interval,
		Timeout:     h.Timeout,
		StartPeriod: h.StartPeriod,
		Retries:     h.Retries,
	}
	s.commit(nil, fmt.Sprintf("HEALTHCHECK %+v", *h))
}
