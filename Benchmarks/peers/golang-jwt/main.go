// golang-jwt sign/s and verify/s on the seed's payload, one goroutine, for Benchmarks/run.sh.
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build
package main

import (
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/golang-jwt/jwt"
)

func rate(body func()) float64 {
	var rates []float64
	for run := 0; run < 5; run++ {
		count := 0
		start := time.Now()
		for {
			for i := 0; i < 1000; i++ {
				body()
			}
			count += 1000
			if time.Since(start) >= 400*time.Millisecond {
				break
			}
		}
		rates = append(rates, float64(count)/time.Since(start).Seconds())
	}
	sort.Float64s(rates)
	return rates[2]
}

func main() {
	secret := []byte(os.Args[1])
	now := time.Now().Unix()
	claims := jwt.MapClaims{
		"apikey": os.Args[2], "permissions": []string{"allow_join"}, "version": 2,
		"roomId": "2kyv-gzay-64pg", "participantId": "lxvdplwt", "roles": []string{"crawler", "rtc"},
		"iat": now, "exp": now + 7200,
	}
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	keyFunc := func(t *jwt.Token) (interface{}, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected alg")
		}
		return secret, nil
	}
	fmt.Printf("golang-jwt verify/s %.0f\n", rate(func() {
		if _, err := jwt.Parse(token, keyFunc); err != nil {
			panic(err)
		}
	}))
	fmt.Printf("golang-jwt sign/s %.0f\n", rate(func() {
		jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	}))
}
