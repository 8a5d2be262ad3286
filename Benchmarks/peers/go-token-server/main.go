// A stand-in for VideoSDK's official Go token server: net/http answering /get-token
// with the same claims Admit's dev mode signs, using golang-jwt. For Benchmarks/server.sh.
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -o go-token-server .
package main

import (
	"encoding/json"
	"net/http"
	"os"
	"time"

	"github.com/golang-jwt/jwt"
)

func main() {
	apiKey, secret, addr := os.Args[1], []byte(os.Args[2]), os.Args[3]
	http.HandleFunc("/get-token", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().Unix()
		claims := jwt.MapClaims{
			"apikey": apiKey, "permissions": []string{"allow_join", "allow_mod"}, "iat": now, "exp": now + 7200,
		}
		if room := r.URL.Query().Get("roomId"); room != "" {
			claims["version"] = 2
			claims["roomId"] = room
			claims["roles"] = []string{"rtc"}
		}
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"token": token})
	})
	if err := http.ListenAndServe(addr, nil); err != nil {
		panic(err)
	}
}
