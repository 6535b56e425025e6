package images

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/docker/docker/api/types/registry"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// decodeHeader reads an X-Registry-Auth header as Docker's daemon does: base64url JSON.
func decodeHeader(t *testing.T, header string) registry.AuthConfig {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("header %q is not base64url: %v", header, err)
	}
	var cfg registry.AuthConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("header decodes to %q, not JSON: %v", raw, err)
	}
	// The daemon's own decoder must agree.
	daemon, err := registry.DecodeAuthConfig(header)
	if err != nil {
		t.Fatalf("registry.DecodeAuthConfig(%q) = %v", header, err)
	}
	if *daemon != cfg {
		t.Fatalf("registry.DecodeAuthConfig = %+v, json = %+v", *daemon, cfg)
	}
	return cfg
}

func TestEncodeAuthNil(t *testing.T) {
	got, err := encodeAuth(nil)
	if err != nil || got != "" {
		t.Fatalf("encodeAuth(nil) = %q, %v, want \"\", nil", got, err)
	}
}

func TestEncodeAuth(t *testing.T) {
	tests := []struct {
		name string
		in   *runtimeapi.AuthConfig
		want registry.AuthConfig
	}{
		{
			"empty",
			&runtimeapi.AuthConfig{},
			registry.AuthConfig{},
		},
		{
			"username and password",
			&runtimeapi.AuthConfig{Username: "user", Password: "pass", ServerAddress: "registry.example.com"},
			registry.AuthConfig{Username: "user", Password: "pass", ServerAddress: "registry.example.com"},
		},
		{
			"auth decoded",
			&runtimeapi.AuthConfig{Auth: "dXNlcjpwYXNz"}, // user:pass
			registry.AuthConfig{Username: "user", Password: "pass"},
		},
		{
			"auth with a colon in the password",
			&runtimeapi.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("user:pa:ss"))},
			registry.AuthConfig{Username: "user", Password: "pa:ss"},
		},
		{
			"auth with empty password",
			&runtimeapi.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("user:"))},
			registry.AuthConfig{Username: "user"},
		},
		{
			"auth ignored beside username and password",
			&runtimeapi.AuthConfig{Username: "u", Password: "p", Auth: "dXNlcjpwYXNz"},
			registry.AuthConfig{Username: "u", Password: "p"},
		},
		{
			"auth ignored beside username alone",
			&runtimeapi.AuthConfig{Username: "u", Auth: "!!not base64!!"},
			registry.AuthConfig{Username: "u"},
		},
		{
			"identity token",
			&runtimeapi.AuthConfig{Username: "<token>", IdentityToken: "refresh-token", ServerAddress: "myregistry.azurecr.io"},
			registry.AuthConfig{Username: "<token>", IdentityToken: "refresh-token", ServerAddress: "myregistry.azurecr.io"},
		},
		{
			"registry token",
			&runtimeapi.AuthConfig{RegistryToken: "bearer-token"},
			registry.AuthConfig{RegistryToken: "bearer-token"},
		},
		{
			"everything from auth",
			&runtimeapi.AuthConfig{Auth: "dXNlcjpwYXNz", ServerAddress: "r.io", IdentityToken: "i", RegistryToken: "r"},
			registry.AuthConfig{Username: "user", Password: "pass", ServerAddress: "r.io", IdentityToken: "i", RegistryToken: "r"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header, err := encodeAuth(tt.in)
			if err != nil {
				t.Fatalf("encodeAuth = %v", err)
			}
			if got := decodeHeader(t, header); got != tt.want {
				t.Errorf("header carries %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEncodeAuthBad(t *testing.T) {
	for _, auth := range []string{
		"!!not base64!!",
		"dXNlcjpwYXNz=",       // bad padding
		"dXNlcjpwYXN",         // truncated
		"dXNlcl9wYXNz",        // "user_pass": no colon
		"dXNlcjpwYXNz" + "_-", // base64url is not what config.json holds
	} {
		got, err := encodeAuth(&runtimeapi.AuthConfig{Auth: auth})
		if err == nil {
			t.Errorf("encodeAuth(auth %q) = %q, want InvalidArgument", auth, got)
			continue
		}
		wantCode(t, "encodeAuth(auth "+auth+")", err, codes.InvalidArgument)
	}
}

func TestPullError(t *testing.T) {
	tests := []struct {
		msg  string
		want codes.Code
	}{
		{"manifest unknown", codes.NotFound},
		{"manifest for busybox:nope not found: manifest unknown: manifest unknown", codes.NotFound},
		{"Error response from daemon: manifest for x:y not found", codes.NotFound},
		{"repository does not exist or may require 'docker login'", codes.NotFound},
		// Docker Hub's answer for a missing or private repository names both.
		{"pull access denied for nosuch, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", codes.NotFound},
		{"name unknown: repository name not known to registry", codes.NotFound},
		{"NAME UNKNOWN", codes.NotFound},
		{"unauthorized: authentication required", codes.Unauthenticated},
		{"Head \"https://r.io/v2/x/manifests/1\": unauthorized", codes.Unauthenticated},
		{"no basic auth credentials", codes.Unauthenticated},
		{"denied: requested access to the resource is denied", codes.PermissionDenied},
		{"toomanyrequests: You have reached your pull rate limit", codes.ResourceExhausted},
		{"unexpected EOF", codes.Unknown},
		{"", codes.Unknown},
	}
	for _, tt := range tests {
		err := pullError(tt.msg)
		wantCode(t, "pullError("+tt.msg+")", err, tt.want)
	}
}
