package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Object names and labels of the Kubernetes manifests.
const (
	K8sServer      = "iobench-server"      // the server agent's Pod and its headless Service
	K8sLoad        = "iobench-load"        // the load agents' Indexed Job and its headless Service
	K8sCoordinator = "iobench-coordinator" // the coordinator Job
	K8sSecret      = "iobench-token"       // the Secret holding the token (key "token")
	K8sSecretKey   = "token"

	LabelName            = "app.kubernetes.io/name"
	LabelComponent       = "app.kubernetes.io/component"
	ComponentServer      = "server-agent"
	ComponentLoad        = "load-agent"
	ComponentCoordinator = "coordinator"

	// HostnameKey is the topology key of the anti-affinity: one node.
	HostnameKey = "kubernetes.io/hostname"
)

// K8sOptions adds what only the Kubernetes manifests have.
type K8sOptions struct {
	Options
	Namespace  string // metadata.namespace of every object ("" = kubectl's current one)
	Secret     string // an existing Secret (key "token") to use; "" prints one with a fresh random token
	ResultsPVC string // PersistentVolumeClaim for the results folder ("" = an emptyDir; the report is printed to the log)
	Deadline   int    // activeDeadlineSeconds of the Jobs: agents serve until then (default 2 h)
}

func roleLabels(component string) map[string]string {
	return map[string]string{LabelName: "iobench", LabelComponent: component}
}

// K8s builds the objects, in the order kubectl should create them: Secret, Services, server
// Pod, load Job, coordinator Job.
//
//   - Every container requests exactly what it is limited to, in whole cores, so the pods are
//     in the Guaranteed QoS class, and under the kubelet's static CPU manager policy they get
//     exclusive cores: the agents' pinning of serve children and load shards then holds.
//   - The load agents are an Indexed Job (completions = parallelism = loaders) whose pods,
//     through the headless Service iobench-load (their subdomain), are named
//     iobench-load-<i>.iobench-load; the coordinator lists them in index order, so
//     JOB_COMPLETION_INDEX i is shard i of the load.
//   - Required pod anti-affinity on kubernetes.io/hostname keeps load agents off the server
//     agent's node (stated on both sides); load agents prefer distinct nodes.
func K8s(o K8sOptions) ([]runtime.Object, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Netem != "" {
		return nil, fmt.Errorf("--netem: a pod's links are the cluster network's; emulate a WAN there (e.g. tc netem on the nodes), not from the manifests")
	}
	if o.Deadline == 0 {
		o.Deadline = 7200
	}
	if o.Deadline < 60 {
		return nil, fmt.Errorf("--deadline %d s: under a minute no suite completes", o.Deadline)
	}
	var objs []runtime.Object
	secret := o.Secret
	if secret == "" {
		tok := make([]byte, 32)
		if _, err := rand.Read(tok); err != nil {
			return nil, err
		}
		secret = K8sSecret
		objs = append(objs, &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: o.meta(K8sSecret, roleLabels("token")),
			Type:       corev1.SecretTypeOpaque,
			StringData: map[string]string{K8sSecretKey: hex.EncodeToString(tok)},
		})
	}
	port := int32(o.Port)
	objs = append(objs, o.headless(K8sServer, ComponentServer, port), o.headless(K8sLoad, ComponentLoad, port))

	agent := o.container("agent", secret, o.ServerCPUs, o.agentArgs())
	agent.Ports = []corev1.ContainerPort{{Name: "agent", ContainerPort: port}}
	agent.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}}, PeriodSeconds: 2}
	objs = append(objs, &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: o.meta(K8sServer, roleLabels(ComponentServer)),
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, // a restarted server mid-suite is another run
			Containers:    []corev1.Container{agent},
			Affinity:      antiAffinity(ComponentLoad, ""),
		},
	})

	loader := o.container("agent", secret, o.LoaderCPUs, o.agentArgs())
	loader.Ports = agent.Ports
	loader.ReadinessProbe = agent.ReadinessProbe
	n := int32(o.Loaders)
	indexed := batchv1.IndexedCompletion
	deadline := int64(o.Deadline)
	objs = append(objs, &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: o.meta(K8sLoad, roleLabels(ComponentLoad)),
		Spec: batchv1.JobSpec{
			CompletionMode: &indexed, Completions: &n, Parallelism: &n,
			BackoffLimit: ptr(int32(0)), ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: roleLabels(ComponentLoad)},
				Spec: corev1.PodSpec{
					Subdomain:     K8sLoad,
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{loader},
					Affinity:      antiAffinity(ComponentServer, ComponentLoad),
				},
			},
		},
	})

	var names []string
	for i := 0; i < o.Loaders; i++ {
		names = append(names, K8sLoad+"-"+strconv.Itoa(i)+"."+K8sLoad)
	}
	args := o.coordinatorArgs(K8sServer, names, "--engine", "k8s", "--print", ResultsDir+"/run/report.md")
	coord := o.container("coordinator", secret, 1, args)
	coord.VolumeMounts = []corev1.VolumeMount{{Name: "results", MountPath: ResultsDir}}
	vol := corev1.Volume{Name: "results", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	if o.ResultsPVC != "" {
		vol.VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.ResultsPVC}}
	}
	objs = append(objs, &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: o.meta(K8sCoordinator, roleLabels(ComponentCoordinator)),
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr(int32(0)), ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: roleLabels(ComponentCoordinator)},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, // a suite runs once
					Containers:    []corev1.Container{coord},
					Volumes:       []corev1.Volume{vol},
				},
			},
		},
	})
	return objs, nil
}

func ptr[T any](v T) *T { return &v }

func (o *K8sOptions) meta(name string, l map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: l}
}

// headless is a Service without a cluster IP: its name resolves to the ready pods of the
// component themselves (stable DNS, no proxy between load and server).
func (o *K8sOptions) headless(name, component string, port int32) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: o.meta(name, roleLabels(component)),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  roleLabels(component),
			Ports:     []corev1.ServicePort{{Name: "agent", Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}
}

// container is one iobench container with Guaranteed resources (requests = limits, whole
// cores) and the token from the Secret.
func (o *K8sOptions) container(name, secret string, cpus int, args []string) corev1.Container {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(cpus), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(o.MemoryMiB)<<20, resource.BinarySI),
	}
	return corev1.Container{
		Name: name, Image: o.Image, ImagePullPolicy: corev1.PullIfNotPresent,
		Args: args,
		Env: []corev1.EnvVar{{Name: TokenEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: K8sSecretKey}}}},
		Resources: corev1.ResourceRequirements{Requests: rl, Limits: rl.DeepCopy()},
	}
}

// antiAffinity keeps a pod off every node running a pod of component avoid (required), and
// away from pods of spread where it can (preferred).
func antiAffinity(avoid, spread string) *corev1.Affinity {
	a := &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		LabelSelector: &metav1.LabelSelector{MatchLabels: roleLabels(avoid)}, TopologyKey: HostnameKey}}}
	if spread != "" {
		a.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.WeightedPodAffinityTerm{{Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: roleLabels(spread)}, TopologyKey: HostnameKey}}}
	}
	return &corev1.Affinity{PodAntiAffinity: a}
}

// WriteK8s prints the objects: format "json" is one v1 List, "yaml" one document per object.
func WriteK8s(w io.Writer, o K8sOptions, format string) error {
	if format != "json" && format != "yaml" {
		return fmt.Errorf("-o %q: want yaml or json", format)
	}
	objs, err := K8s(o)
	if err != nil {
		return err
	}
	if format == "json" {
		list := corev1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}}
		for _, obj := range objs {
			raw, err := json.Marshal(obj)
			if err != nil {
				return err
			}
			list.Items = append(list.Items, runtime.RawExtension{Raw: raw})
		}
		b, err := json.MarshalIndent(&list, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	for i, obj := range objs {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
