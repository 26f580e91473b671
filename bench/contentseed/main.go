// Command contentseed fills a fresh keel serve with the content that
// scripts/bench-content.sh loads: an administrator, a workspace and N
// published posts written through the management API, as an editor's
// client would write them.
//
// Each post has a title, one to three tags and a Markdown body of about
// 3 KB (headings, paragraphs with emphasis, links and inline code, a list,
// a quote). Its words follow a Zipf distribution over a vocabulary of
// common English function words and 20,000 made-up words, so that, as in
// real text, a few words are in every post and most are in few. The
// generator is seeded, so every run writes the same posts.
//
// Knowing what it wrote, it picks the search queries the benchmark cycles
// through: words and pairs of words that match between -min-match and
// -max-match of the posts under Keel's rule (every query word starts a word
// of the post), spread evenly on a log scale. It checks a few of them
// against the server's answer before it writes them out.
//
// Output, in -out: queries.txt (one URL-encoded q value a line) and
// post.txt (the slug of a post from the middle of the set). A summary goes
// to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/keelhq/keel/bench/internal/apiclient"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("base", "", "Keel's base URL, e.g. http://127.0.0.1:8080")
	ws := flag.String("workspace", "bench", "slug of the workspace to create")
	posts := flag.Int("posts", 10_000, "posts to write and publish")
	workers := flag.Int("concurrency", 8, "requests in flight while seeding")
	queries := flag.Int("queries", 200, "search queries to pick")
	minMatch := flag.Float64("min-match", 0.001, "smallest share of the posts a query may match")
	maxMatch := flag.Float64("max-match", 0.05, "largest share of the posts a query may match")
	seed := flag.Uint64("seed", 1, "seed of the text generator")
	out := flag.String("out", ".", "directory for queries.txt and post.txt")
	flag.Parse()
	if *base == "" || *posts < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "usage: contentseed -base URL [-posts N] [-concurrency N] [-queries N] [-out DIR]")
		os.Exit(2)
	}
	if err := run(context.Background(), config{
		base: strings.TrimRight(*base, "/"), ws: *ws, posts: *posts, workers: *workers, queries: *queries,
		minMatch: *minMatch, maxMatch: *maxMatch, seed: *seed, out: *out,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "contentseed:", err)
		os.Exit(1)
	}
}

type config struct {
	base, ws           string
	posts, workers     int
	queries            int
	minMatch, maxMatch float64
	seed               uint64
	out                string
}

func run(ctx context.Context, cfg config) error {
	c := &client{apiclient.Client{Base: cfg.base, HTTP: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.workers},
	}}}
	var setup struct {
		Token string `json:"token"`
	}
	if err := c.Call(ctx, http.MethodPost, "/v1/setup", map[string]string{
		"email": "bench@example.com", "password": "correct horse battery staple", "name": "Bench",
	}, &setup); err != nil {
		return err
	}
	c.Token = setup.Token
	if err := c.Call(ctx, http.MethodPost, "/v1/workspaces", map[string]string{"name": "Bench", "slug": cfg.ws}, nil); err != nil {
		return err
	}

	g := newGenerator(cfg.seed)
	all := make([]post, cfg.posts)
	var bodyBytes int
	for i := range all {
		all[i] = g.post(i)
		bodyBytes += len(all[i].Body)
	}

	start := time.Now()
	if err := c.publishAll(ctx, cfg, all); err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(os.Stderr, "contentseed: %d posts created and published in %.1fs (%.0f/s, %d in flight), Markdown body %.0f bytes on average\n",
		len(all), elapsed.Seconds(), float64(len(all))/elapsed.Seconds(), cfg.workers, float64(bodyBytes)/float64(len(all)))

	idx := newIndex(all)
	lo := int(math.Ceil(cfg.minMatch * float64(len(all))))
	hi := int(math.Floor(cfg.maxMatch * float64(len(all))))
	qs := idx.pickQueries(g.vocab, cfg.queries, lo, hi)
	if len(qs) == 0 {
		return fmt.Errorf("no query matches between %d and %d posts", lo, hi)
	}
	matches := make([]int, len(qs))
	for i, q := range qs {
		matches[i] = q.matches
	}
	slices.Sort(matches)
	fmt.Fprintf(os.Stderr, "contentseed: %d queries (%d of two words), matching %d to %d posts (median %d)\n",
		len(qs), countPairs(qs), matches[0], matches[len(matches)-1], matches[len(matches)/2])

	// Check a spread of queries against the server's own count: the
	// figures mean little if the search finds something else.
	for i := 0; i < len(qs); i += max(1, len(qs)/8) {
		got, err := c.countSearch(ctx, cfg.ws, qs[i].text)
		if err != nil {
			return err
		}
		if got != qs[i].matches {
			return fmt.Errorf("query %q: the server finds %d posts, the generator counted %d", qs[i].text, got, qs[i].matches)
		}
	}

	var b strings.Builder
	for _, q := range qs {
		b.WriteString(url.QueryEscape(q.text))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "queries.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cfg.out, "post.txt"), []byte(all[len(all)/2].Slug+"\n"), 0o644)
}

func countPairs(qs []query) int {
	n := 0
	for _, q := range qs {
		if strings.Contains(q.text, " ") {
			n++
		}
	}
	return n
}

// --- The management API.

// client is the API client the seeding methods hang on.
type client struct{ apiclient.Client }

// publishAll creates and publishes every post, cfg.workers at a time.
func (c *client) publishAll(ctx context.Context, cfg config, all []post) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(all) || ctx.Err() != nil {
					return
				}
				if err := c.publish(ctx, cfg.ws, all[i]); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

func (c *client) publish(ctx context.Context, ws string, p post) error {
	var created struct {
		ID string `json:"id"`
	}
	if err := c.Call(ctx, http.MethodPost, "/v1/workspaces/"+ws+"/entries", map[string]any{
		"kind": "post", "title": p.Title, "slug": p.Slug, "body": p.Body, "tags": p.Tags,
	}, &created); err != nil {
		return err
	}
	return c.Call(ctx, http.MethodPost, "/v1/workspaces/"+ws+"/entries/"+created.ID+"/publish", nil, nil)
}

// countSearch pages through the public search for q and counts the posts.
func (c *client) countSearch(ctx context.Context, ws, q string) (int, error) {
	n, cursor := 0, ""
	for {
		path := "/v1/sites/" + ws + "/posts?limit=200&q=" + url.QueryEscape(q)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Data       []json.RawMessage `json:"data"`
			NextCursor *string           `json:"next_cursor"`
		}
		if err := c.Call(ctx, http.MethodGet, path, nil, &page); err != nil {
			return 0, err
		}
		n += len(page.Data)
		if page.NextCursor == nil {
			return n, nil
		}
		cursor = *page.NextCursor
	}
}

// --- The text.

type post struct {
	Title, Slug, Body string
	Tags              []string
	words             []string // every word the post's search text holds
}

// functionWords head the distribution: together they are about 40% of
// the words of each post, as in English prose.
var functionWords = strings.Fields(`the of and to a in is that it for was on as with be by
	at this are from or an have not but they which one you all were we can there their has more
	when will would if so what about out up into than them some could other its only also then`)

var tagNames = strings.Fields(`go databases performance design release notes security http
	caching search sqlite postgres testing operations frontend api tutorial announcement
	deployment monitoring accessibility mobile documentation community roadmap`)

type generator struct {
	r     *rand.Rand
	vocab []string // made-up words, most frequent first
	zipf  *rand.Zipf
	fzipf *rand.Zipf
}

func newGenerator(seed uint64) *generator {
	r := rand.New(rand.NewPCG(seed, 0x6b65656c))
	g := &generator{r: r, vocab: makeWords(r, 20_000)}
	g.zipf = rand.NewZipf(r, 1.1, 2, uint64(len(g.vocab)-1))
	g.fzipf = rand.NewZipf(r, 1.01, 2, uint64(len(functionWords)-1)) // "the": 5% of all words
	return g
}

// makeWords makes n distinct pronounceable words of one to three
// syllables, none a function word.
func makeWords(r *rand.Rand, n int) []string {
	onsets := strings.Fields("b br c ch cl d dr f fl g gr h j k l m n p pl pr r s sh st t tr v w z")
	vowels := strings.Fields("a e i o u a e i o ai ea ou io")
	codas := []string{"", "", "", "", "", "n", "r", "s", "l", "t", "m", "nd", "st"}
	seen := map[string]bool{}
	for _, w := range functionWords {
		seen[w] = true
	}
	out := make([]string, 0, n)
	for len(out) < n {
		var b strings.Builder
		syllables := 1 + r.IntN(3)
		if syllables == 1 && r.IntN(2) == 0 {
			syllables = 2 // one word in six has one syllable, half have two
		}
		for range syllables {
			b.WriteString(onsets[r.IntN(len(onsets))])
			b.WriteString(vowels[r.IntN(len(vowels))])
			b.WriteString(codas[r.IntN(len(codas))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

func (g *generator) word() string {
	if g.r.IntN(100) < 40 {
		return functionWords[g.fzipf.Uint64()]
	}
	return g.vocab[g.zipf.Uint64()]
}

// words appends n words to p's list and returns them as a phrase.
func (g *generator) words(p *post, n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = g.word()
	}
	p.words = append(p.words, ws...)
	return strings.Join(ws, " ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// sentence is 6 to 20 words, with now and then a bold, italic or code
// span, or a link (whose URL holds no word Keel indexes).
func (g *generator) sentence(p *post) string {
	n := 6 + g.r.IntN(15)
	var parts []string
	for n > 0 {
		k := min(n, 1+g.r.IntN(4))
		phrase := g.words(p, k)
		switch g.r.IntN(30) {
		case 0:
			phrase = "**" + phrase + "**"
		case 1:
			phrase = "*" + phrase + "*"
		case 2:
			phrase = "`" + phrase + "`"
		case 3:
			phrase = "[" + phrase + "](https://example.com/" + fmt.Sprint(g.r.IntN(1000)) + ")"
		}
		parts = append(parts, phrase)
		n -= k
	}
	return capitalize(strings.Join(parts, " ")) + "."
}

func (g *generator) paragraph(p *post) string {
	var ss []string
	for range 2 + g.r.IntN(4) {
		ss = append(ss, g.sentence(p))
	}
	return strings.Join(ss, " ")
}

// post writes post number i: about 3 KB of Markdown.
func (g *generator) post(i int) post {
	var p post
	p.Title = capitalize(g.words(&p, 3+g.r.IntN(5)))
	p.Slug = strings.ReplaceAll(p.Title, " ", "-")
	p.Slug = strings.ToLower(p.Slug) + "-" + fmt.Sprint(i+1)
	for range 1 + g.r.IntN(3) {
		if t := tagNames[g.r.IntN(len(tagNames))]; !slices.Contains(p.Tags, t) {
			p.Tags = append(p.Tags, t)
			p.words = append(p.words, t)
		}
	}
	var b strings.Builder
	b.WriteString(g.paragraph(&p))
	for b.Len() < 2900 {
		b.WriteString("\n\n")
		switch g.r.IntN(6) {
		case 0:
			b.WriteString("## " + capitalize(g.words(&p, 2+g.r.IntN(4))))
		case 1:
			for j := range 3 + g.r.IntN(3) {
				if j > 0 {
					b.WriteByte('\n')
				}
				b.WriteString("- " + capitalize(g.words(&p, 3+g.r.IntN(6))))
			}
		case 2:
			b.WriteString("> " + g.sentence(&p))
		default:
			b.WriteString(g.paragraph(&p))
		}
	}
	b.WriteByte('\n')
	p.Body = b.String()
	return p
}

// --- Choosing the queries.

// index holds, for each distinct word, the posts it appears in.
type index struct {
	posts  map[string][]int32 // word → ascending post numbers
	sorted []string           // the words, sorted, for prefix ranges
}

func newIndex(all []post) *index {
	idx := &index{posts: map[string][]int32{}}
	for i, p := range all {
		seen := map[string]bool{}
		for _, w := range p.words {
			if !seen[w] {
				seen[w] = true
				idx.posts[w] = append(idx.posts[w], int32(i))
			}
		}
	}
	for w := range idx.posts {
		idx.sorted = append(idx.sorted, w)
	}
	sort.Strings(idx.sorted)
	return idx
}

// matching returns the posts with a word that starts with q, ascending.
func (idx *index) matching(q string) []int32 {
	i := sort.SearchStrings(idx.sorted, q)
	var lists [][]int32
	for ; i < len(idx.sorted) && strings.HasPrefix(idx.sorted[i], q); i++ {
		lists = append(lists, idx.posts[idx.sorted[i]])
	}
	if len(lists) == 1 {
		return lists[0]
	}
	var out []int32
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func intersect(a, b []int32) []int32 {
	var out []int32
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

type query struct {
	text    string
	matches int
}

// pickQueries returns n queries matching lo to hi posts each: four in
// five single words, the rest pairs of more common words, chosen evenly
// along the log of their match count so that rare and common ones mix.
func (idx *index) pickQueries(vocab []string, n, lo, hi int) []query {
	var singles, pairs []query
	var common []string // words in hi to 4·hi posts: pairs of them match fewer
	for _, w := range vocab {
		m := len(idx.matching(w))
		switch {
		case m >= lo && m <= hi:
			singles = append(singles, query{w, m})
		case m > hi && m <= 4*hi:
			common = append(common, w)
		}
	}
	for i := 0; i+1 < len(common) && len(pairs) < 4*n; i += 2 {
		m := len(intersect(idx.matching(common[i]), idx.matching(common[i+1])))
		if m >= lo && m <= hi {
			pairs = append(pairs, query{common[i] + " " + common[i+1], m})
		}
	}
	nPairs := min(n/5, len(pairs))
	out := append(spread(singles, n-nPairs, lo, hi), spread(pairs, nPairs, lo, hi)...)
	// Interleave rare and common queries in the file's order, which is
	// the order wrk asks them in.
	r := rand.New(rand.NewPCG(7, 7))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// spread picks n of qs whose match counts are evenly spaced on a log
// scale from lo to hi, each query at most once.
func spread(qs []query, n, lo, hi int) []query {
	if n <= 0 || len(qs) == 0 {
		return nil
	}
	slices.SortStableFunc(qs, func(a, b query) int { return a.matches - b.matches })
	used := make([]bool, len(qs))
	var out []query
	for k := range n {
		target := float64(lo) * math.Pow(float64(hi)/float64(lo), (float64(k)+0.5)/float64(n))
		i := sort.Search(len(qs), func(i int) bool { return float64(qs[i].matches) >= target })
		// The nearest unused query to the target, looking both ways.
		best := -1
		for d := 0; best < 0 && d < len(qs); d++ {
			for _, j := range []int{i - d, i + d} {
				if j >= 0 && j < len(qs) && !used[j] {
					best = j
					break
				}
			}
		}
		if best < 0 {
			break
		}
		used[best] = true
		out = append(out, qs[best])
	}
	return out
}
