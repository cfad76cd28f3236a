package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"
)

// decoded is what `iobench deploy k8s` printed, decoded strictly with the official types.
type decoded struct {
	secrets  []*corev1.Secret
	services map[string]*corev1.Service
	pods     map[string]*corev1.Pod
	jobs     map[string]*batchv1.Job
}

// strictDecoder decodes core/v1 and batch/v1 objects and fails on any field the official
// types do not have (a typo in a manifest would otherwise be dropped silently by kubectl).
func strictDecoder(t testing.TB) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := batchv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Strict: true})
}

func decodeItems(t testing.TB, items [][]byte) decoded {
	t.Helper()
	dec := strictDecoder(t)
	d := decoded{services: map[string]*corev1.Service{}, pods: map[string]*corev1.Pod{}, jobs: map[string]*batchv1.Job{}}
	for i, raw := range items {
		obj, gvk, err := dec.Decode(raw, nil, nil)
		if err != nil {
			t.Fatalf("item %d does not decode with the official types: %v\n%s", i, err, raw)
		}
		switch o := obj.(type) {
		case *corev1.Secret:
			d.secrets = append(d.secrets, o)
		case *corev1.Service:
			d.services[o.Name] = o
		case *corev1.Pod:
			d.pods[o.Name] = o
		case *batchv1.Job:
			d.jobs[o.Name] = o
		default:
			t.Fatalf("item %d: unexpected kind %v", i, gvk)
		}
	}
	return d
}

// printK8s runs the command as a user would and returns its output.
func printK8s(t testing.TB, args ...string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	if err := Cmd(context.Background(), append([]string{"k8s"}, args...), &out, &errb); err != nil {
		t.Fatalf("deploy k8s %v: %v (%s)", args, err, errb.String())
	}
	return out.Bytes()
}

func decodeJSONList(t testing.TB, b []byte) decoded {
	t.Helper()
	var list struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("-o json is not JSON: %v", err)
	}
	if list.APIVersion != "v1" || list.Kind != "List" {
		t.Fatalf("-o json is %s %s, want one v1 List", list.APIVersion, list.Kind)
	}
	if _, _, err := strictDecoder(t).Decode(b, nil, &corev1.List{}); err != nil {
		t.Fatalf("the List does not decode as a v1 List: %v", err)
	}
	items := make([][]byte, len(list.Items))
	for i := range list.Items {
		items[i] = list.Items[i]
	}
	return decodeItems(t, items)
}

func decodeYAMLDocs(t testing.TB, b []byte) decoded {
	t.Helper()
	var items [][]byte
	for _, doc := range strings.Split(string(b), "\n---\n") {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("a YAML document does not parse: %v\n%s", err, doc)
		}
		items = append(items, j)
	}
	return decodeItems(t, items)
}

// TestK8sManifests is the "done when" of issue 16 item 5: `iobench deploy k8s --backend epoll
// --loaders 4 -o json` decodes and holds together.
func TestK8sManifests(t *testing.T) {
	cases := []struct {
		name    string
		loaders int
		decode  func(testing.TB, []byte) decoded
		format  string
	}{
		{"json/loaders=4", 4, decodeJSONList, "json"},
		{"yaml/loaders=4", 4, decodeYAMLDocs, "yaml"},
		{"json/loaders=1", 1, decodeJSONList, "json"},
		{"yaml/loaders=7", 7, decodeYAMLDocs, "yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.decode(t, printK8s(t, "--backend", "epoll", "--loaders", strconv.Itoa(c.loaders), "-o", c.format))
			checkK8s(t, d, c.loaders)
		})
	}
}

func checkK8s(t *testing.T, d decoded, loaders int) {
	t.Helper()
	if len(d.secrets) != 1 || d.secrets[0].Name != K8sSecret || len(d.secrets[0].StringData[K8sSecretKey]) != 64 {
		t.Fatalf("want one Secret %s with a 32-byte hex token, got %+v", K8sSecret, d.secrets)
	}
	server, load, coord := d.pods[K8sServer], d.jobs[K8sLoad], d.jobs[K8sCoordinator]
	if server == nil || load == nil || coord == nil || len(d.services) != 2 {
		t.Fatalf("want the server Pod, the load Job, the coordinator Job and 2 Services; got pods %v jobs %v services %v", keys(d.pods), keys(d.jobs), keys(d.services))
	}

	t.Run("the headless Services select their pods", func(t *testing.T) {
		for name, podLabels := range map[string]map[string]string{K8sServer: server.Labels, K8sLoad: load.Spec.Template.Labels} {
			svc := d.services[name]
			if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Fatalf("Service %s missing or not headless: %+v", name, svc)
			}
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(podLabels)) || len(svc.Spec.Selector) == 0 {
				t.Errorf("Service %s selector %v does not select its pods %v", name, svc.Spec.Selector, podLabels)
			}
			if svc.Spec.Ports[0].TargetPort.IntValue() != int(server.Spec.Containers[0].Ports[0].ContainerPort) {
				t.Errorf("Service %s targets port %v, the agent listens on %d", name, svc.Spec.Ports[0].TargetPort, server.Spec.Containers[0].Ports[0].ContainerPort)
			}
		}
		// The server's Service must not also select the load pods, nor the load's the server.
		if labels.SelectorFromSet(d.services[K8sServer].Spec.Selector).Matches(labels.Set(load.Spec.Template.Labels)) ||
			labels.SelectorFromSet(d.services[K8sLoad].Spec.Selector).Matches(labels.Set(server.Labels)) {
			t.Error("a Service selects the other role's pods")
		}
		if load.Spec.Template.Spec.Subdomain != K8sLoad {
			t.Errorf("load pods' subdomain %q, want %q (their per-index DNS names)", load.Spec.Template.Spec.Subdomain, K8sLoad)
		}
	})

	t.Run("the index range equals the loader count", func(t *testing.T) {
		s := load.Spec
		if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
			t.Fatalf("load Job completion mode %v, want Indexed", s.CompletionMode)
		}
		if *s.Completions != int32(loaders) || *s.Parallelism != int32(loaders) {
			t.Errorf("completions %d, parallelism %d, want %d both", *s.Completions, *s.Parallelism, loaders)
		}
		// The coordinator names indexes 0..N-1 in order: shard i is the pod of index i.
		args := coord.Spec.Template.Spec.Containers[0].Args
		var want []string
		for i := 0; i < loaders; i++ {
			want = append(want, K8sLoad+"-"+strconv.Itoa(i)+"."+K8sLoad)
		}
		if got := flagValue(args, "--load"); got != strings.Join(want, ",") {
			t.Errorf("coordinator --load %q, want %q", got, strings.Join(want, ","))
		}
		if got := flagValue(args, "--expect"); got != strconv.Itoa(loaders) {
			t.Errorf("coordinator --expect %s, want %d", got, loaders)
		}
		if got := flagValue(args, "--engine"); got != "k8s" {
			t.Errorf("coordinator --engine %q, want k8s (the results' topology)", got)
		}
		if got := flagValue(args, "--server"); got != K8sServer+":7070" {
			t.Errorf("coordinator --server %q, want the server Service %s:7070", got, K8sServer)
		}
		if got := flagValue(args, "--backends"); got != "epoll" {
			t.Errorf("coordinator runs --backends %q, want epoll", got)
		}
	})

	t.Run("loaders never share the server's node", func(t *testing.T) {
		for who, pair := range map[string][2]*corev1.PodSpec{
			"load avoids server": {&load.Spec.Template.Spec, &server.Spec},
			"server avoids load": {&server.Spec, &load.Spec.Template.Spec},
		} {
			spec, other := pair[0], pair[1]
			otherLabels := server.Labels
			if other != &server.Spec {
				otherLabels = load.Spec.Template.Labels
			}
			found := false
			if spec.Affinity != nil && spec.Affinity.PodAntiAffinity != nil {
				for _, term := range spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
					sel, err := metav1LabelSelector(term.LabelSelector)
					if err != nil {
						t.Fatal(err)
					}
					found = found || (term.TopologyKey == HostnameKey && sel.Matches(labels.Set(otherLabels)))
				}
			}
			if !found {
				t.Errorf("%s: no required anti-affinity on %s selecting %v", who, HostnameKey, otherLabels)
			}
		}
	})

	specs := map[string]*corev1.PodSpec{"server": &server.Spec, "load": &load.Spec.Template.Spec, "coordinator": &coord.Spec.Template.Spec}
	t.Run("Guaranteed QoS with whole cores", func(t *testing.T) {
		for role, spec := range specs {
			for _, c := range spec.Containers {
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
					if req.IsZero() || req.Cmp(lim) != 0 {
						t.Errorf("%s: %s request %s, limit %s: not Guaranteed", role, r, req.String(), lim.String())
					}
				}
				cpu := c.Resources.Requests[corev1.ResourceCPU]
				if cpu.MilliValue()%1000 != 0 {
					t.Errorf("%s: cpu %s is not whole cores (the static CPU manager pins only whole cores)", role, cpu.String())
				}
			}
		}
		if cpu := server.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; cpu.Value() != 2 {
			t.Errorf("server cpu %s, want the default 2", cpu.String())
		}
	})

	t.Run("image and token", func(t *testing.T) {
		for role, spec := range specs {
			c := spec.Containers[0]
			if c.Image != dockerfileTag(t) {
				t.Errorf("%s image %q, want the Dockerfile's %q", role, c.Image, dockerfileTag(t))
			}
			if len(c.Env) != 1 || c.Env[0].Name != TokenEnv || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil ||
				c.Env[0].ValueFrom.SecretKeyRef.Name != d.secrets[0].Name || c.Env[0].ValueFrom.SecretKeyRef.Key != K8sSecretKey {
				t.Errorf("%s: token not from Secret %s key %s: %+v", role, d.secrets[0].Name, K8sSecretKey, c.Env)
			}
			if spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("%s restart policy %s, want Never", role, spec.RestartPolicy)
			}
		}
	})
}

// dockerfileTag is the tag scripts/docker-image.sh gives the Dockerfile's image, read from the
// script itself, so the manifests cannot drift from it.
func dockerfileTag(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "scripts", "docker-image.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "-t "+DefaultImage) {
		t.Fatalf("scripts/docker-image.sh does not tag %s", DefaultImage)
	}
	return DefaultImage
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

func TestK8sOptions(t *testing.T) {
	t.Run("existing secret, namespace, PVC", func(t *testing.T) {
		d := decodeJSONList(t, printK8s(t, "--backend", "uring,epoll", "--loaders", "2", "-o", "json",
			"--secret", "mine", "--namespace", "bench", "--results-pvc", "res", "--", "--reps", "1"))
		if len(d.secrets) != 0 {
			t.Error("a Secret printed although --secret names an existing one")
		}
		coord := d.jobs[K8sCoordinator].Spec.Template.Spec
		if ref := coord.Containers[0].Env[0].ValueFrom.SecretKeyRef.Name; ref != "mine" {
			t.Errorf("token from Secret %q, want mine", ref)
		}
		if pvc := coord.Volumes[0].PersistentVolumeClaim; pvc == nil || pvc.ClaimName != "res" {
			t.Errorf("results volume %+v, want PVC res", coord.Volumes[0])
		}
		if d.pods[K8sServer].Namespace != "bench" || d.services[K8sLoad].Namespace != "bench" {
			t.Error("namespace not set on every object")
		}
		if args := coord.Containers[0].Args; flagValue(args, "--reps") != "1" || flagValue(args, "--backends") != "uring,epoll" {
			t.Errorf("run flags not passed: %v", args)
		}
	})
}

func metav1LabelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}
