// gitops-health tells what Argo CD and kstatus make of Kubernetes objects, with their own code rather than a
// re-implementation: Argo CD's health assessment (github.com/argoproj/argo-cd/v3 util/lua and util/settings, and the
// gitops-engine health package its controller calls) and kstatus (sigs.k8s.io/cli-utils pkg/kstatus/status.Compute,
// what Flux's health checks and kpt decide from). The versions are the ones go.mod pins.
//
// Usage:
//
//	gitops-health [--argocd-lua-dir DIR] [--argocd-cm FILE] [FILE|-]...
//
// It reads Kubernetes objects from the files (stdin when there is none, or for "-"): YAML or JSON, several documents
// per file, a JSON array or a List's items counting as their elements. For each object it prints one JSON line:
//
//	{"apiVersion":…,"kind":…,"namespace":…,"name":…,
//	 "argocd":{"status":…,"message":…},        what Argo CD shows: gitops-engine's health.GetResourceHealth with the
//	                                            customizations (a resource being deleted is Progressing before any script)
//	 "argocdScript":{"status":…,"message":…},  what the kind's health script alone returns (Argo CD's Lua VM, its libraries)
//	 "kstatus":{"status":…,"message":…}}       status.Compute
//
// A side is null when Argo CD has no health check for the kind; a script or kstatus error is {"error": "…"}.
//
// The customizations come the way Argo CD reads them, from argocd-cm through Argo CD's own settings manager (as
// `argocd admin settings resource-overrides health --argocd-cm-path` does): --argocd-cm is such a ConfigMap;
// --argocd-lua-dir is a directory of <group>_<Kind>.lua files (hsm-operator's config/argocd), each one put into
// argocd-cm under resource.customizations.health.<group>_<Kind>, the key the README tells users to install it under.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/argoproj/gitops-engine/pkg/health"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
)

// verdict is one tool's answer for one object.
type verdict struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

type line struct {
	APIVersion   string   `json:"apiVersion"`
	Kind         string   `json:"kind"`
	Namespace    string   `json:"namespace,omitempty"`
	Name         string   `json:"name"`
	ArgoCD       *verdict `json:"argocd"`
	ArgoCDScript *verdict `json:"argocdScript"`
	KStatus      *verdict `json:"kstatus"`
}

func main() {
	luaDir := flag.String("argocd-lua-dir", "", "directory of <group>_<Kind>.lua health scripts, installed as argocd-cm's resource.customizations.health.<group>_<Kind>")
	cmFile := flag.String("argocd-cm", "", "an argocd-cm ConfigMap (YAML) whose resource.customizations apply")
	flag.Parse()
	log.SetLevel(log.WarnLevel) // the settings manager logs its defaults at info level

	overrides, err := resourceOverrides(*cmFile, *luaDir)
	if err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false) // messages as written: "<string>:3: …", not "\u003cstring\u003e"
	inputs := flag.Args()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	for _, in := range inputs {
		objects, err := read(in)
		if err != nil {
			out.Flush()
			fail(fmt.Errorf("%s: %w", in, err))
		}
		for _, obj := range objects {
			if err := enc.Encode(judge(obj, overrides)); err != nil {
				fail(err)
			}
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gitops-health:", err)
	os.Exit(1)
}

// resourceOverrides builds argocd-cm from the flags and reads its resource customizations with Argo CD's settings
// manager, on a fake clientset holding that ConfigMap and a minimal argocd-secret, as Argo CD's admin CLI does.
func resourceOverrides(cmFile, luaDir string) (map[string]v1alpha1.ResourceOverride, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm"}}
	if cmFile != "" {
		data, err := os.ReadFile(cmFile)
		if err != nil {
			return nil, err
		}
		if err := yaml.Unmarshal(data, cm); err != nil {
			return nil, fmt.Errorf("%s: %w", cmFile, err)
		}
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	if luaDir != "" {
		scripts, err := filepath.Glob(filepath.Join(luaDir, "*.lua"))
		if err != nil {
			return nil, err
		}
		if len(scripts) == 0 {
			return nil, fmt.Errorf("no *.lua in %s", luaDir)
		}
		for _, script := range scripts {
			groupKind := strings.TrimSuffix(filepath.Base(script), ".lua") // e.g. hsmoperator.io_HsmKey
			text, err := os.ReadFile(script)
			if err != nil {
				return nil, err
			}
			cm.Data["resource.customizations.health."+groupKind] = string(text)
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret"},
		Data: map[string][]byte{"admin.password": []byte("unused"), "server.secretkey": []byte("unused")}}
	for _, o := range []metav1.Object{cm, secret} {
		o.SetNamespace("argocd")
		o.SetLabels(map[string]string{"app.kubernetes.io/part-of": "argocd"}) // what the settings manager watches
	}
	manager := settings.NewSettingsManager(context.Background(), fake.NewClientset(cm, secret), "argocd")
	if err := manager.ResyncInformers(); err != nil {
		return nil, err
	}
	return manager.GetResourceOverrides()
}

// read decodes every object of a file (or stdin for "-").
func read(name string) ([]*unstructured.Unstructured, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var objects []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return objects, nil
		} else if err != nil {
			return nil, err
		}
		// Kubernetes' JSON reading: whole numbers become int64 (kstatus reads metadata.generation as one), not float64.
		var doc any
		if err := utiljson.Unmarshal(raw, &doc); err != nil {
			return nil, err
		}
		objects = append(objects, flatten(doc)...)
	}
}

// flatten turns a document into objects: an array or a List holds several, an empty document none.
func flatten(doc any) []*unstructured.Unstructured {
	switch d := doc.(type) {
	case []any:
		var out []*unstructured.Unstructured
		for _, e := range d {
			out = append(out, flatten(e)...)
		}
		return out
	case map[string]any:
		if items, ok := d["items"].([]any); ok && strings.HasSuffix(fmt.Sprint(d["kind"]), "List") {
			return flatten(items)
		}
		return []*unstructured.Unstructured{{Object: d}}
	}
	return nil
}

func judge(obj *unstructured.Unstructured, overrides map[string]v1alpha1.ResourceOverride) line {
	l := line{APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()}
	healthOverride := lua.ResourceHealthOverrides(overrides)
	// What Argo CD shows for the resource (controller/health.go calls this with the same overrides).
	if h, err := health.GetResourceHealth(obj, healthOverride); err != nil {
		l.ArgoCD = &verdict{Error: err.Error()}
		if h != nil {
			l.ArgoCD.Status, l.ArgoCD.Message = string(h.Status), h.Message
		}
	} else if h != nil {
		l.ArgoCD = &verdict{Status: string(h.Status), Message: h.Message}
	}
	// The kind's script alone: lua.VM's GetHealthScript and ExecuteHealthLua, with the libraries Argo CD opens for it.
	if h, err := healthOverride.GetResourceHealth(obj); err != nil {
		l.ArgoCDScript = &verdict{Error: err.Error()}
	} else if h != nil {
		l.ArgoCDScript = &verdict{Status: string(h.Status), Message: h.Message}
	}
	if r, err := status.Compute(obj); err != nil {
		l.KStatus = &verdict{Error: err.Error()}
	} else {
		l.KStatus = &verdict{Status: string(r.Status), Message: r.Message}
	}
	return l
}
