//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/dockercri/dockercri/test/e2e/framework"
)

// Against a registry with token auth (as Docker Hub has), a pull takes a registry token
// the kubelet got elsewhere and uses it as it is, or an identity token that Docker
// exchanges at the token server for registry tokens; a token the registry does not
// trust is refused with an authentication error.
func TestTokenAuthPull(t *testing.T) {
	t.Parallel()
	reg, tokens, err := framework.StartTokenRegistry(env.TempDir(t, "treg"), "token-user", "token-pw-"+env.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("token server log:\n%s", tokens.Log())
		}
	})
	// Docker pushes with the password, which the token server takes as basic auth (the
	// classic store) or OAuth2's password grant (the containerd store's resolver).
	img := env.PushImage(t, reg, env.Repo("token"), "v1", true)
	if tokens.Issued(framework.GrantBasic)+tokens.Issued(framework.GrantPassword) == 0 {
		t.Fatalf("the push got no token from the token server with the password")
	}
	images := env.StartDockercri(t).Images(t)

	// pull pulls img with auth, checks that the result is Docker's image ID, and removes
	// the image again so that the next pull must download it.
	pull := func(t *testing.T, auth *runtimeapi.AuthConfig) {
		t.Helper()
		ref := pullChecked(t, images, img.Ref, auth)
		if err := images.RemoveImage(ctx(t), spec(ref)); err != nil {
			t.Fatalf("remove %s: %v", ref, err)
		}
	}

	t.Run("RegistryToken", func(t *testing.T) {
		tok, err := tokens.RegistryToken(reg.User, "repository:"+img.Repo+":pull")
		if err != nil {
			t.Fatal(err)
		}
		fetched := func() int {
			n := 0
			for _, g := range []string{framework.GrantBasic, framework.GrantAnonymous, framework.GrantRefreshToken, framework.GrantPassword} {
				n += tokens.Issued(g)
			}
			return n
		}
		before := fetched()
		pull(t, &runtimeapi.AuthConfig{RegistryToken: tok, ServerAddress: reg.Host})
		if after := fetched(); after != before {
			t.Errorf("the pull asked the token server for %d tokens; a registry token is to be used as it is", after-before)
		}
	})

	t.Run("IdentityToken", func(t *testing.T) {
		before := tokens.Issued(framework.GrantRefreshToken)
		pull(t, &runtimeapi.AuthConfig{IdentityToken: tokens.IdentityToken(), ServerAddress: reg.Host})
		if tokens.Issued(framework.GrantRefreshToken) == before {
			t.Errorf("the pull did not exchange the identity token at the token server")
		}
	})

	t.Run("BogusRegistryToken", func(t *testing.T) {
		// A token of the right form that no trusted key signed: the minted token's
		// signature is swapped for another token's.
		a, err := tokens.RegistryToken(reg.User, "repository:"+img.Repo+":pull")
		if err != nil {
			t.Fatal(err)
		}
		b, err := tokens.RegistryToken("someone-else", "repository:"+img.Repo+":pull")
		if err != nil {
			t.Fatal(err)
		}
		forged := a[:strings.LastIndex(a, ".")] + b[strings.LastIndex(b, "."):]
		for name, tok := range map[string]string{"garbage": "not-a-token", "forged": forged} {
			_, err := images.PullImage(ctx(t), spec(img.Ref), &runtimeapi.AuthConfig{RegistryToken: tok, ServerAddress: reg.Host}, nil)
			if err == nil {
				t.Fatalf("pull with a %s registry token succeeded", name)
			}
			if code := statusCode(err); code != codes.Unauthenticated && code != codes.PermissionDenied {
				t.Errorf("pull with a %s registry token: code %s (%v), want Unauthenticated or PermissionDenied", name, code, err)
			}
			if _, err := env.Docker.Client.ImageInspect(ctx(t), img.Ref); err == nil {
				t.Errorf("docker has %s after a pull with a %s registry token", img.Ref, name)
			}
		}
	})
}
