package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Labels every worker pod carries; LabelMaster holds Config.Instance.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelMaster    = "dagflow.io/master"
)

// Ports of the worker container.
const (
	WorkerGRPCPort = 7080
	WorkerHTTPPort = 7081
)

// DefaultResources are a worker pod's requests and limits unless
// configured: 1 CPU and 2 GiB of memory requested, the memory also the
// limit.
func DefaultResources() corev1.ResourceRequirements {
	mem := resource.MustParse("2Gi")
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: mem},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: mem},
	}
}

// Config configures a Launcher.
type Config struct {
	// Client talks to the API server (required).
	Client kubernetes.Interface
	// Namespace the pods are created in (required).
	Namespace string
	// Image is the worker image (required); its entrypoint is dagctl.
	Image string
	// PullPolicy is the image pull policy ("": Kubernetes' default).
	PullPolicy corev1.PullPolicy
	// Master is the HOST:PORT the workers register at (required).
	Master string
	// Slots is each worker's --slots (at least 1).
	Slots int
	// Instance names this master run in the label LabelMaster (required;
	// a valid label value): the launcher only watches and deletes pods
	// carrying it.
	Instance string
	// Owner, when set, becomes every pod's owner reference: deleting the
	// owner (the master's pod) deletes the workers.
	Owner *metav1.OwnerReference
	// ServiceAccount runs the worker pods ("": the namespace default).
	ServiceAccount string
	// Resources are the worker container's requests and limits (default
	// DefaultResources).
	Resources corev1.ResourceRequirements
	// Args are added to the worker's command line (e.g. --gossip-key).
	Args []string
	// Logger receives pod events (default slog.Default()).
	Logger *slog.Logger
}

// Launcher creates and deletes worker pods. It implements
// launch.Launcher.
type Launcher struct {
	cfg    Config
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	exited map[string]func(string)
}

// New checks cfg, starts watching the instance's pods and returns the
// launcher. The watch runs until Close.
func New(ctx context.Context, cfg Config) (*Launcher, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("kube: no Kubernetes client")
	case cfg.Namespace == "":
		return nil, errors.New("kube: no namespace (--namespace)")
	case cfg.Image == "":
		return nil, errors.New("kube: no worker image (--worker-image)")
	case cfg.Master == "":
		return nil, errors.New("kube: no master address for the workers (--advertise)")
	case cfg.Slots < 1:
		return nil, fmt.Errorf("kube: worker slots %d: must be at least 1", cfg.Slots)
	case cfg.Instance == "":
		return nil, errors.New("kube: no instance label")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Resources.Requests) == 0 && len(cfg.Resources.Limits) == 0 {
		cfg.Resources = DefaultResources()
	}
	l := &Launcher{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), exited: make(map[string]func(string))}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w, err := l.watch(wctx)
	if err != nil {
		cancel()
		return nil, err
	}
	l.cancel = cancel
	go l.run(wctx, w)
	return l, nil
}

// Close stops watching. It leaves the pods alone (the provider stops
// them; the owner reference removes them with the master).
func (l *Launcher) Close() {
	l.cancel()
	<-l.done
}

func (l *Launcher) selector() string {
	return labels.Set{LabelMaster: l.cfg.Instance}.String()
}

// watch lists the instance's pods (reporting tracked ones that are gone
// or ended) and starts a watch from the list's resource version.
func (l *Launcher) watch(ctx context.Context) (watch.Interface, error) {
	pods := l.cfg.Client.CoreV1().Pods(l.cfg.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: l.selector()})
	if err != nil {
		return nil, fmt.Errorf("kube: list worker pods in namespace %s: %w", l.cfg.Namespace, err)
	}
	seen := make(map[string]bool, len(list.Items))
	for i := range list.Items {
		seen[list.Items[i].Name] = true
		l.observe(&list.Items[i], false)
	}
	l.mu.Lock()
	var gone []string
	for name := range l.exited {
		if !seen[name] {
			gone = append(gone, name)
		}
	}
	l.mu.Unlock()
	for _, name := range gone {
		l.report(name, "pod deleted")
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: l.selector(), ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, fmt.Errorf("kube: watch worker pods in namespace %s: %w", l.cfg.Namespace, err)
	}
	return w, nil
}

// run follows the watch, and lists and watches again when the API server
// ends it.
func (l *Launcher) run(ctx context.Context, w watch.Interface) {
	defer close(l.done)
	defer func() { w.Stop() }()
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if ok {
				l.event(ev)
				continue
			}
		}
		w.Stop()
		for {
			var err error
			if w, err = l.watch(ctx); err == nil {
				backoff = time.Second
				break
			}
			w = watch.NewEmptyWatch()
			l.log.Warn("kube: watching worker pods failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}
}

func (l *Launcher) event(ev watch.Event) {
	pod, ok := ev.Object.(*corev1.Pod)
	if !ok {
		return
	}
	switch ev.Type {
	case watch.Added, watch.Modified:
		l.observe(pod, false)
	case watch.Deleted:
		l.observe(pod, true)
	}
}

// observe reports a tracked pod that is deleted, being deleted, or ended.
func (l *Launcher) observe(pod *corev1.Pod, deleted bool) {
	if reason, ended := podEnded(pod, deleted); ended {
		l.report(pod.Name, reason)
	}
}

// report calls the exit callback of a tracked pod once.
func (l *Launcher) report(name, reason string) {
	l.mu.Lock()
	fn := l.exited[name]
	delete(l.exited, name)
	l.mu.Unlock()
	if fn != nil {
		l.log.Warn("kube: worker pod ended", "pod", name, "reason", reason)
		fn(reason)
	}
}

// podEnded tells whether a worker pod is lost, and why: deleted or being
// deleted, evicted, OOM-killed, failed, or ended (restart policy Never:
// a worker pod that ends does not come back).
func podEnded(pod *corev1.Pod, deleted bool) (string, bool) {
	if deleted {
		return "pod deleted", true
	}
	if pod.DeletionTimestamp != nil {
		return "pod being deleted", true
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			if t.Reason == "OOMKilled" {
				return "container OOMKilled", true
			}
			if pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded {
				return fmt.Sprintf("container terminated: %s (exit code %d)", t.Reason, t.ExitCode), true
			}
		}
	}
	switch pod.Status.Phase {
	case corev1.PodFailed:
		if pod.Status.Reason == "Evicted" {
			return "pod evicted: " + pod.Status.Message, true
		}
		return "pod failed: " + pod.Status.Reason, true
	case corev1.PodSucceeded:
		return "pod ended", true
	}
	return "", false
}

// Launch implements launch.Launcher: it creates the worker pod.
func (l *Launcher) Launch(ctx context.Context, name string, exited func(reason string)) error {
	l.mu.Lock()
	l.exited[name] = exited
	l.mu.Unlock()
	if _, err := l.cfg.Client.CoreV1().Pods(l.cfg.Namespace).Create(ctx, l.Pod(name), metav1.CreateOptions{}); err != nil {
		l.mu.Lock()
		delete(l.exited, name)
		l.mu.Unlock()
		return fmt.Errorf("kube: create worker pod %s in namespace %s: %w", name, l.cfg.Namespace, err)
	}
	return nil
}

// Stop implements launch.Launcher: it deletes the worker pod.
func (l *Launcher) Stop(ctx context.Context, name string) error {
	l.mu.Lock()
	delete(l.exited, name)
	l.mu.Unlock()
	err := l.cfg.Client.CoreV1().Pods(l.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kube: delete worker pod %s in namespace %s: %w", name, l.cfg.Namespace, err)
	}
	return nil
}

// Pod returns the worker pod named name: restart policy Never (the
// master replaces lost workers itself), non-root with a read-only root
// filesystem, emptyDir volumes for the worker directory and /tmp, and
// probes on the worker's /healthz and /readyz.
func (l *Launcher) Pod(name string) *corev1.Pod {
	lbl := map[string]string{LabelName: "dagflow", LabelComponent: "worker", LabelManagedBy: "dagflow-master",
		LabelMaster: l.cfg.Instance}
	args := []string{"worker", "--master", l.cfg.Master, "--name", name, "--slots", strconv.Itoa(l.cfg.Slots),
		"--listen", "0.0.0.0:" + strconv.Itoa(WorkerGRPCPort), "--advertise", "$(POD_IP):" + strconv.Itoa(WorkerGRPCPort),
		"--http", "0.0.0.0:" + strconv.Itoa(WorkerHTTPPort), "--dir", "/data"}
	args = append(args, l.cfg.Args...)
	nonRoot, no, uid := true, false, int64(65532)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: l.cfg.Namespace, Labels: maps.Clone(lbl)},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: l.cfg.ServiceAccount,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &nonRoot, RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name:            "worker",
				Image:           l.cfg.Image,
				ImagePullPolicy: l.cfg.PullPolicy,
				Args:            args,
				Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
				Ports: []corev1.ContainerPort{{Name: "grpc", ContainerPort: WorkerGRPCPort},
					{Name: "http", ContainerPort: WorkerHTTPPort}},
				Resources: l.cfg.Resources,
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 10, FailureThreshold: 3},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: "/readyz", Port: intstr.FromString("http")}}, PeriodSeconds: 5},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &nonRoot,
					RunAsNonRoot: &nonRoot, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "tmp", MountPath: "/tmp"}},
			}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	if l.cfg.Owner != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*l.cfg.Owner}
	}
	return pod
}

// OwnerFromEnv returns the owner reference to the master's own pod from
// the downward API variables POD_NAME and POD_UID (getenv is os.Getenv),
// or nil when neither is set (the master runs outside Kubernetes).
func OwnerFromEnv(getenv func(string) string) (*metav1.OwnerReference, error) {
	name, uid := getenv("POD_NAME"), getenv("POD_UID")
	if name == "" && uid == "" {
		return nil, nil
	}
	if name == "" || uid == "" {
		return nil, fmt.Errorf("kube: POD_NAME %q and POD_UID %q: set both from the downward API (metadata.name, metadata.uid) or neither", name, uid)
	}
	return &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID(uid)}, nil
}
