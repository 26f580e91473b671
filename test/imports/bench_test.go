package imports

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchPosts is the size of the import: 10,000 posts from one WXR
// file, within 30 s on SQLite (make bench-import; BENCHMARKS.md).
const benchPosts = 10_000

// writeWXR writes a WordPress export of n published posts by five
// authors, each with a body of about 3 KB of the classic editor's HTML
// (paragraphs, a heading, a list, links, emphasis), two of twenty tags,
// one of five categories and a comment, as a blog's export has.
func writeWXR(t testing.TB, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
	<title>Bench</title><link>https://bench.example.com</link><wp:wxr_version>1.2</wp:wxr_version>
`)
	for a := range 5 {
		fmt.Fprintf(w, "\t<wp:author><wp:author_id>%d</wp:author_id><wp:author_login><![CDATA[author%d]]></wp:author_login><wp:author_email><![CDATA[author%d@bench.example]]></wp:author_email><wp:author_display_name><![CDATA[Author %d]]></wp:author_display_name></wp:author>\n", a+1, a, a, a)
	}
	for c := range 5 {
		fmt.Fprintf(w, "\t<wp:category><wp:term_id>%d</wp:term_id><wp:category_nicename><![CDATA[section-%d]]></wp:category_nicename><wp:cat_name><![CDATA[Section %d]]></wp:cat_name><wp:category_description><![CDATA[Posts of section %d.]]></wp:category_description></wp:category>\n", c+1, c, c, c)
	}
	for g := range 20 {
		fmt.Fprintf(w, "\t<wp:tag><wp:term_id>%d</wp:term_id><wp:tag_slug><![CDATA[topic-%d]]></wp:tag_slug><wp:tag_name><![CDATA[Topic %d]]></wp:tag_name></wp:tag>\n", g+100, g, g)
	}
	paragraph := strings.Repeat("The tide comes in twice a day, and the harbour fills with boats that wait for it. ", 6)
	start := time.Date(2012, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		date := start.Add(time.Duration(i) * 7 * time.Hour).Format("2006-01-02 15:04:05")
		fmt.Fprintf(w, `	<item>
		<title><![CDATA[Harbour notes, number %d]]></title>
		<link>https://bench.example.com/?p=%d</link>
		<dc:creator><![CDATA[author%d]]></dc:creator>
		<guid isPermaLink="false">https://bench.example.com/?p=%d</guid>
		<content:encoded><![CDATA[%s <strong>Note %d.</strong>

%s See <a href="https://bench.example.com/tides/%d">the tables</a>.

<h2>What to bring</h2>
<ul>
<li>A coat</li>
<li>Boots and <em>rope</em></li>
</ul>

%s

%s]]></content:encoded>
		<excerpt:encoded><![CDATA[]]></excerpt:encoded>
		<wp:post_id>%d</wp:post_id>
		<wp:post_date><![CDATA[%s]]></wp:post_date>
		<wp:post_date_gmt><![CDATA[%s]]></wp:post_date_gmt>
		<wp:post_name><![CDATA[harbour-notes-%d]]></wp:post_name>
		<wp:status><![CDATA[publish]]></wp:status>
		<wp:post_type><![CDATA[post]]></wp:post_type>
		<category domain="category" nicename="section-%d"><![CDATA[Section %d]]></category>
		<category domain="post_tag" nicename="topic-%d"><![CDATA[Topic %d]]></category>
		<category domain="post_tag" nicename="topic-%d"><![CDATA[Topic %d]]></category>
		<wp:comment><wp:comment_id>%d</wp:comment_id><wp:comment_content><![CDATA[Thanks.]]></wp:comment_content></wp:comment>
	</item>
`, i, i, i%5, i, paragraph, i, paragraph, i, paragraph, paragraph, i, date, date, i, i%5, i%5, i%20, i%20, (i+7)%20, (i+7)%20, i)
	}
	fmt.Fprint(w, "</channel>\n</rss>\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkImportWordPress10k imports benchPosts posts from a generated
// WXR file into an empty workspace on SQLite with "keel import
// wordpress", as a person would, and reports the seconds an import takes.
func BenchmarkImportWordPress10k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.xml")
	writeWXR(b, path, benchPosts)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %d posts, %.1f MB", path, benchPosts, float64(info.Size())/1e6)
	var total, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		s := newSite(b, "sqlite://"+filepath.Join(b.TempDir(), "keel.db"))
		b.StartTimer()
		began, cpuBefore := time.Now(), cpuTime(b)
		out, err := s.keel(b, "import", "wordpress", path, "--workspace", "site")
		total += time.Since(began)
		cpu += cpuTime(b) - cpuBefore
		if err != nil {
			b.Fatalf("import: %v\n%s", err, out)
		}
		if want := fmt.Sprintf("%d entries imported", benchPosts); !strings.Contains(out, want) {
			b.Fatalf("the import says\n%s\nwant %q", out[max(0, len(out)-500):], want)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/import")
	b.ReportMetric(float64(benchPosts*b.N)/total.Seconds(), "posts/s")
	// The CPU time says what the import costs whatever else the shared
	// machine runs meanwhile, which the wall time does not.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/import")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
