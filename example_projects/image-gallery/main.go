// Command image-gallery is a small web app in the style of the "image
// gallery" example from Learn Docker in a Month of Lunches: it fetches the
// image of the day from an API, records a hit in an access-log service and
// renders an HTML page. It uses only the Go standard library.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

const (
	defaultImageAPIURL  = "http://iotd/image"
	defaultAccessAPIURL = "http://accesslog/access-log"
	defaultPort         = "80"
	templateFile        = "index.html"
	clientTimeout       = 5 * time.Second
)

// Image is the JSON document returned by the image-of-the-day API.
type Image struct {
	URL       string `json:"url"`
	Caption   string `json:"caption"`
	Copyright string `json:"copyright"`
}

// AccessLog is the JSON document posted to the access-log API.
type AccessLog struct {
	Path   string `json:"path"`
	Client string `json:"client"`
}

// App holds the configuration and dependencies of the web app.
type App struct {
	ImageAPIURL  string
	AccessAPIURL string
	Template     *template.Template
	Client       *http.Client
	Logger       *log.Logger
}

func getenv(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// fetchImage GETs and decodes the image-of-the-day JSON.
func (a *App) fetchImage() (*Image, error) {
	resp, err := a.Client.Get(a.ImageAPIURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("unexpected status %s: %q", resp.Status, body)
	}
	var img Image
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&img); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return &img, nil
}

// postAccess records a hit in the access-log API.
func (a *App) postAccess(path string) error {
	body, err := json.Marshal(AccessLog{Path: path, Client: "image-gallery"})
	if err != nil {
		return err
	}
	resp, err := a.Client.Post(a.AccessAPIURL, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("unexpected status %s", resp.Status)
	}
	return nil
}

func (a *App) handleIndex(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	img, err := a.fetchImage()
	if err != nil {
		a.Logger.Printf("image API %s failed: %v", a.ImageAPIURL, err)
		// Plain text, so the upstream URL and error are readable verbatim
		// (no HTML escaping) by a person or a test.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "502 Bad Gateway: image API %s failed: %v\n", a.ImageAPIURL, err)
		return
	}

	if err := a.postAccess(r.URL.Path); err != nil {
		a.Logger.Printf("access log API %s failed: %v", a.AccessAPIURL, err)
	}

	var buf bytes.Buffer
	if err := a.Template.Execute(&buf, img); err != nil {
		a.Logger.Printf("template error: %v", err)
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok")
}

// statusRecorder captures the response status for request logging.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		a.Logger.Printf("%s %s %s -> %d (%s)", r.RemoteAddr, r.Method, r.URL.RequestURI(),
			rec.status, time.Since(start).Round(time.Millisecond))
	})
}

// Handler returns the app's HTTP handler, with request logging.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", a.handleIndex)
	mux.HandleFunc("/health", handleHealth)
	return a.logRequests(mux)
}

func main() {
	logger := log.New(os.Stdout, "", log.LstdFlags)

	tmpl, err := template.ParseFiles(templateFile)
	if err != nil {
		wd, _ := os.Getwd()
		logger.Fatalf("cannot load template %s from working directory %s: %v", templateFile, wd, err)
	}

	app := &App{
		ImageAPIURL:  getenv("IMAGE_API_URL", defaultImageAPIURL),
		AccessAPIURL: getenv("ACCESS_API_URL", defaultAccessAPIURL),
		Template:     tmpl,
		Client:       &http.Client{Timeout: clientTimeout},
		Logger:       logger,
	}
	port := getenv("PORT", defaultPort)

	logger.Printf("image API: %s; access log API: %s", app.ImageAPIURL, app.AccessAPIURL)
	logger.Printf("image-gallery listening on port %s", port)
	srv := &http.Server{
		Addr:              ":" + port,
		Handler:           app.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	logger.Fatal(srv.ListenAndServe())
}
