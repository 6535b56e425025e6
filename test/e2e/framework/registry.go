package framework

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Registry is a Docker registry (Debian's docker-registry) on 127.0.0.1.
type Registry struct {
	// Host is host:port, the prefix of the registry's image names.
	Host string
	// User and Password are set when the registry asks for them (htpasswd auth, or the
	// token server's basic auth).
	User, Password string
	proc           *Process
	// tokens is the token server the registry trusts, for token auth; stopped with it.
	tokens *TokenServer
}

// StartRegistry starts a registry storing its data in dir. With a user, it accepts
// pushes and pulls only with that user's password.
func StartRegistry(dir, user, password string) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	auth := ""
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return nil, err
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: dockercri-e2e\n    path: %s\n", htpasswd)
	}
	return startRegistry(dir, user, password, auth)
}

// startRegistry starts docker-registry with its data and config in dir (which must
// exist) and auth (the config's auth section, or nothing for an open registry), and
// waits until it answers.
func startRegistry(dir, user, password, auth string) (*Registry, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port), User: user, Password: password}
	conf := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: dockercri-e2e
%s`, filepath.Join(dir, "data"), r.Host, auth)
	confPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	r.proc, err = StartProcess("docker-registry", filepath.Join(dir, "registry.log"), "docker-registry", "serve", confPath)
	if err != nil {
		return nil, err
	}
	err = WaitFor(30*time.Second, func() error {
		if r.proc.Exited() {
			return fmt.Errorf("registry exited:\n%s", Tail(r.proc.Log(), 20))
		}
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if err != nil {
		_ = r.proc.Stop(5 * time.Second)
		return nil, err
	}
	return r, nil
}

// Stop stops the registry.
func (r *Registry) Stop() {
	if r != nil && r.proc != nil {
		_ = r.proc.Stop(10 * time.Second)
	}
	if r != nil && r.tokens != nil {
		r.tokens.Close()
	}
}

// ManifestDigest asks the registry for the digest of repo:tag, as a pull by digest names it.
func (r *Registry) ManifestDigest(repo, tag string) (string, error) {
	req, err := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", r.Host, repo, tag), nil)
	if err != nil {
		return "", err
	}
	// Whichever Docker pushed: a classic store pushes a Docker manifest, the containerd
	// store an OCI index.
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
	}, ", "))
	if r.tokens != nil {
		tok, err := r.tokens.RegistryToken(r.User, "repository:"+repo+":pull")
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	} else if r.User != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HEAD manifest %s:%s: %s", repo, tag, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

// FreePort returns a TCP port free on 127.0.0.1 right now, for a process the test
// starts to listen on. It is picked below the kernel's ephemeral ports
// (net.ipv4.ip_local_port_range), which the kernel hands out to binds of port 0 and to
// the source ports of outgoing connections: there, any parallel test's connection
// could take it before the process binds it.
func FreePort() (int, error) {
	const from = 10000
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low <= from {
		return 0, fmt.Errorf("ephemeral ports start at %d: no range below them for FreePort", low)
	}
	for range 100 {
		port := from + rand.IntN(low-from)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port in %d-%d", from, low-1)
}
