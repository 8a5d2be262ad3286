// Mints interop vectors with golang-jwt (the library of VideoSDK's Go token server)
// for Tests/AdmitTokenTests/Vectors/golang-jwt.json.
//
// From the repository root:
//   GO111MODULE=off GOPATH=/usr/share/gocode go run scripts/vectors/golang/main.go
package main

import (
	"encoding/json"
	"os"

	"github.com/golang-jwt/jwt"
)

const (
	now    = 1795965000
	iat    = 1795960000
	secret = "8f2a5c0b1d9e4f7a6b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
	apiKey = "1b7f3e0c-4f5d-4d3a-9a51-7c9e2a6f0b42"
)

type vector struct {
	Name   string      `json:"name"`
	Secret string      `json:"secret"`
	Token  string      `json:"token"`
	Expect interface{} `json:"expect"`
	Claims interface{} `json:"claims"`
}

func seed() jwt.MapClaims {
	return jwt.MapClaims{
		"apikey":        apiKey,
		"permissions":   []string{"allow_join"},
		"version":       2,
		"roomId":        "2kyv-gzay-64pg",
		"participantId": "lxvdplwt",
		"roles":         []string{"crawler", "rtc"},
		"iat":           iat,
		"exp":           iat + 7200,
	}
}

func sign(method jwt.SigningMethod, claims jwt.MapClaims) string {
	token, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		panic(err)
	}
	return token
}

func main() {
	var vectors []vector
	valid := func(name string, claims jwt.MapClaims) {
		vectors = append(vectors, vector{name, secret, sign(jwt.SigningMethodHS256, claims), "valid", claims})
	}
	invalid := func(name, token string, code int, reason string) {
		vectors = append(vectors, vector{name, secret, token, map[string]interface{}{"code": code, "reason": reason}, nil})
	}

	valid("seed payload with every optional claim", seed())
	modJoin := seed()
	modJoin["permissions"] = []string{"allow_join", "allow_mod"}
	valid("allow_join with allow_mod", modJoin)
	minimal := jwt.MapClaims{"apikey": apiKey, "permissions": []string{"ask_join"}, "exp": iat + 7200}
	valid("minimal ask_join", minimal)

	expired := seed()
	expired["exp"] = now - 3600
	invalid("expired an hour ago", sign(jwt.SigningMethodHS256, expired), 4002, "expired")
	invalid("HS512", sign(jwt.SigningMethodHS512, seed()), 4002, "algorithm")
	noVersion := seed()
	delete(noVersion, "version")
	invalid("v2 claims without version", sign(jwt.SigningMethodHS256, noVersion), 4002, "version-required")
	mixed := seed()
	mixed["permissions"] = []string{"ask_join", "allow_mod"}
	invalid("ask_join with allow_mod", sign(jwt.SigningMethodHS256, mixed), 4008, "permissions")
	badRole := seed()
	badRole["roles"] = []string{"admin"}
	invalid("unknown role", sign(jwt.SigningMethodHS256, badRole), 4002, "roles")

	out := map[string]interface{}{"library": "golang-jwt (Debian golang-github-golang-jwt-jwt-dev)", "now": now, "apiKey": apiKey, "vectors": vectors}
	file, err := os.Create("Tests/AdmitTokenTests/Vectors/golang-jwt.json")
	if err != nil {
		panic(err)
	}
	encoder := json.NewEncoder(file)
	encoder.SetIndent("", " ")
	if err := encoder.Encode(out); err != nil {
		panic(err)
	}
}
