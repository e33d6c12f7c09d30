package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/dagflow/dagflow/internal/kube"
)

// The tests in this file check the deployment files of deploy/: every
// Kubernetes manifest decodes strictly into its k8s.io/api type, the
// workloads follow the rules of docs/deploy.md, and the daemons' command
// lines parse with dagctl's own flag definitions.

// kustomization is the part of kustomize's format the manifests use:
// lists of resources (files or directories with a kustomization.yaml).
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// object is one decoded manifest and where it came from.
type object struct {
	where string
	obj   any
}

// newObject returns the typed object for a manifest's apiVersion and kind.
func newObject(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, true
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}, true
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "rbac.authorization.k8s.io/v1 Role":
		return &rbacv1.Role{}, true
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return &rbacv1.RoleBinding{}, true
	}
	return nil, false
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// render reads a kustomization directory like kustomize build does for
// plain resource lists, decoding every document strictly.
func render(t *testing.T, dir string) []object {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	if k.Kind != "Kustomization" || len(k.Resources) == 0 {
		t.Fatalf("%s/kustomization.yaml: kind %q, %d resources", dir, k.Kind, len(k.Resources))
	}
	var out []object
	for _, r := range k.Resources {
		path := filepath.Join(dir, r)
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			out = append(out, render(t, path)...)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: resource %s: %v", dir, r, err)
		}
		for i, doc := range docSep.Split(string(data), -1) {
			if strings.TrimSpace(stripYAMLComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("%s#%d", path, i)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			obj, ok := newObject(tm.APIVersion, tm.Kind)
			if !ok {
				t.Fatalf("%s: unexpected %s %s", where, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: %s %s: %v", where, tm.APIVersion, tm.Kind, err)
			}
			out = append(out, object{where, obj})
		}
	}
	return out
}

func stripYAMLComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// workload is a pod template with what selects it.
type workload struct {
	where    string
	selector *metav1.LabelSelector
	tmpl     corev1.PodTemplateSpec
}

// parsedArgs parses a daemon's container args with dagctl's command
// definitions, the ConfigMap's file of --config layered under them.
func parsedArgs(t *testing.T, where string, args []string, configs map[string]string) (*cobra.Command, *pflag.FlagSet) {
	t.Helper()
	root := newRoot(&app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Fatalf("%s: args %q name no dagctl verb: %v", where, args, err)
	}
	// Kubernetes expands $(VAR); any value stands in for the test.
	expanded := make([]string, len(rest))
	for i, a := range rest {
		expanded[i] = regexp.MustCompile(`\$\([A-Z_]+\)`).ReplaceAllString(a, "x")
	}
	fs := cmd.Flags()
	fs.AddFlagSet(root.PersistentFlags())
	if err := fs.Parse(expanded); err != nil {
		t.Fatalf("%s: %s %q: %v", where, cmd.Name(), rest, err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("%s: %s: stray arguments %q", where, cmd.Name(), fs.Args())
	}
	if path, _ := fs.GetString("config"); path != "" {
		content, ok := configs[path]
		if !ok {
			t.Fatalf("%s: --config %s is no file of the mounted ConfigMap", where, path)
		}
		file := filepath.Join(t.TempDir(), "config.yaml")
		os.WriteFile(file, []byte(content), 0o600)
		if _, err := applyLayers(fs, func(string) (string, bool) { return "", false }, file, cmd.Name()); err != nil {
			t.Fatalf("%s: %s: %v", where, path, err)
		}
	}
	return cmd, fs
}

// portOf returns the port of a HOST:PORT flag.
func portOf(t *testing.T, where string, fs *pflag.FlagSet, flag string) int32 {
	t.Helper()
	v, _ := fs.GetString(flag)
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		t.Fatalf("%s: --%s %q: %v", where, flag, v, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("%s: --%s %q: %v", where, flag, v, err)
	}
	return int32(p)
}

// checkPod checks one pod template: the rules every dagflow pod follows.
func checkPod(t *testing.T, where string, spec corev1.PodSpec, configs map[string]string) map[string]*pflag.FlagSet {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: the pod must run as a non-root user: %+v", where, psc)
	}
	mounts := map[string]string{}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			mounts[v.Name] = v.ConfigMap.Name
		}
	}
	flags := map[string]*pflag.FlagSet{}
	for _, c := range spec.Containers {
		cw := where + " container " + c.Name
		if c.Image == "" {
			t.Errorf("%s: no image", cw)
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: want a read-only root filesystem, no privilege escalation, all capabilities dropped: %+v", cw, sc)
		}
		if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s: runs as root", cw)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
				t.Errorf("%s: no %s request", cw, r)
			}
		}
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
			t.Errorf("%s: no memory limit", cw)
		}
		writable := map[string]bool{}
		for _, m := range c.VolumeMounts {
			writable[m.MountPath] = !m.ReadOnly
		}
		if !writable["/tmp"] {
			t.Errorf("%s: the root filesystem is read-only but /tmp is no writable volume", cw)
		}
		// Files of mounted ConfigMaps, by path, for --config.
		files := map[string]string{}
		for _, m := range c.VolumeMounts {
			if cm, ok := mounts[m.Name]; ok {
				for name, content := range configs {
					if strings.HasPrefix(name, cm+"/") {
						files[filepath.Join(m.MountPath, strings.TrimPrefix(name, cm+"/"))] = content
					}
				}
			}
		}
		cmd, fs := parsedArgs(t, cw, c.Args, files)
		flags[c.Name] = fs
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if want := portOf(t, cw, fs, "listen"); ports["grpc"] != want {
			t.Errorf("%s: container port grpc %d, but %s --listen port %d", cw, ports["grpc"], cmd.Name(), want)
		}
		httpPort := portOf(t, cw, fs, "http")
		if ports["http"] != httpPort {
			t.Errorf("%s: container port http %d, but %s --http port %d", cw, ports["http"], cmd.Name(), httpPort)
		}
		for name, probe := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != name {
				t.Errorf("%s: want an HTTP probe of %s", cw, name)
				continue
			}
			port := probe.HTTPGet.Port
			if port.Type == intstr.String {
				port = intstr.FromInt32(ports[port.StrVal])
			}
			if port.IntVal != httpPort {
				t.Errorf("%s: probe %s on port %s, but --http serves %d", cw, name, probe.HTTPGet.Port.String(), httpPort)
			}
		}
		if dir, _ := fs.GetString("dir"); dir != "" && !underWritable(dir, writable) {
			t.Errorf("%s: --dir %s is on no writable volume", cw, dir)
		}
	}
	return flags
}

func underWritable(dir string, writable map[string]bool) bool {
	for m, w := range writable {
		if w && (dir == m || strings.HasPrefix(dir, m+"/")) {
			return true
		}
	}
	return false
}

func TestKubernetesManifests(t *testing.T) {
	for _, dir := range []string{"base", "native"} {
		t.Run(dir, func(t *testing.T) {
			objs := render(t, filepath.Join("..", "..", "deploy", "kubernetes", dir))
			configs := map[string]string{}
			var workloads []workload
			var services []*corev1.Service
			var pdbs []*policyv1.PodDisruptionBudget
			roles := map[string]*rbacv1.Role{}
			var bindings []*rbacv1.RoleBinding
			serviceAccounts := map[string]bool{}
			var hostPath, pvc, native bool
			for _, o := range objs {
				switch x := o.obj.(type) {
				case *corev1.ConfigMap:
					for k, v := range x.Data {
						configs[x.Name+"/"+k] = v
					}
				case *corev1.ServiceAccount:
					serviceAccounts[x.Name] = true
				case *appsv1.StatefulSet:
					workloads = append(workloads, workload{o.where, x.Spec.Selector, x.Spec.Template})
					pvc = pvc || len(x.Spec.VolumeClaimTemplates) > 0
					found := false
					for _, s := range objs {
						if svc, ok := s.obj.(*corev1.Service); ok && svc.Name == x.Spec.ServiceName {
							found = true
						}
					}
					if !found {
						t.Errorf("%s: serviceName %q is no service", o.where, x.Spec.ServiceName)
					}
				case *appsv1.Deployment:
					workloads = append(workloads, workload{o.where, x.Spec.Selector, x.Spec.Template})
				case *appsv1.DaemonSet:
					workloads = append(workloads, workload{o.where, x.Spec.Selector, x.Spec.Template})
					for _, v := range x.Spec.Template.Spec.Volumes {
						hostPath = hostPath || v.HostPath != nil
					}
				case *corev1.Service:
					services = append(services, x)
				case *policyv1.PodDisruptionBudget:
					pdbs = append(pdbs, x)
				case *rbacv1.Role:
					roles[x.Name] = x
				case *rbacv1.RoleBinding:
					bindings = append(bindings, x)
				}
			}
			if len(workloads) == 0 || len(services) == 0 || len(pdbs) == 0 || len(configs) == 0 {
				t.Fatalf("want workloads, services, disruption budgets and a ConfigMap; got %d, %d, %d, %d",
					len(workloads), len(services), len(pdbs), len(configs))
			}
			for _, w := range workloads {
				sel, err := metav1.LabelSelectorAsSelector(w.selector)
				if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.tmpl.Labels)) {
					t.Errorf("%s: selector %v does not match the template's labels %v (%v)", w.where, w.selector, w.tmpl.Labels, err)
				}
				if sa := w.tmpl.Spec.ServiceAccountName; sa != "" && !serviceAccounts[sa] {
					t.Errorf("%s: service account %q is not defined", w.where, sa)
				}
				flags := checkPod(t, w.where, w.tmpl.Spec, configs)
				if fs := flags["master"]; fs != nil {
					if k, _ := fs.GetBool("kubernetes"); k {
						native = true
						checkNativeMaster(t, w, fs, roles, bindings)
					}
				}
			}
			for _, s := range services {
				matched := false
				for _, w := range workloads {
					if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.tmpl.Labels)) {
						matched = true
						names := map[string]bool{}
						for _, c := range w.tmpl.Spec.Containers {
							for _, p := range c.Ports {
								names[p.Name] = true
							}
						}
						for _, p := range s.Spec.Ports {
							if p.TargetPort.Type == intstr.String && !names[p.TargetPort.StrVal] {
								t.Errorf("service %s: target port %q is no container port of %s", s.Name, p.TargetPort.StrVal, w.where)
							}
						}
					}
				}
				if !matched {
					t.Errorf("service %s: selector %v matches no workload", s.Name, s.Spec.Selector)
				}
			}
			for _, p := range pdbs {
				sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
				matched := false
				for _, w := range workloads {
					matched = matched || (err == nil && sel.Matches(labels.Set(w.tmpl.Labels)))
				}
				if !matched {
					t.Errorf("disruption budget %s matches no workload", p.Name)
				}
			}
			if !pvc {
				t.Error("the master keeps no PersistentVolumeClaim")
			}
			if dir == "base" && !hostPath {
				t.Error("the shuffle daemons use no hostPath")
			}
			if (dir == "native") != native {
				t.Errorf("native master present: %v", native)
			}
		})
	}
}

// checkNativeMaster checks the master of native mode: the downward API
// variables naming its pod, and RBAC letting it manage pods.
func checkNativeMaster(t *testing.T, w workload, fs *pflag.FlagSet, roles map[string]*rbacv1.Role, bindings []*rbacv1.RoleBinding) {
	t.Helper()
	if img, _ := fs.GetString("worker-image"); img == "" {
		t.Errorf("%s: --kubernetes without --worker-image", w.where)
	}
	env := map[string]string{}
	for _, c := range w.tmpl.Spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				env[e.Name] = e.ValueFrom.FieldRef.FieldPath
			}
		}
	}
	if env["POD_NAME"] != "metadata.name" || env["POD_UID"] != "metadata.uid" {
		t.Errorf("%s: POD_NAME and POD_UID must come from the downward API (the workers' owner): %v", w.where, env)
	}
	sa := w.tmpl.Spec.ServiceAccountName
	verbs := map[string]bool{}
	for _, b := range bindings {
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == sa && b.RoleRef.Kind == "Role" {
				if r := roles[b.RoleRef.Name]; r != nil {
					for _, rule := range r.Rules {
						if slices.Contains(rule.Resources, "pods") && slices.Contains(rule.APIGroups, "") {
							for _, v := range rule.Verbs {
								verbs[v] = true
							}
						}
					}
				}
			}
		}
	}
	for _, v := range []string{"create", "delete", "list", "watch"} {
		if !verbs[v] {
			t.Errorf("%s: service account %q may not %s pods", w.where, sa, v)
		}
	}
}

// TestNativeWorkerPod checks the pod the native master creates for a
// worker against the same rules, its args parsed by the worker command.
func TestNativeWorkerPod(t *testing.T) {
	kl, err := kube.New(t.Context(), kube.Config{Client: fake.NewClientset(), Namespace: "dagflow", Image: "dagflow",
		Master: "10.0.0.1:7070", Slots: 3, Instance: "abc", Args: []string{"--insecure", "--failure-timeout", "5s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer kl.Close()
	pod := kl.Pod("m-worker-abc-1")
	flags := checkPod(t, "worker pod", pod.Spec, nil)
	fs := flags["worker"]
	if fs == nil {
		t.Fatal("no worker container")
	}
	for flag, want := range map[string]string{"name": "m-worker-abc-1", "master": "10.0.0.1:7070", "slots": "3"} {
		if got := fs.Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s %q, want %q", flag, got, want)
		}
	}
}

// unitFile reads a systemd unit's keys (a key given twice keeps both
// values, joined by a space).
func unitFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: line %q is no KEY=VALUE", path, l)
		}
		keys[k] = strings.TrimSpace(keys[k] + " " + v)
	}
	return keys
}

// TestSystemdUnits checks the units of deploy/systemd: hardening, an
// environment file and a restart policy; ExecStart, the environment file
// and the config file parse with dagctl's own flags; --dir is writable;
// and systemd-analyze verify accepts them.
func TestSystemdUnits(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "systemd")
	verifyDir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, daemon := range []string{"master", "worker", "shuffle"} {
		path := filepath.Join(dir, "dagflow-"+daemon+".service")
		u := unitFile(t, path)
		if u["User"] == "" && u["DynamicUser"] != "yes" {
			t.Errorf("%s: no User= or DynamicUser=yes", path)
		}
		for k, want := range map[string]string{"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
			"Restart": "on-failure", "EnvironmentFile": "-/etc/dagflow/" + daemon + ".env"} {
			if u[k] != want {
				t.Errorf("%s: %s=%q, want %q", path, k, u[k], want)
			}
		}
		execStart := strings.Fields(u["ExecStart"])
		if len(execStart) < 2 || execStart[0] != "/usr/local/bin/dagctl" || execStart[1] != daemon {
			t.Fatalf("%s: ExecStart %q does not run dagctl %s", path, u["ExecStart"], daemon)
		}
		config, err := os.ReadFile(filepath.Join(dir, daemon+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		cmd, fs := parsedArgs(t, path, execStart[1:], map[string]string{"/etc/dagflow/" + daemon + ".yaml": string(config)})
		// The example environment file sets flags of this daemon only.
		envData, err := os.ReadFile(filepath.Join(dir, daemon+".env"))
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, l := range strings.Split(string(envData), "\n") {
			if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			k, v, _ := strings.Cut(l, "=")
			known := false
			fs.VisitAll(func(f *pflag.Flag) { known = known || envName(f.Name) == k })
			if !known {
				t.Errorf("%s.env: %s is no flag of dagctl %s", daemon, k, cmd.Name())
			}
			env[k] = v
		}
		if _, err := applyLayers(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, "", cmd.Name()); err != nil {
			t.Errorf("%s.env: %v", daemon, err)
		}
		d, _ := fs.GetString("dir")
		rw := map[string]bool{}
		for _, p := range strings.Fields(u["ReadWritePaths"]) {
			rw[p] = true
		}
		if !underWritable(d, rw) {
			t.Errorf("%s: --dir %s is not under ReadWritePaths=%s", path, d, u["ReadWritePaths"])
		}
		if sd, _ := fs.GetString("shuffle-dir"); sd != "" && !underWritable(sd, rw) {
			t.Errorf("%s: --shuffle-dir %s is not under ReadWritePaths=%s", path, sd, u["ReadWritePaths"])
		}
		// systemd-analyze verify wants the binary to exist.
		data, _ := os.ReadFile(path)
		out := filepath.Join(verifyDir, filepath.Base(path))
		os.WriteFile(out, bytes.ReplaceAll(data, []byte("/usr/local/bin/dagctl"), []byte(self)), 0o644)
		units = append(units, out)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is not installed (CI installs systemd)")
		}
		t.Skip("systemd-analyze is not installed")
	}
	out, err := exec.Command(analyze, append([]string{"verify", "--man=no"}, units...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
