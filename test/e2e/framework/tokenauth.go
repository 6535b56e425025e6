package framework

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// How a TokenServer issued a token, for Issued.
const (
	// GrantBasic is a GET of the realm with the user's password as basic auth.
	GrantBasic = "basic"
	// GrantAnonymous is a GET of the realm without credentials; its token grants nothing.
	GrantAnonymous = "anonymous"
	// GrantRefreshToken is an OAuth2 POST with grant_type=refresh_token: an identity token.
	GrantRefreshToken = "refresh_token"
	// GrantPassword is an OAuth2 POST with grant_type=password.
	GrantPassword = "password"
	// Minted is a token the test minted itself with RegistryToken.
	Minted = "minted"
)

// tokenTTL is how long the tokens a TokenServer signs are valid.
const tokenTTL = 10 * time.Minute

// TokenServer is an authorization server on 127.0.0.1 for registries with token auth,
// as Docker Hub's auth.docker.io is for Docker Hub: it speaks the registry token
// protocol (a GET of the realm with basic auth) and its OAuth2 form (a POST with a
// refresh or password grant), for one user. Its tokens are JWTs signed with ES256 by a
// key made at start, named in the JWT header by its libtrust key ID, which is how a
// registry that has the key's certificate in its rootcertbundle finds and trusts it.
type TokenServer struct {
	// Realm is the URL a registry sends its clients to for tokens.
	Realm string
	// Service and Issuer are the audience and issuer of the tokens; the registry checks
	// both.
	Service, Issuer string
	// User and Password are the one account the server knows.
	User, Password string
	// CertPath is the PEM certificate of the signing key, the registry's rootcertbundle.
	CertPath string

	key    *ecdsa.PrivateKey
	keyID  string
	server *http.Server

	mu sync.Mutex
	// identities are the identity (refresh) tokens issued, and whose they are.
	identities map[string]string
	issued     map[string]int
	log        []string
}

// StartTokenServer starts a token server for user on 127.0.0.1 and writes the
// certificate of its signing key into dir.
func StartTokenServer(dir, user, password string) (*TokenServer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	keyID, err := libtrustKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	der, err := selfSigned(key, "dockercri e2e token signer", true, nil)
	if err != nil {
		return nil, err
	}
	certPath := filepath.Join(dir, "token-signer.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ts := &TokenServer{
		Realm:      "http://" + l.Addr().String() + "/token",
		Service:    "dockercri-e2e-registry",
		Issuer:     "dockercri-e2e-token-server",
		User:       user,
		Password:   password,
		CertPath:   certPath,
		key:        key,
		keyID:      keyID,
		identities: map[string]string{},
		issued:     map[string]int{},
	}
	ts.server = &http.Server{Handler: http.HandlerFunc(ts.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ts.server.Serve(l) }()
	return ts, nil
}

// StartTokenRegistry starts a registry storing its data in dir with token auth, and the
// token server it trusts, for user. Pushes and pulls need a token from that server (or
// one that RegistryToken mints). The registry's Stop stops the token server too.
func StartTokenRegistry(dir, user, password string) (*Registry, *TokenServer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	ts, err := StartTokenServer(dir, user, password)
	if err != nil {
		return nil, nil, err
	}
	auth := fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
		ts.Realm, ts.Service, ts.Issuer, ts.CertPath)
	r, err := startRegistry(dir, user, password, auth)
	if err != nil {
		ts.Close()
		return nil, nil, err
	}
	r.tokens = ts
	return r, ts, nil
}

// Close stops the server.
func (ts *TokenServer) Close() { _ = ts.server.Close() }

// RegistryToken mints a bearer token for subject granting the scopes, each as a client
// asks for it ("repository:NAME:pull,push"), as the server would after a login.
func (ts *TokenServer) RegistryToken(subject string, scopes ...string) (string, error) {
	tok, err := ts.sign(subject, scopes)
	if err == nil {
		ts.record(Minted, "minted a token for %q, scopes %q", subject, scopes)
	}
	return tok, err
}

// IdentityToken issues an identity token for the server's user: the refresh token of
// the OAuth2 form, which a client exchanges for registry tokens without the password.
func (ts *TokenServer) IdentityToken() string {
	tok := randomHex(24)
	ts.mu.Lock()
	ts.identities[tok] = ts.User
	ts.mu.Unlock()
	return tok
}

// Issued is how many tokens the server has issued the way grant names (GrantBasic, …).
func (ts *TokenServer) Issued(grant string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issued[grant]
}

// Log is what the server did, a line a request, for failure messages.
func (ts *TokenServer) Log() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return strings.Join(ts.log, "\n")
}

func (ts *TokenServer) record(grant, format string, args ...any) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if grant != "" {
		ts.issued[grant]++
	}
	ts.log = append(ts.log, fmt.Sprintf(format, args...))
}

func (ts *TokenServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		ts.serveGet(w, r)
	case http.MethodPost:
		ts.servePost(w, r)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveGet is the token protocol's request: GET realm?service=…&scope=…, with the
// user's password as basic auth or without credentials (an anonymous token, granting
// nothing). With offline_token=true an authenticated client also gets a refresh token.
func (ts *TokenServer) serveGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("service") != ts.Service {
		ts.refuse(w, http.StatusBadRequest, "invalid_request", "unknown service %q", q.Get("service"))
		return
	}
	grant, subject, scopes := GrantAnonymous, "", []string(nil)
	if user, password, ok := r.BasicAuth(); ok {
		if !ts.checkPassword(user, password) {
			ts.refuse(w, http.StatusUnauthorized, "invalid_client", "wrong user or password for %q", user)
			return
		}
		grant, subject = GrantBasic, user
		for _, s := range q["scope"] {
			scopes = append(scopes, strings.Fields(s)...)
		}
	}
	tok, err := ts.sign(subject, scopes)
	if err != nil {
		ts.refuse(w, http.StatusInternalServerError, "server_error", "%v", err)
		return
	}
	resp := map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   int(tokenTTL.Seconds()),
		"issued_at":    time.Now().UTC().Format(time.RFC3339),
	}
	if subject != "" && q.Get("offline_token") == "true" {
		resp["refresh_token"] = ts.IdentityToken()
	}
	ts.record(grant, "GET %s subject %q scopes %q", grant, subject, scopes)
	writeJSON(w, http.StatusOK, resp)
}

// servePost is the OAuth2 form: a POST of grant_type=refresh_token (an identity token)
// or grant_type=password, with service and scope (space-separated).
func (ts *TokenServer) servePost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		ts.refuse(w, http.StatusBadRequest, "invalid_request", "%v", err)
		return
	}
	f := r.PostForm
	if f.Get("service") != ts.Service {
		ts.refuse(w, http.StatusBadRequest, "invalid_request", "unknown service %q", f.Get("service"))
		return
	}
	grant := f.Get("grant_type")
	var subject, refresh string
	switch grant {
	case GrantRefreshToken:
		refresh = f.Get("refresh_token")
		ts.mu.Lock()
		user, ok := ts.identities[refresh]
		ts.mu.Unlock()
		if !ok {
			ts.refuse(w, http.StatusBadRequest, "invalid_grant", "unknown refresh token")
			return
		}
		subject = user
	case GrantPassword:
		if !ts.checkPassword(f.Get("username"), f.Get("password")) {
			ts.refuse(w, http.StatusBadRequest, "invalid_grant", "wrong user or password for %q", f.Get("username"))
			return
		}
		subject = f.Get("username")
		if f.Get("access_type") == "offline" {
			refresh = ts.IdentityToken()
		}
	default:
		ts.refuse(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type %q", grant)
		return
	}
	scopes := strings.Fields(f.Get("scope"))
	tok, err := ts.sign(subject, scopes)
	if err != nil {
		ts.refuse(w, http.StatusInternalServerError, "server_error", "%v", err)
		return
	}
	resp := map[string]any{
		"access_token": tok,
		"expires_in":   int(tokenTTL.Seconds()),
		"issued_at":    time.Now().UTC().Format(time.RFC3339),
		"scope":        strings.Join(scopes, " "),
	}
	if refresh != "" {
		resp["refresh_token"] = refresh
	}
	ts.record(grant, "POST %s subject %q scopes %q", grant, subject, scopes)
	writeJSON(w, http.StatusOK, resp)
}

// refuse answers with an OAuth2 error; "details" is where Docker looks for the text.
func (ts *TokenServer) refuse(w http.ResponseWriter, code int, oauthErr, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	ts.record("", "refused (%d %s): %s", code, oauthErr, msg)
	writeJSON(w, code, map[string]string{"error": oauthErr, "error_description": msg, "details": msg})
}

func (ts *TokenServer) checkPassword(user, password string) bool {
	return ts.User != "" &&
		subtle.ConstantTimeCompare([]byte(user), []byte(ts.User)) == 1 &&
		subtle.ConstantTimeCompare([]byte(password), []byte(ts.Password)) == 1
}

// tokenAccess is a grant in a token's "access" claim.
type tokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// tokenClaims are the claims the registry reads from a token.
type tokenClaims struct {
	Issuer    string        `json:"iss"`
	Subject   string        `json:"sub"`
	Audience  string        `json:"aud"`
	Expires   int64         `json:"exp"`
	NotBefore int64         `json:"nbf"`
	IssuedAt  int64         `json:"iat"`
	ID        string        `json:"jti"`
	Access    []tokenAccess `json:"access"`
}

// sign makes a JWT for subject granting scopes, signed with ES256.
func (ts *TokenServer) sign(subject string, scopes []string) (string, error) {
	now := time.Now()
	claims := tokenClaims{
		Issuer:    ts.Issuer,
		Subject:   subject,
		Audience:  ts.Service,
		Expires:   now.Add(tokenTTL).Unix(),
		NotBefore: now.Add(-time.Second).Unix(),
		IssuedAt:  now.Unix(),
		ID:        randomHex(12),
		Access:    []tokenAccess{},
	}
	for _, s := range scopes {
		a, err := parseScope(s)
		if err != nil {
			return "", err
		}
		claims.Access = append(claims.Access, a)
	}
	header, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "ES256", "kid": ts.keyID})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(header) + "." + b64(body)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, digest[:])
	if err != nil {
		return "", err
	}
	// JWS's ES256 signature is R and S as 32 big-endian bytes each (RFC 7518 §3.4).
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig), nil
}

// parseScope reads "type:name:action,action"; the name may hold colons (a port).
func parseScope(scope string) (tokenAccess, error) {
	typ, rest, ok := strings.Cut(scope, ":")
	i := strings.LastIndex(rest, ":")
	if !ok || typ == "" || i <= 0 {
		return tokenAccess{}, fmt.Errorf("malformed scope %q", scope)
	}
	a := tokenAccess{Type: typ, Name: rest[:i]}
	for _, action := range strings.Split(rest[i+1:], ",") {
		if action != "" {
			a.Actions = append(a.Actions, action)
		}
	}
	if len(a.Actions) == 0 {
		return tokenAccess{}, fmt.Errorf("scope %q has no actions", scope)
	}
	return a, nil
}

// libtrustKeyID is a public key's ID as docker/libtrust makes it, and so as the
// registry names the keys of its rootcertbundle: the SHA-256 of the key's DER
// SubjectPublicKeyInfo cut to 240 bits, in base32, as 12 groups of 4 joined by ':'.
func libtrustKeyID(pub any) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	enc := base32.StdEncoding.EncodeToString(sum[:30])
	if len(enc) != 48 {
		return "", errors.New("libtrust key ID: unexpected length")
	}
	groups := make([]string, 0, 12)
	for i := 0; i < len(enc); i += 4 {
		groups = append(groups, enc[i:i+4])
	}
	return strings.Join(groups, ":"), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
