package main

// The deployment files under contrib/ must start the real CLI with flags it
// accepts: every pastmon command line of the fleet and systemd units, the
// Kubernetes manifests and the Dockerfile is resolved the way systemd,
// Kubernetes or Docker would (specifiers, environment, $(VAR)) and run
// through run(..., "--check").

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// Sample values for what the deployment files take from the machine.
var (
	// unitSpecifiers are systemd's %X specifiers for an instance "1" on a
	// host "node-1".
	unitSpecifiers = map[byte]string{
		'i': "1", 'I': "1", 'H': "node-1", 'l': "node-1", 'm': "0123456789abcdef0123456789abcdef",
		'S': "/var/lib", 'C': "/var/cache", 'L': "/var/log", 't': "/run", 'T': "/tmp", '%': "%",
	}
	// unitEnvFiles maps the EnvironmentFile= paths of the units to the files
	// of this repository or to sample contents.
	unitEnvFiles = map[string]string{
		"/etc/pastmon/pastmon.env": "contrib/systemd/pastmon.env",
		"/etc/environment":         "COREOS_PUBLIC_IPV4=203.0.113.10\nCOREOS_PRIVATE_IPV4=10.0.0.10\n",
	}
	// k8sFields are sample values of the fieldRef paths the manifests use.
	k8sFields = map[string]string{
		"spec.nodeName": "node-1", "metadata.name": "pastmon-sensor-x7k2p", "metadata.namespace": "pastmon",
		"status.podIP": "10.244.1.7", "status.hostIP": "10.0.0.11",
	}
)

// contribRun is one resolved pastmon command line of a deployment file.
type contribRun struct {
	where string
	argv  []string          // argv[0] is the binary
	env   map[string]string // environment of the process
}

func contribFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return string(b)
}

// checkContribCLI runs a command line with --check in its environment only.
func checkContribCLI(t *testing.T, r contribRun) {
	t.Helper()
	if path.Base(r.argv[0]) != "pastmon" {
		t.Errorf("%s: runs %q, want the pastmon binary", r.where, r.argv[0])
		return
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PASTMON_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range r.env {
		// The deploy files hold example secrets that pastmon refuses (so
		// that nobody runs with a known password): an operator replaces
		// them, as this check does.
		if strings.HasPrefix(v, "change-me") {
			v = "operator-secret-" + strings.ToLower(k)
		}
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	args := append(slices.Clone(r.argv[1:]), "--check")
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Errorf("%s: pastmon %s: exit %d\n%s%s", r.where, strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
}

func TestContribUnits(t *testing.T) {
	tests := []struct {
		file  string
		want  string            // subcommand of ExecStart
		extra map[string]string // [section] key=value the unit must have
	}{
		{"contrib/fleet/pastmon-web@.service", "web", map[string]string{"X-Fleet/MachineMetadata": "role=front", "Service/Restart": "always"}},
		{"contrib/fleet/pastmon-sensor@.service", "sensor", map[string]string{"X-Fleet/Global": "true", "Service/Restart": "always"}},
		{"contrib/systemd/pastmon-web.service", "web", map[string]string{"Service/Restart": "always"}},
		{"contrib/systemd/pastmon-sensor.service", "sensor", map[string]string{"Service/Restart": "always"}},
	}
	for _, tt := range tests {
		t.Run(path.Base(tt.file), func(t *testing.T) {
			entries, err := parseUnit(contribFile(t, tt.file))
			if err != nil {
				t.Fatalf("%s: %v", tt.file, err)
			}
			for k, v := range tt.extra {
				if got := unitValues(entries, k); !slices.Contains(got, v) {
					t.Errorf("%s: %s = %q, want %q among them", tt.file, k, got, v)
				}
			}
			runs, err := unitRuns(t, tt.file, entries)
			if err != nil {
				t.Fatal(err)
			}
			starts := 0
			for _, r := range runs {
				if strings.HasPrefix(r.where, tt.file+" ExecStart=") {
					starts++
					if len(r.argv) < 2 || r.argv[1] != tt.want {
						t.Errorf("%s: ExecStart runs %q, want pastmon %s", tt.file, r.argv, tt.want)
					}
				}
				if slices.Contains(r.argv, "--token") {
					t.Errorf("%s: the token is on the command line (visible in ps): use PASTMON_TOKEN in the EnvironmentFile", r.where)
				}
				checkContribCLI(t, r)
			}
			if starts != 1 {
				t.Errorf("%s: %d ExecStart= lines running pastmon, want 1", tt.file, starts)
			}
			for _, r := range runs {
				// A web node without its own sensor needs no privilege.
				if len(r.argv) > 1 && r.argv[1] == "web" && slices.Contains(r.argv, "--no-sensor") {
					if !slices.Contains(unitValues(entries, "Service/DynamicUser"), "yes") && len(unitValues(entries, "Service/User")) == 0 {
						t.Errorf("%s: runs web --no-sensor as root: want DynamicUser=yes or User=", tt.file)
					}
					if caps := unitValues(entries, "Service/CapabilityBoundingSet"); len(caps) == 0 || caps[len(caps)-1] != "" {
						t.Errorf("%s: web --no-sensor keeps capabilities %q: want CapabilityBoundingSet= (none)", tt.file, caps)
					}
				}
			}
		})
	}
}

// unitEntry is one Key=Value of a unit file.
type unitEntry struct{ section, key, value string }

// parseUnit reads a systemd unit: sections, comments, continuation lines.
func parseUnit(text string) ([]unitEntry, error) {
	var entries []unitEntry
	section, pending := "", ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("line %d: %q is neither [Section] nor Key=Value in a section", n, line)
		}
		entries = append(entries, unitEntry{section, strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	if pending != "" {
		return nil, fmt.Errorf("file ends in a continuation line")
	}
	return entries, sc.Err()
}

func unitValues(entries []unitEntry, sectionKey string) []string {
	var vs []string
	for _, e := range entries {
		if e.section+"/"+e.key == sectionKey {
			vs = append(vs, e.value)
		}
	}
	return vs
}

// unitRuns resolves the Exec*= lines of a unit that run pastmon, with the
// environment systemd would give them.
func unitRuns(t *testing.T, file string, entries []unitEntry) ([]contribRun, error) {
	env := map[string]string{}
	for _, e := range entries {
		if e.section != "Service" {
			continue
		}
		switch e.key {
		case "Environment":
			words, err := splitCommandLine(e.value)
			if err != nil {
				return nil, fmt.Errorf("%s: Environment=%s: %w", file, e.value, err)
			}
			for _, w := range words {
				k, v, ok := strings.Cut(w, "=")
				if !ok {
					return nil, fmt.Errorf("%s: Environment=%s: %q is not NAME=value", file, e.value, w)
				}
				env[k] = v
			}
		case "EnvironmentFile":
			name := strings.TrimPrefix(e.value, "-")
			src, ok := unitEnvFiles[name]
			if !ok {
				return nil, fmt.Errorf("%s: EnvironmentFile=%s: no sample for it in this test", file, name)
			}
			if !strings.Contains(src, "=") {
				src = contribFile(t, src)
			}
			if err := parseUnitEnvFile(src, env); err != nil {
				return nil, fmt.Errorf("%s: EnvironmentFile=%s: %w", file, name, err)
			}
		}
	}
	var runs []contribRun
	for _, e := range entries {
		if e.section != "Service" || !strings.HasPrefix(e.key, "Exec") {
			continue
		}
		where := file + " " + e.key + "=" + e.value
		line, err := expandSpecifiers(strings.TrimLeft(e.value, "-@:+!"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		words, err := splitCommandLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		argv, err := expandUnitEnv(words, env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if len(argv) == 0 || !strings.HasPrefix(argv[0], "/") {
			return nil, fmt.Errorf("%s: want an absolute path to the program", where)
		}
		if path.Base(argv[0]) == "pastmon" || e.key == "ExecStart" {
			runs = append(runs, contribRun{where: where, argv: argv, env: env})
		}
	}
	return runs, nil
}

func expandSpecifiers(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("lone %% at the end")
		}
		i++
		v, ok := unitSpecifiers[s[i]]
		if !ok {
			return "", fmt.Errorf("specifier %%%c has no sample value in this test", s[i])
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

var unitVarRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandUnitEnv applies systemd's rules: a word that is exactly $NAME splits
// into the words of the value; ${NAME} anywhere is replaced as it is.
func expandUnitEnv(words []string, env map[string]string) ([]string, error) {
	var out []string
	var missing []string
	lookup := func(name string) string {
		v, ok := env[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	}
	for _, w := range words {
		if strings.HasPrefix(w, "$") && !strings.HasPrefix(w, "${") && len(w) > 1 {
			out = append(out, strings.Fields(lookup(w[1:]))...)
			continue
		}
		out = append(out, unitVarRef.ReplaceAllStringFunc(w, func(m string) string { return lookup(m[2 : len(m)-1]) }))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("variables %q are set by neither Environment= nor EnvironmentFile=", missing)
	}
	return out, nil
}

// parseUnitEnvFile reads NAME=value lines (comments, blank lines, optional
// quotes) into env.
func parseUnitEnvFile(src string, env map[string]string) error {
	for n, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(k, " \t") {
			return fmt.Errorf("line %d: %q is not NAME=value", n+1, line)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[k] = v
	}
	return nil
}

// splitCommandLine splits like systemd's ExecStart=: whitespace separates
// words, single and double quotes group, backslash escapes.
func splitCommandLine(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestSplitCommandLine(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"/bin/a b  c", []string{"/bin/a", "b", "c"}, false},
		{`/bin/a "b c" 'd e' f\ g`, []string{"/bin/a", "b c", "d e", "f g"}, false},
		{`a "" b`, []string{"a", "", "b"}, false},
		{`a --x="1 2"`, []string{"a", "--x=1 2"}, false},
		{`a "b`, nil, true},
		{`a \`, nil, true},
	}
	for _, tt := range tests {
		got, err := splitCommandLine(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("splitCommandLine(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestExpandUnitEnv(t *testing.T) {
	env := map[string]string{"A": "x y", "B": "z"}
	tests := []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{[]string{"p", "$A"}, []string{"p", "x", "y"}, false},
		{[]string{"p", "--a=${A}", "${B}/db"}, []string{"p", "--a=x y", "z/db"}, false},
		{[]string{"p", "${C}"}, nil, true},
		{[]string{"p", "$C"}, nil, true},
	}
	for _, tt := range tests {
		got, err := expandUnitEnv(tt.in, env)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("expandUnitEnv(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseUnitErrors(t *testing.T) {
	for _, in := range []string{"Key=value\n", "[Service]\nnot an entry\n", "[Service]\nExecStart=/a \\\n"} {
		if _, err := parseUnit(in); err == nil {
			t.Errorf("parseUnit(%q) = nil error, want one", in)
		}
	}
}

// dockerImage is what the final stage of contrib/Dockerfile sets.
type dockerImage struct {
	from       string
	args       map[string]string // ARG defaults, all stages
	entrypoint []string
	cmd        []string
	env        map[string]string
	cgoOff     bool
}

func parseDockerfile(text string) (dockerImage, error) {
	img := dockerImage{args: map[string]string{}}
	text = strings.ReplaceAll(text, "\\\n", " ")
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			if k, v, ok := strings.Cut(rest, "="); ok {
				img.args[k] = v
			}
		case "FROM":
			img = dockerImage{from: strings.Fields(rest)[0], args: img.args, env: map[string]string{}, cgoOff: img.cgoOff}
		case "RUN":
			if strings.Contains(rest, "CGO_ENABLED=0") && strings.Contains(rest, "go build") {
				img.cgoOff = true
			}
		case "ENV":
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				return img, fmt.Errorf("line %d: ENV %s: want NAME=value", n+1, rest)
			}
			img.env[k] = v
		case "ENTRYPOINT", "CMD":
			var argv []string
			if err := json.Unmarshal([]byte(rest), &argv); err != nil {
				return img, fmt.Errorf("line %d: %s %s: want the exec form [\"...\"]: %w", n+1, instr, rest, err)
			}
			if strings.ToUpper(instr) == "CMD" {
				img.cmd = argv
			} else {
				img.entrypoint = argv
			}
		}
	}
	return img, nil
}

func TestContribDockerfile(t *testing.T) {
	img, err := parseDockerfile(contribFile(t, "contrib/Dockerfile"))
	if err != nil {
		t.Fatalf("contrib/Dockerfile: %v", err)
	}
	if img.from != "scratch" {
		t.Errorf("final stage FROM %s, want scratch", img.from)
	}
	if !img.cgoOff {
		t.Error("no RUN with CGO_ENABLED=0 go build: the binary must be static for FROM scratch")
	}
	goMod := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(contribFile(t, "go.mod"))
	if goMod == nil || img.args["GO_VERSION"] != goMod[1] {
		t.Errorf("Dockerfile builds with Go %q, go.mod wants %v", img.args["GO_VERSION"], goMod)
	}
	if len(img.entrypoint) != 1 {
		t.Fatalf("ENTRYPOINT %q, want the binary alone", img.entrypoint)
	}
	checkContribCLI(t, contribRun{where: "contrib/Dockerfile ENTRYPOINT+CMD", argv: append(img.entrypoint, img.cmd...), env: img.env})
}

// k8sObject is the part of a Kubernetes object this test reads.
type k8sObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	StringData map[string]string `json:"stringData"`
	Spec       struct {
		Selector json.RawMessage `json:"selector"` // a label map in a Service
		Ports    []struct {
			Port       int    `json:"port"`
			TargetPort any    `json:"targetPort"`
			Name       string `json:"name"`
		} `json:"ports"`
		Template struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec k8sPod `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type k8sPod struct {
	HostNetwork    bool           `json:"hostNetwork"`
	DNSPolicy      string         `json:"dnsPolicy"`
	Containers     []k8sContainer `json:"containers"`
	InitContainers []k8sContainer `json:"initContainers"`
}

type k8sContainer struct {
	Name    string   `json:"name"`
	Command []string `json:"command"`
	Args    []string `json:"args"`
	Env     []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `json:"secretKeyRef"`
			FieldRef     *struct {
				FieldPath string `json:"fieldPath"`
			} `json:"fieldRef"`
		} `json:"valueFrom"`
	} `json:"env"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	LivenessProbe *struct {
		HTTPGet *struct {
			Path string `json:"path"`
			Port any    `json:"port"`
		} `json:"httpGet"`
	} `json:"livenessProbe"`
	SecurityContext *struct {
		Capabilities *struct {
			Add  []string `json:"add"`
			Drop []string `json:"drop"`
		} `json:"capabilities"`
	} `json:"securityContext"`
}

func readManifests(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("contrib", "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in contrib/kubernetes: %v", err)
	}
	var objs []k8sObject
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(contribFile(t, filepath.ToSlash(f)), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var o k8sObject
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s document %d: no kind or name", f, i+1)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// containerRun resolves a container's command line as the kubelet does:
// command (else the image's ENTRYPOINT) + args, with $(VAR) from its env.
func containerRun(where string, c k8sContainer, secrets map[string]map[string]string, img dockerImage) (contribRun, error) {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			v, ok := secrets[e.ValueFrom.SecretKeyRef.Name][e.ValueFrom.SecretKeyRef.Key]
			if !ok {
				return contribRun{}, fmt.Errorf("%s: env %s: no Secret %s with key %s in the manifests", where, e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			v, ok := k8sFields[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				return contribRun{}, fmt.Errorf("%s: env %s: fieldRef %s has no sample value in this test", where, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = v
		}
	}
	argv := c.Command
	if len(argv) == 0 {
		argv = img.entrypoint
		if len(c.Args) == 0 {
			argv = append(slices.Clone(argv), img.cmd...)
		}
	}
	argv = append(slices.Clone(argv), c.Args...)
	ref := regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for i, a := range argv {
		var missing string
		argv[i] = ref.ReplaceAllStringFunc(a, func(m string) string {
			if m == "$$" {
				return "$"
			}
			v, ok := env[m[2:len(m)-1]]
			if !ok {
				missing = m
			}
			return v
		})
		if missing != "" {
			return contribRun{}, fmt.Errorf("%s: %s is not in the container's env (Kubernetes would leave it as it is)", where, missing)
		}
	}
	return contribRun{where: where, argv: argv, env: env}, nil
}

func TestContribKubernetes(t *testing.T) {
	img, err := parseDockerfile(contribFile(t, "contrib/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	objs := readManifests(t)
	secrets := kustomizeSecrets(t)
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
		if o.Kind == "Secret" {
			t.Errorf("Secret %s is a manifest: its values would be applied over the operator's; generate it from files", o.Metadata.Name)
		}
	}
	for _, kind := range []string{"DaemonSet", "Deployment", "Service"} {
		if len(byKind[kind]) != 1 {
			t.Fatalf("%d %s objects, want 1", len(byKind[kind]), kind)
		}
	}

	runs := map[string]contribRun{}
	for _, o := range objs {
		pod := o.Spec.Template.Spec
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			where := fmt.Sprintf("%s/%s container %s", o.Kind, o.Metadata.Name, c.Name)
			r, err := containerRun(where, c, secrets, img)
			if err != nil {
				t.Fatal(err)
			}
			checkContribCLI(t, r)
			runs[o.Kind] = r
		}
	}

	ds := byKind["DaemonSet"][0]
	if !ds.Spec.Template.Spec.HostNetwork || ds.Spec.Template.Spec.DNSPolicy != "ClusterFirstWithHostNet" {
		t.Errorf("sensor DaemonSet: hostNetwork %v dnsPolicy %q, want true and ClusterFirstWithHostNet", ds.Spec.Template.Spec.HostNetwork, ds.Spec.Template.Spec.DNSPolicy)
	}
	sc := ds.Spec.Template.Spec.Containers[0].SecurityContext
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || !slices.Contains(sc.Capabilities.Add, "NET_RAW") {
		t.Errorf("sensor DaemonSet: capabilities %+v, want drop ALL and add NET_RAW", sc)
	} else {
		for _, c := range sc.Capabilities.Add {
			if c != "NET_RAW" && c != "NET_ADMIN" {
				t.Errorf("sensor DaemonSet adds capability %s; it needs NET_RAW only", c)
			}
		}
	}
	if r := runs["DaemonSet"]; len(r.argv) < 2 || r.argv[1] != "sensor" {
		t.Errorf("DaemonSet runs %q, want pastmon sensor", r.argv)
	}
	checkSensorProbe(t, ds.Spec.Template.Spec.Containers[0], runs["DaemonSet"])
	if r := runs["Deployment"]; len(r.argv) < 2 || r.argv[1] != "web" {
		t.Errorf("Deployment runs %q, want pastmon web", r.argv)
	}

	// The sensors' --web must reach the Service, which must select the
	// web pods and forward to their port.
	svc, dep := byKind["Service"][0], byKind["Deployment"][0]
	var selector map[string]string
	if err := json.Unmarshal(svc.Spec.Selector, &selector); err != nil || len(selector) == 0 {
		t.Fatalf("Service selector %s: want a label map (%v)", svc.Spec.Selector, err)
	}
	for k, v := range selector {
		if dep.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the web pods' labels %v", k, v, dep.Spec.Template.Metadata.Labels)
		}
	}
	webURL := contribFlag(runs["DaemonSet"].argv, "--web")
	u, err := url.Parse(webURL)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("sensor --web %q: not a URL", webURL)
	}
	wantHost := svc.Metadata.Name + "." + svc.Metadata.Namespace + ".svc"
	if u.Hostname() != wantHost && !strings.HasPrefix(u.Hostname(), wantHost+".") {
		t.Errorf("sensor --web host %q, want the Service %s", u.Hostname(), wantHost)
	}
	if len(svc.Spec.Ports) == 0 || fmt.Sprint(svc.Spec.Ports[0].Port) != u.Port() {
		t.Errorf("sensor --web port %q, Service ports %+v", u.Port(), svc.Spec.Ports)
	}
	webC := dep.Spec.Template.Spec.Containers[0]
	listen := contribFlag(runs["Deployment"].argv, "--listen")
	found := false
	for _, p := range webC.Ports {
		if (svc.Spec.Ports[0].TargetPort == p.Name || fmt.Sprint(svc.Spec.Ports[0].TargetPort) == fmt.Sprint(p.ContainerPort)) &&
			strings.HasSuffix(listen, fmt.Sprintf(":%d", p.ContainerPort)) {
			found = true
		}
	}
	if !found {
		t.Errorf("Service targetPort %v, container ports %+v and web --listen %q do not line up", svc.Spec.Ports[0].TargetPort, webC.Ports, listen)
	}
}

// kustomizeSecrets reads the kustomization's secretGenerator: each secret
// comes from files the operator writes, none of which is committed. It
// returns the secrets with values an operator would write.
func kustomizeSecrets(t *testing.T) map[string]map[string]string {
	t.Helper()
	var k struct {
		Resources []string `json:"resources"`
		Generator []struct {
			Name     string   `json:"name"`
			Files    []string `json:"files"`
			Literals []string `json:"literals"`
		} `json:"secretGenerator"`
		Images []struct{ Name, NewName, NewTag string } `json:"images"`
	}
	text := contribFile(t, "contrib/kubernetes/kustomization.yaml")
	if err := yaml.Unmarshal([]byte(text), &k); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "docker build -f contrib/Dockerfile") || len(k.Images) == 0 {
		t.Errorf("kustomization.yaml: no registry carries the image; say how to build it and where to point images:")
	}
	ignored := contribFile(t, "contrib/kubernetes/.gitignore")
	out := map[string]map[string]string{}
	for _, g := range k.Generator {
		if len(g.Literals) > 0 {
			t.Errorf("secret %s: literals in the kustomization are known values; use files", g.Name)
		}
		out[g.Name] = map[string]string{}
		for _, f := range g.Files {
			key, file, ok := strings.Cut(f, "=")
			if !ok {
				file = key
			}
			if !strings.Contains(ignored, "/"+file+"\n") {
				t.Errorf("secret %s: file %s is not git-ignored in contrib/kubernetes", g.Name, file)
			}
			if _, err := os.Stat(filepath.Join("contrib", "kubernetes", file)); err == nil {
				t.Logf("contrib/kubernetes/%s exists here (an operator's file)", file)
			}
			out[g.Name][path.Base(key)] = "operator-secret-" + path.Base(key)
		}
	}
	if len(out) == 0 {
		t.Errorf("kustomization.yaml generates no secret: the pods need one")
	}
	return out
}

// checkSensorProbe: the sensor's liveness probe asks /healthz on the
// port its --metrics-listen serves.
func checkSensorProbe(t *testing.T, c k8sContainer, r contribRun) {
	t.Helper()
	listen := contribFlag(r.argv, "--metrics-listen")
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("sensor DaemonSet: liveness probe %+v, want GET /healthz", c.LivenessProbe)
		return
	}
	port := fmt.Sprint(c.LivenessProbe.HTTPGet.Port)
	for _, p := range c.Ports {
		if p.Name == port {
			port = fmt.Sprint(p.ContainerPort)
		}
	}
	if listen == "" || !strings.HasSuffix(listen, ":"+port) {
		t.Errorf("sensor DaemonSet: probe port %s, --metrics-listen %q: they must match", port, listen)
	}
}

// TestContribDockerignore keeps the repository's secrets and bulk out of
// the image's build context.
func TestContribDockerignore(t *testing.T) {
	text := contribFile(t, ".dockerignore")
	for _, want := range []string{".git", "*.db", "contrib/kubernetes/token", "contrib/kubernetes/admin-password"} {
		if !slices.Contains(strings.Split(text, "\n"), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}

// contribFlag returns the value of "--name value" or "--name=value" in argv.
func contribFlag(argv []string, name string) string {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestContribKustomize builds the manifests with kubectl's own kustomize
// when kubectl is installed (it needs no cluster).
func TestContribKustomize(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	// Without the operator's secret files it must stop, saying so.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("contrib", "kubernetes"))); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"token", "admin-password", "metrics-token"} {
		os.Remove(filepath.Join(dir, f))
	}
	if out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput(); err == nil || !bytes.Contains(out, []byte("token")) {
		t.Errorf("kubectl kustomize without the secret files: %v, want a failure naming them\n%s", err, out)
	}
	for _, f := range []string{"token", "admin-password", "metrics-token"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("operator-secret-"+f+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize contrib/kubernetes: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("change-me")) {
		t.Errorf("kustomize output holds an example secret")
	}
	for _, kind := range []string{"Namespace", "Secret", "PersistentVolumeClaim", "Deployment", "Service", "DaemonSet"} {
		if !bytes.Contains(out, []byte("kind: "+kind+"\n")) {
			t.Errorf("kustomize output lacks a %s", kind)
		}
	}
}

// TestContribSystemdVerify runs systemd's own checker on the units, with
// the program path pointed at an executable that exists here. Unknown keys,
// bad values and bad sections make it fail.
func TestContribSystemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	units, err := filepath.Glob(filepath.Join("contrib", "*", "*.service"))
	if err != nil || len(units) < 4 {
		t.Fatalf("units in contrib: %q, %v", units, err)
	}
	dir := t.TempDir()
	for _, u := range units {
		text := contribFile(t, filepath.ToSlash(u))
		text = strings.NewReplacer("/usr/local/bin/pastmon", self, "/opt/bin/pastmon", self).Replace(text)
		dst := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(dst, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", dst).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
		}
	}
}
