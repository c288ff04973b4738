package main

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestK8sJobManifest checks docs/k8s/bld-job.yaml, the Kubernetes Job the
// README shows (no cluster runs here): it parses, it is a batch/v1 Job whose
// bld container runs as uid 1000 with the profiles rootless bld needs, and
// its arguments are a bld build command line that bld's own flag parser
// accepts, so a renamed or misspelled flag fails here.
func TestK8sJobManifest(t *testing.T) {
	data, err := os.ReadFile("../../docs/k8s/bld-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Template struct {
				Spec struct {
					RestartPolicy   string `yaml:"restartPolicy"`
					SecurityContext struct {
						RunAsUser int `yaml:"runAsUser"`
					} `yaml:"securityContext"`
					Containers []struct {
						Name            string   `yaml:"name"`
						Image           string   `yaml:"image"`
						Args            []string `yaml:"args"`
						SecurityContext struct {
							RunAsUser                int  `yaml:"runAsUser"`
							AllowPrivilegeEscalation bool `yaml:"allowPrivilegeEscalation"`
							SeccompProfile           struct {
								Type string `yaml:"type"`
							} `yaml:"seccompProfile"`
							AppArmorProfile struct {
								Type string `yaml:"type"`
							} `yaml:"appArmorProfile"`
						} `yaml:"securityContext"`
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
					Volumes []struct {
						Name string `yaml:"name"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &job); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		t.Errorf("apiVersion/kind = %s/%s, want batch/v1 Job", job.APIVersion, job.Kind)
	}
	ps := job.Spec.Template.Spec
	if ps.RestartPolicy != "Never" && ps.RestartPolicy != "OnFailure" {
		t.Errorf("restartPolicy %q: a Job needs Never or OnFailure", ps.RestartPolicy)
	}
	if ps.SecurityContext.RunAsUser != 1000 {
		t.Errorf("pod runAsUser = %d, want 1000 (bld's image user)", ps.SecurityContext.RunAsUser)
	}
	volumes := map[string]bool{}
	for _, v := range ps.Volumes {
		volumes[v.Name] = true
	}
	var found bool
	for _, c := range ps.Containers {
		if c.Name != "bld" {
			continue
		}
		found = true
		sc := c.SecurityContext
		if sc.RunAsUser != 1000 || !sc.AllowPrivilegeEscalation || sc.SeccompProfile.Type != "Unconfined" || sc.AppArmorProfile.Type != "Unconfined" {
			t.Errorf("bld container securityContext %+v: want uid 1000, privilege escalation allowed (setuid newuidmap), seccomp and AppArmor Unconfined", sc)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("volumeMount %s: no such volume", m.Name)
			}
		}
		if len(c.Args) == 0 || c.Args[0] != "build" {
			t.Fatalf("args %q: want a bld build command line", c.Args)
		}
		cmd := newBuildCmd(&globalOptions{})
		if err := cmd.ParseFlags(c.Args[1:]); err != nil {
			t.Errorf("bld build %s: %v", strings.Join(c.Args[1:], " "), err)
		}
		if rest := cmd.Flags().Args(); len(rest) != 1 || rest[0] != "/workspace" {
			t.Errorf("bld build context = %q, want /workspace", rest)
		}
	}
	if !found {
		t.Error("no container named bld")
	}
}
