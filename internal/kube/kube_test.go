package kube_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/dagflow/dagflow/internal/kube"
	"github.com/dagflow/dagflow/internal/launch"
	"github.com/dagflow/dagflow/internal/provision"
)

const ns = "jobs"

// podEvents follows the fake API server's pod events.
type podEvents struct {
	t *testing.T
	w watch.Interface
}

func watchPods(t *testing.T, cs *fake.Clientset) *podEvents {
	t.Helper()
	w, err := cs.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return &podEvents{t: t, w: w}
}

// next awaits the next event and returns "ADDED name" or "DELETED name";
// status updates the test makes itself are skipped.
func (e *podEvents) next() (string, *corev1.Pod) {
	e.t.Helper()
	for {
		select {
		case ev := <-e.w.ResultChan():
			pod := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Modified {
				continue
			}
			return string(ev.Type) + " " + pod.Name, pod
		case <-time.After(20 * time.Second):
			e.t.Fatal("no pod event")
		}
	}
}

func (e *podEvents) expect(want ...string) []*corev1.Pod {
	e.t.Helper()
	var pods []*corev1.Pod
	for _, w := range want {
		got, pod := e.next()
		if got != w {
			e.t.Fatalf("pod event %q, want %q", got, w)
		}
		pods = append(pods, pod)
	}
	return pods
}

func setStatus(t *testing.T, cs *fake.Clientset, name string, st corev1.PodStatus) {
	t.Helper()
	pods := cs.CoreV1().Pods(ns)
	pod, err := pods.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = st
	if _, err := pods.UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func busy(names ...string) []provision.Worker {
	var ws []provision.Worker
	for _, n := range names {
		ws = append(ws, provision.Worker{Name: n, Slots: 2, Busy: true})
	}
	return ws
}

func TestNativeKubernetesPodLifecycle(t *testing.T) {
	cs := fake.NewClientset()
	events := watchPods(t, cs)
	owner, err := kube.OwnerFromEnv(getenv(map[string]string{"POD_NAME": "dagflow-master-0", "POD_UID": "uid-1"}))
	if err != nil {
		t.Fatal(err)
	}
	kl, err := kube.New(context.Background(), kube.Config{Client: cs, Namespace: ns, Image: "dagflow:test",
		Master: "dagflow-master-0.dagflow-master:7070", Slots: 2, Instance: "m1", Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	defer kl.Close()
	p, err := launch.New(launch.Config{Launcher: kl, Prefix: "m1-worker", SlotsPerWorker: 2, IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())

	// A job needs 4 slots: two pods, owned by the master's pod.
	p.Update(provision.Demand{Slots: 4})
	pods := events.expect("ADDED m1-worker-1", "ADDED m1-worker-2")
	for _, pod := range pods {
		if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Kind != "Pod" ||
			pod.OwnerReferences[0].Name != "dagflow-master-0" || pod.OwnerReferences[0].UID != "uid-1" {
			t.Fatalf("pod %s owner references %+v", pod.Name, pod.OwnerReferences)
		}
		if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || pod.Labels[kube.LabelMaster] != "m1" {
			t.Fatalf("pod %s: restart policy %q labels %v", pod.Name, pod.Spec.RestartPolicy, pod.Labels)
		}
		args := pod.Spec.Containers[0].Args
		if i := slices.Index(args, "--name"); i < 0 || args[i+1] != pod.Name {
			t.Fatalf("pod %s args %q lack --name %s", pod.Name, args, pod.Name)
		}
	}
	setStatus(t, cs, "m1-worker-1", corev1.PodStatus{Phase: corev1.PodRunning})
	p.Update(provision.Demand{Slots: 4, Workers: busy("m1-worker-1", "m1-worker-2")})

	// OOMKilled: the pod is deleted; once the master's failure detector
	// drops the worker, a new pod replaces it.
	setStatus(t, cs, "m1-worker-1", corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "worker", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}})
	events.expect("DELETED m1-worker-1")
	p.Update(provision.Demand{Slots: 4, Workers: busy("m1-worker-2")})
	events.expect("ADDED m1-worker-3")
	p.Update(provision.Demand{Slots: 4, Workers: busy("m1-worker-2", "m1-worker-3")})

	// Evicted.
	setStatus(t, cs, "m1-worker-2", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "node low on memory"})
	events.expect("DELETED m1-worker-2")
	p.Update(provision.Demand{Slots: 4, Workers: busy("m1-worker-3")})
	events.expect("ADDED m1-worker-4")
	p.Update(provision.Demand{Slots: 4, Workers: busy("m1-worker-3", "m1-worker-4")})

	// Deleted by someone else (kubectl delete pod).
	if err := cs.CoreV1().Pods(ns).Delete(context.Background(), "m1-worker-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	events.expect("DELETED m1-worker-3")
	p.Update(provision.Demand{Slots: 4, Workers: busy("m1-worker-4")})
	events.expect("ADDED m1-worker-5")

	// The job ends: the idle pods are deleted after the idle timeout.
	p.Update(provision.Demand{Workers: []provision.Worker{{Name: "m1-worker-4", Slots: 2}, {Name: "m1-worker-5", Slots: 2}}})
	got := []string{}
	for range 2 {
		ev, _ := events.next()
		got = append(got, ev)
	}
	slices.Sort(got)
	if want := []string{"DELETED m1-worker-4", "DELETED m1-worker-5"}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if s := p.Stats(); s.Launched != 5 || s.Lost != 3 || len(s.Running) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLauncherRelistsWhenWatchEnds(t *testing.T) {
	cs := fake.NewClientset()
	first := watch.NewFake()
	calls := 0
	cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		calls++
		if calls == 1 {
			return true, first, nil
		}
		return false, nil, nil
	})
	kl, err := kube.New(context.Background(), kube.Config{Client: cs, Namespace: ns, Image: "img", Master: "m:7070", Slots: 1, Instance: "m2"})
	if err != nil {
		t.Fatal(err)
	}
	defer kl.Close()
	exited := make(chan string, 1)
	if err := kl.Launch(context.Background(), "w-1", func(r string) { exited <- r }); err != nil {
		t.Fatal(err)
	}
	// The pod is deleted while the watch is down: the re-list notices.
	if err := cs.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), ns, "w-1"); err != nil {
		t.Fatal(err)
	}
	first.Stop()
	select {
	case r := <-exited:
		if r != "pod deleted" {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("deletion during a watch gap not reported")
	}
}

func TestNewAndOwnerErrors(t *testing.T) {
	cs := fake.NewClientset()
	good := kube.Config{Client: cs, Namespace: ns, Image: "img", Master: "m:7070", Slots: 1, Instance: "i"}
	for name, mut := range map[string]func(*kube.Config){
		"namespace": func(c *kube.Config) { c.Namespace = "" },
		"image":     func(c *kube.Config) { c.Image = "" },
		"master":    func(c *kube.Config) { c.Master = "" },
		"slots":     func(c *kube.Config) { c.Slots = 0 },
		"instance":  func(c *kube.Config) { c.Instance = "" },
	} {
		cfg := good
		mut(&cfg)
		if _, err := kube.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if o, err := kube.OwnerFromEnv(func(string) string { return "" }); o != nil || err != nil {
		t.Errorf("outside Kubernetes: %v %v", o, err)
	}
	if _, err := kube.OwnerFromEnv(getenv(map[string]string{"POD_NAME": "x"})); err == nil || !strings.Contains(err.Error(), "POD_UID") {
		t.Errorf("half the downward API: %v", err)
	}
}
