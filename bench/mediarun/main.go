// Command mediarun is the client of scripts/bench-media.sh, the media
// figures of issue 16. It has two commands.
//
// setup writes the files the benchmark uses into -dir, all generated from
// a fixed seed so that every run sends the same bytes: photo.jpg (a
// 1600×1200 photo-like JPEG), file5m.pdf (5 MiB: a PDF header and seeded
// random bytes, which the media library stores as they come), file5m.jpg
// (a JPEG of noise of about 5 MB, which goes through the metadata
// stripper as a photo does) and file50m.pdf (50 MiB). It then creates an
// administrator and a workspace through the API (/v1/setup,
// /v1/workspaces), uploads photo.jpg, fetches each of its variants once,
// which makes and stores them, and writes to -dir the request URI of the
// variant closest to -variant-bytes (variant.uri) and the session token
// (token).
//
// uploads times uploads through the media API against copies on the same
// disk (cp then sync FILE, dd conv=fsync, and the same copy and fsync in
// this process, which leaves out starting cp), and reads the server's resident memory (-pid) around concurrent
// uploads; it prints the report's Markdown on stdout. Every upload is a
// raw body (?name=) from a file opened for it, as a client uploading from
// disk sends it; every answer must be 201.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/keelhq/keel/bench/internal/apiclient"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	base := fs.String("base", "", "Keel's base URL, e.g. http://127.0.0.1:8080")
	dir := fs.String("dir", "", "directory for the generated files and the outputs")
	ws := fs.String("workspace", "bench", "slug of the workspace")
	variantBytes := fs.Int("variant-bytes", 50_000, "setup: size of the variant to pick")
	pid := fs.Int("pid", 0, "uploads: the server's process ID")
	runs := fs.Int("runs", 11, "uploads: timed uploads of each file, and as many copies")
	concurrent := fs.Int("concurrent", 20, "uploads: uploads in flight at once in the memory runs")
	copyDir := fs.String("copy-dir", "", "uploads: directory for cp's copies, on the disk Keel writes to")
	_ = fs.Parse(os.Args[2:])
	if *base == "" || *dir == "" {
		usage()
	}
	c := &client{ws: *ws, Client: apiclient.Client{Base: strings.TrimRight(*base, "/"), HTTP: &http.Client{
		Timeout:   5 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}}}
	var err error
	switch os.Args[1] {
	case "setup":
		err = setup(context.Background(), c, *dir, *variantBytes)
	case "uploads":
		if *pid == 0 || *copyDir == "" {
			usage()
		}
		if b, rerr := os.ReadFile(filepath.Join(*dir, "token")); rerr == nil {
			c.Token = strings.TrimSpace(string(b))
		}
		err = uploads(context.Background(), c, *dir, *copyDir, *pid, *runs, *concurrent)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mediarun:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mediarun setup -base URL -dir DIR [-variant-bytes N]\n"+
		"       mediarun uploads -base URL -dir DIR -copy-dir DIR -pid PID [-runs N] [-concurrent N]")
	os.Exit(2)
}

// --- setup

func setup(ctx context.Context, c *client, dir string, variantBytes int) error {
	rng := rand.New(rand.NewPCG(16, 5))
	photo, err := encodeJPEG(photoImage(rng, 1600, 1200), 90)
	if err != nil {
		return err
	}
	noise, err := encodeJPEG(noiseImage(rng, 2200, 1650), 97)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"photo.jpg":   photo,
		"file5m.jpg":  noise,
		"file5m.pdf":  pdfBytes(rng, 5<<20),
		"file50m.pdf": pdfBytes(rng, 50<<20),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	logf("files: photo.jpg %d bytes (1600×1200), file5m.pdf %d bytes, file5m.jpg %d bytes (2200×1650 noise), file50m.pdf %d bytes",
		len(photo), len(files["file5m.pdf"]), len(noise), len(files["file50m.pdf"]))

	var s struct {
		Token string `json:"token"`
	}
	if err := c.Call(ctx, http.MethodPost, "/v1/setup", map[string]string{
		"email": "bench@example.com", "password": "correct horse battery staple", "name": "Bench",
	}, &s); err != nil {
		return err
	}
	c.Token = s.Token
	if err := c.Call(ctx, http.MethodPost, "/v1/workspaces", map[string]string{"name": "Bench", "slug": c.ws}, nil); err != nil {
		return err
	}
	m, _, err := c.upload(ctx, filepath.Join(dir, "photo.jpg"), "photo.jpg")
	if err != nil {
		return err
	}
	// Each variant is made by its first request; the one closest to the
	// wanted size is the one the load asks for.
	best, bestSize := "", -1
	for _, v := range m.Variants {
		uri := strings.TrimPrefix(v.URL, c.Base)
		if !strings.HasPrefix(uri, "/") {
			uri = v.URL[strings.Index(v.URL, "/v1/"):]
		}
		n, err := c.get(ctx, uri)
		if err != nil {
			return err
		}
		logf("variant %d px wide: %d bytes", v.Width, n)
		if best == "" || abs(n-variantBytes) < abs(bestSize-variantBytes) {
			best, bestSize = uri, n
		}
	}
	if best == "" {
		return errors.New("the photo has no variants")
	}
	logf("variant under load: %s, %d bytes", best, bestSize)
	if err := os.WriteFile(filepath.Join(dir, "variant.uri"), []byte(best+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "token"), []byte(c.Token+"\n"), 0o600)
}

func abs(n int) int { return max(n, -n) }

// photoImage draws smooth gradients, soft discs and a little grain: a JPEG
// of it compresses about as a photograph does, unlike a flat colour or
// pure noise.
func photoImage(rng *rand.Rand, w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	type disc struct{ x, y, r, cr, cg, cb float64 }
	discs := make([]disc, 40)
	for i := range discs {
		discs[i] = disc{rng.Float64() * float64(w), rng.Float64() * float64(h), 40 + rng.Float64()*260,
			rng.Float64() * 255, rng.Float64() * 255, rng.Float64() * 255}
	}
	for y := range h {
		for x := range w {
			r := 80 + 100*float64(x)/float64(w)
			g := 120 + 60*math.Sin(float64(y)/90)
			b := 150 + 80*float64(y)/float64(h)
			for _, d := range discs {
				dx, dy := float64(x)-d.x, float64(y)-d.y
				if k := 1 - math.Sqrt(dx*dx+dy*dy)/d.r; k > 0 {
					r, g, b = r+(d.cr-r)*k*0.8, g+(d.cg-g)*k*0.8, b+(d.cb-b)*k*0.8
				}
			}
			// Fine texture, as foliage or fabric has, survives the
			// scaling down that grain does not.
			t := 14 * math.Sin(float64(x)/3.1+3*math.Sin(float64(y)/40)) * math.Sin(float64(y)/4.3)
			n := rng.NormFloat64()*6 + t
			img.SetRGBA(x, y, color.RGBA{clamp(r + n), clamp(g + n), clamp(b + n), 255})
		}
	}
	return img
}

// noiseImage is random pixels, which JPEG cannot compress: a large file
// from a small image.
func noiseImage(rng *rand.Rand, w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	return img
}

func clamp(v float64) uint8 { return uint8(max(0, min(255, v))) }

func encodeJPEG(img image.Image, quality int) ([]byte, error) {
	var b bytes.Buffer
	err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality})
	return b.Bytes(), err
}

// pdfBytes is a PDF header and seeded random bytes: the media library
// sniffs a PDF from its first bytes and stores the rest as it comes.
func pdfBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	copy(b, "%PDF-1.7\n")
	return b
}

// --- uploads

func uploads(ctx context.Context, c *client, dir, copyDir string, pid, runs, concurrent int) error {
	fmt.Println("### Uploads against cp")
	fmt.Println()
	fmt.Printf("Median of %d runs each; the runs of a row and of its cp alternate, so background load hits both alike.\n", runs)
	fmt.Println()
	fmt.Println("| File | Keel upload: median (min–max) | cp + sync FILE: median (min–max) | Keel ÷ cp | dd conv=fsync | Keel ÷ dd | copy + fsync in process | Keel ÷ that |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, name := range []string{"file5m.pdf", "file5m.jpg"} {
		src := filepath.Join(dir, name)
		var keel, cp, dd, inproc []time.Duration
		for i := range runs {
			dst := filepath.Join(copyDir, fmt.Sprintf("copy-%d", i))
			t, err := timed(func() error { _, _, err := c.upload(ctx, src, name); return err })
			if err != nil {
				return err
			}
			keel = append(keel, t)
			t, err = timed(func() error { return run("sh", "-c", `cp "$1" "$2" && sync "$2"`, "sh", src, dst) })
			if err != nil {
				return err
			}
			cp = append(cp, t)
			t, err = timed(func() error {
				return run("dd", "if="+src, "of="+dst+".dd", "bs=1M", "conv=fsync", "status=none")
			})
			if err != nil {
				return err
			}
			dd = append(dd, t)
			t, err = timed(func() error { return copySync(src, dst+".go") })
			if err != nil {
				return err
			}
			inproc = append(inproc, t)
			_ = os.Remove(dst)
			_ = os.Remove(dst + ".dd")
			_ = os.Remove(dst + ".go")
		}
		size := fileSize(src)
		fmt.Printf("| %s (%.2f MB) | %s | %s | %.2f | %s | %.2f | %s | %.2f |\n", name, float64(size)/1e6,
			spread(keel), spread(cp), ratio(keel, cp), ms(median(dd)), ratio(keel, dd), ms(median(inproc)), ratio(keel, inproc))
		// For the script's targets table.
		logf("result upload %s %.2f", name, ratio(keel, cp))
	}
	fmt.Println()

	fmt.Println("### Resident memory of keel serve during uploads")
	fmt.Println()
	fmt.Println("VmRSS before, the peak (VmHWM, reset through /proc/PID/clear_refs before each row, and the largest VmRSS sampled every millisecond), and VmRSS once the last answer arrived.")
	fmt.Println()
	fmt.Println("| Load | Bytes in flight | Wall time | RSS before | Peak RSS (HWM / sampled) | Peak − before | RSS after |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	type load struct {
		label, file string
		n           int
	}
	for _, l := range []load{
		{fmt.Sprintf("%d concurrent uploads of file5m.pdf", concurrent), "file5m.pdf", concurrent},
		{fmt.Sprintf("%d concurrent uploads of file5m.jpg (metadata stripped)", concurrent), "file5m.jpg", concurrent},
		{"1 upload of file50m.pdf", "file50m.pdf", 1},
	} {
		src := filepath.Join(dir, l.file)
		before, err := status(pid, "VmRSS")
		if err != nil {
			return err
		}
		hwmReset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
		var peak atomic.Int64
		peak.Store(before)
		done := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if v, err := status(pid, "VmRSS"); err == nil && v > peak.Load() {
						peak.Store(v)
					}
				}
			}
		}()
		start := time.Now()
		errs := make(chan error, l.n)
		var wg sync.WaitGroup
		for range l.n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := c.upload(ctx, src, l.file)
				errs <- err
			}()
		}
		wg.Wait()
		wall := time.Since(start)
		close(done)
		sampler.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		after, err := status(pid, "VmRSS")
		if err != nil {
			return err
		}
		hwm := "n/a"
		top := peak.Load()
		if hwmReset {
			if v, err := status(pid, "VmHWM"); err == nil {
				hwm = mb(v)
				top = max(top, v)
			}
		}
		fmt.Printf("| %s | %s | %s | %s | %s / %s | %s | %s |\n", l.label, mb(int64(l.n)*fileSize(src)), ms(wall),
			mb(before), hwm, mb(peak.Load()), mb(top-before), mb(after))
		logf("result memory %s %d %d %d", l.file, l.n, top-before, int64(l.n)*fileSize(src))
	}
	return nil
}

// copySync is what cp and sync do, without starting either: a copy of
// the file (io.Copy, which uses copy_file_range on Linux, as cp does), then
// an fsync of the copy.
func copySync(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, out)
	}
	return nil
}

// status reads a field of /proc/PID/status in bytes.
func status(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func spread(d []time.Duration) string {
	return fmt.Sprintf("%s (%s–%s)", ms(median(d)), ms(slices.Min(d)), ms(slices.Max(d)))
}

func ratio(a, b []time.Duration) float64 { return float64(median(a)) / float64(median(b)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "mediarun: "+format+"\n", args...) }

// --- The API.

// client is the API client with the workspace the run uses.
type client struct {
	apiclient.Client
	ws string
}

type mediaResponse struct {
	ID       string `json:"id"`
	Size     int64  `json:"size"`
	Variants []struct {
		Width int    `json:"width"`
		URL   string `json:"url"`
	} `json:"variants"`
}

// upload sends the file at path as a raw body and wants 201.
func (c *client) upload(ctx context.Context, path, name string) (mediaResponse, time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return mediaResponse{}, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return mediaResponse{}, 0, err
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/v1/workspaces/"+c.ws+"/media?name="+name, f)
	if err != nil {
		return mediaResponse{}, 0, err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return mediaResponse{}, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return mediaResponse{}, 0, err
	}
	if resp.StatusCode != http.StatusCreated {
		return mediaResponse{}, 0, fmt.Errorf("upload %s: %s: %s", name, resp.Status, bytes.TrimSpace(b))
	}
	var m mediaResponse
	return m, time.Since(start), json.Unmarshal(b, &m)
}

// get fetches uri and returns its body's length; anything but 200 is an error.
func (c *client) get(ctx context.Context, uri string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+uri, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s: %s", uri, resp.Status, bytes.TrimSpace(b))
	}
	return len(b), nil
}
