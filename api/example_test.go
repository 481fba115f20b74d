package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/edgesim/edgesim/api"
	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/store"
)

// Example starts the API on an in-memory store with the demo config and
// lists the seeded services with account A's global API key.
func Example() {
	srv, err := api.New(context.Background(), api.Options{Daemon: config.Demo(), Store: store.NewMemory(), Validator: api.AutoValid{}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	req, _ := http.NewRequest("GET", hs.URL+"/client/v4/accounts/258def64c72dae45f3e4c8516e2111f2/addressing/services", nil)
	req.Header.Set("X-Auth-Email", "owner@example.net")
	req.Header.Set("X-Auth-Key", "144c9defac04969c7bfad8efaa8ea194")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var env struct {
		Success bool             `json:"success"`
		Result  []config.Service `json:"result"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		panic(err)
	}
	fmt.Println(res.StatusCode, res.Header.Get("Content-Type"), env.Success)
	for _, s := range env.Result {
		fmt.Println(s.Name)
	}
	// Output:
	// 200 application/json true
	// Magic Transit
	// CDN
	// Spectrum
}
