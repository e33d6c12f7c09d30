package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dagflow/dagflow/internal/kube"
	"github.com/dagflow/dagflow/internal/launch"
	"github.com/dagflow/dagflow/internal/provision"
)

// provisionOptions are the master's flags for an active resource manager:
// native Kubernetes (--kubernetes) or local worker processes
// (--local-workers, hidden: the tests' stand-in for pods).
type provisionOptions struct {
	kubernetes, localWorkers                              bool
	namespace, image, pullPolicy, kubeconfig, serviceAcct string
	workerCPU, workerMemory                               string
	workerSlots, maxWorkers                               int
	idleTimeout                                           time.Duration
}

func addProvisionFlags(f *pflag.FlagSet, o *provisionOptions) {
	f.BoolVar(&o.kubernetes, "kubernetes", false, "native Kubernetes: create worker pods when jobs need slots and delete idle ones (see docs/deploy.md)")
	f.StringVar(&o.namespace, "namespace", "", "Kubernetes namespace of the worker pods (default: the master pod's own)")
	f.StringVar(&o.image, "worker-image", "", "container image of the worker pods (with --kubernetes)")
	f.StringVar(&o.pullPolicy, "worker-image-pull-policy", "", "Always, IfNotPresent or Never (default: Kubernetes' default)")
	f.StringVar(&o.serviceAcct, "worker-service-account", "", "service account of the worker pods (default: the namespace's default)")
	f.StringVar(&o.workerCPU, "worker-cpu", "1", "CPU request of a worker pod")
	f.StringVar(&o.workerMemory, "worker-memory", "2Gi", "memory request and limit of a worker pod")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file when the master runs outside the cluster (default: in-cluster configuration)")
	f.IntVar(&o.workerSlots, "worker-slots", 4, "slots of each worker started on demand")
	f.IntVar(&o.maxWorkers, "max-workers", 0, "most workers started on demand at once (0: no limit)")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 5*time.Minute, "stop a worker started on demand after it was idle this long (0: never)")
	f.BoolVar(&o.localWorkers, "local-workers", false, "start workers on demand as local processes (tests and single machines)")
	f.MarkHidden("local-workers")
}

// check validates the flags; advertise is the address workers register at.
func (o provisionOptions) check() error {
	if !o.kubernetes && !o.localWorkers {
		return nil
	}
	if o.kubernetes && o.localWorkers {
		return usageErrorf("--kubernetes and --local-workers exclude each other")
	}
	if o.workerSlots < 1 {
		return usageErrorf("--worker-slots %d: must be at least 1", o.workerSlots)
	}
	if o.maxWorkers < 0 || o.idleTimeout < 0 {
		return usageErrorf("--max-workers and --idle-timeout must not be negative")
	}
	if o.kubernetes {
		if o.image == "" {
			return usageErrorf("--kubernetes needs --worker-image IMAGE")
		}
		switch corev1.PullPolicy(o.pullPolicy) {
		case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		default:
			return usageErrorf("--worker-image-pull-policy %q: want Always, IfNotPresent or Never", o.pullPolicy)
		}
		for flag, v := range map[string]string{"--worker-cpu": o.workerCPU, "--worker-memory": o.workerMemory} {
			if _, err := resource.ParseQuantity(v); err != nil {
				return usageErrorf("%s %q: %v", flag, v, err)
			}
		}
	}
	return nil
}

// workerMaster is the address on-demand workers register at: --advertise,
// else --listen unless it is a wildcard or has no fixed port.
func workerMaster(listen, advertise string) (string, error) {
	if advertise != "" {
		return advertise, nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", usageErrorf("--listen %q: %v", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || port == "0" || (ip != nil && ip.IsUnspecified()) {
		return "", usageErrorf("--listen %s: workers started on demand need an address they can reach: pass --advertise HOST:PORT", listen)
	}
	return listen, nil
}

// instanceID is a short random label value naming this master run.
func instanceID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// start builds the provider the flags ask for (nil, nil without one).
// master is the address workers register at; extra are worker flags
// (e.g. --failure-timeout); dir is the master's directory.
func (o provisionOptions) start(ctx context.Context, log *slog.Logger, master string, extra []string, dir string, stderr io.Writer) (provision.Provider, func(), error) {
	if !o.kubernetes && !o.localWorkers {
		return nil, func() {}, nil
	}
	id := instanceID()
	cfg := launch.Config{SlotsPerWorker: o.workerSlots, MaxWorkers: o.maxWorkers, IdleTimeout: o.idleTimeout, Logger: log}
	cleanup := func() {}
	if o.localWorkers {
		self, err := os.Executable()
		if err != nil {
			return nil, nil, failed(err)
		}
		args := append([]string{"worker", "--master", master, "--slots", strconv.Itoa(o.workerSlots), "--listen", "127.0.0.1:0"}, extra...)
		cfg.Launcher = &launch.Local{Path: self, Args: args, Dir: filepath.Join(dir, "workers"), Env: childEnv(os.Environ()), Output: stderr}
		cfg.Prefix = "local-" + id
	} else {
		client, ns, err := o.kubeClient()
		if err != nil {
			return nil, nil, err
		}
		owner, err := kube.OwnerFromEnv(os.Getenv)
		if err != nil {
			return nil, nil, usageErrorf("%v", err)
		}
		res := corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(o.workerCPU), corev1.ResourceMemory: resource.MustParse(o.workerMemory)},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(o.workerMemory)},
		}
		// The worker serves /healthz and /readyz on the pod network for
		// the kubelet's probes: plain HTTP, so --insecure.
		kl, err := kube.New(ctx, kube.Config{Client: client, Namespace: ns, Image: o.image, PullPolicy: corev1.PullPolicy(o.pullPolicy),
			Master: master, Slots: o.workerSlots, Instance: id, Owner: owner, ServiceAccount: o.serviceAcct, Resources: res,
			Args: append([]string{"--insecure"}, extra...), Logger: log})
		if err != nil {
			return nil, nil, failed(err)
		}
		cleanup = kl.Close
		prefix := "dagflow-worker"
		if owner != nil {
			prefix = owner.Name + "-worker"
		}
		cfg.Launcher, cfg.Prefix = kl, prefix+"-"+id
		log.Info("native Kubernetes: worker pods on demand", "namespace", ns, "image", o.image, "owner", owner != nil)
	}
	p, err := launch.New(cfg)
	if err != nil {
		cleanup()
		return nil, nil, failed(err)
	}
	return p, cleanup, nil
}

// kubeClient connects to the API server: --kubeconfig, else the in-cluster
// service account. The namespace is --namespace, else the service
// account's.
func (o provisionOptions) kubeClient() (kubernetes.Interface, string, error) {
	var cfg *rest.Config
	var err error
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, "", failedf("kubernetes: %w (outside a cluster, pass --kubeconfig)", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, "", failedf("kubernetes: %w", err)
	}
	ns := o.namespace
	if ns == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return nil, "", usageErrorf("--namespace: none given and not in a pod (%v)", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	return client, ns, nil
}

// stopProvider closes p (if any) with a bound on the time it takes.
func stopProvider(p provision.Provider, log *slog.Logger) {
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		log.Warn("stop on-demand workers", "err", fmt.Sprint(err))
	}
}

// startProvider checks the provisioning flags and starts the provider
// they ask for: its workers register at the master's advertised address
// and gossip with the master's failure timeout.
func (o masterOptions) startProvider(ctx context.Context, a *app, dir string) (provision.Provider, func(), error) {
	if !o.prov.kubernetes && !o.prov.localWorkers {
		return nil, func() {}, nil
	}
	if err := o.prov.check(); err != nil {
		return nil, nil, err
	}
	if o.sec.cert != "" || o.sec.gossipKey != "" || o.sec.gossipKeyFile != "" {
		return nil, nil, usageErrorf("workers started on demand do not support TLS, --gossip-key or --gossip-key-file yet: run the master without them, or start workers yourself")
	}
	addr, err := workerMaster(o.listen, o.advertise)
	if err != nil {
		return nil, nil, err
	}
	extra := []string{"--failure-timeout", o.failureTimeout.String(), "--log-level", a.logLevel, "--log-format", a.logFormat}
	return o.prov.start(ctx, a.log, addr, extra, dir, a.stderr)
}
