package main

import (
	"encoding/json"
	"html/template"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestApp(t *testing.T, imageURL, accessURL string) (*App, *strings.Builder) {
	t.Helper()
	tmpl, err := template.ParseFiles(templateFile)
	if err != nil {
		t.Fatalf("parse template: %v", err)
	}
	var logs strings.Builder
	return &App{
		ImageAPIURL:  imageURL,
		AccessAPIURL: accessURL,
		Template:     tmpl,
		Client:       &http.Client{Timeout: 2 * time.Second},
		Logger:       log.New(&logs, "", 0),
	}, &logs
}

func imageAPI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Image{
			URL:       "https://example.com/pic.jpg",
			Caption:   "Test <caption>",
			Copyright: "Test Author",
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestIndexRendersImageAndLogsAccess(t *testing.T) {
	var mu sync.Mutex
	var hits []AccessLog
	access := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a AccessLog
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&a) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		hits = append(hits, a)
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer access.Close()

	app, _ := newTestApp(t, imageAPI(t).URL, access.URL)
	code, body := get(t, app.Handler(), "/")
	if code != http.StatusOK {
		t.Fatalf("status = %d, body = %s", code, body)
	}
	for _, want := range []string{`<img src="https://example.com/pic.jpg"`, "Test &lt;caption&gt;", "Test Author"} {
		if !strings.Contains(body, want) {
			t.Errorf("body missing %q:\n%s", want, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 1 || hits[0] != (AccessLog{Path: "/", Client: "image-gallery"}) {
		t.Errorf("access log hits = %+v", hits)
	}
}

func TestIndexImageAPIFailureIs502(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/image"
	dead.Close()

	app, logs := newTestApp(t, deadURL, "http://127.0.0.1:1/access-log")
	code, body := get(t, app.Handler(), "/")
	if code != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", code)
	}
	if !strings.Contains(body, deadURL) {
		t.Errorf("502 page does not name %s:\n%s", deadURL, body)
	}
	if !strings.Contains(logs.String(), "image API") {
		t.Errorf("failure not logged: %s", logs.String())
	}
}

func TestIndexAccessLogFailureStillRenders(t *testing.T) {
	app, logs := newTestApp(t, imageAPI(t).URL, "http://127.0.0.1:1/access-log")
	code, body := get(t, app.Handler(), "/")
	if code != http.StatusOK {
		t.Fatalf("status = %d, body = %s", code, body)
	}
	if !strings.Contains(body, "Test Author") {
		t.Errorf("page not rendered:\n%s", body)
	}
	if !strings.Contains(logs.String(), "access log API") {
		t.Errorf("access-log failure not logged: %s", logs.String())
	}
}

func TestHealth(t *testing.T) {
	app, _ := newTestApp(t, "http://unused", "http://unused")
	code, body := get(t, app.Handler(), "/health")
	if code != http.StatusOK || body != "ok" {
		t.Fatalf("health = %d %q", code, body)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	app, _ := newTestApp(t, "http://unused", "http://unused")
	if code, _ := get(t, app.Handler(), "/nope"); code != http.StatusNotFound {
		t.Fatalf("status = %d, want 404", code)
	}
}
