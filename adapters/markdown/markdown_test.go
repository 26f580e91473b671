package markdown_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/keelhq/keel/adapters/markdown"
)

func TestRenderHTML(t *testing.T) {
	t.Parallel()
	r := markdown.New()
	tests := []struct {
		name, in, want string
	}{
		{"Headings", "# One\n\n## Two\n\n###### Six", "<h1>One</h1>\n<h2>Two</h2>\n<h6>Six</h6>\n"},
		{"Emphasis", "*em* _em_ **strong** ~~gone~~ `code`",
			"<p><em>em</em> <em>em</em> <strong>strong</strong> <del>gone</del> <code>code</code></p>\n"},
		{"UnorderedList", "- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"},
		{"OrderedListStart", "3. c\n4. d", "<ol start=\"3\">\n<li>c</li>\n<li>d</li>\n</ol>\n"},
		{"TaskList", "- [x] done\n- [ ] todo",
			"<ul>\n<li><input checked=\"\" disabled=\"\" type=\"checkbox\"/> done</li>\n<li><input disabled=\"\" type=\"checkbox\"/> todo</li>\n</ul>\n"},
		{"Links", "[rel](/about) [abs](https://example.com/a?b=1&c=2 \"T\") [mail](mailto:a@example.com)",
			"<p><a href=\"/about\">rel</a> <a href=\"https://example.com/a?b=1&amp;c=2\" title=\"T\">abs</a> <a href=\"mailto:a@example.com\">mail</a></p>\n"},
		{"Autolink", "See https://example.com and www.example.org.",
			"<p>See <a href=\"https://example.com\">https://example.com</a> and <a href=\"http://www.example.org\">www.example.org</a>.</p>\n"},
		{"Image", "![A cat](/cat.png \"Cat\")", "<p><img src=\"/cat.png\" alt=\"A cat\" title=\"Cat\"/></p>\n"},
		{"CodeFenceLanguage", "```go\nif a < b {}\n```", "<pre><code class=\"language-go\">if a &lt; b {}\n</code></pre>\n"},
		{"CodeFenceOddLanguage", "```c++\nx\n```", "<pre><code class=\"language-c++\">x\n</code></pre>\n"},
		{"CodeFenceNoLanguage", "```\nx\n```", "<pre><code>x\n</code></pre>\n"},
		{"CodeFenceHostileLanguage", "```\"onclick=\"alert(1)\nx\n```", "<pre><code>x\n</code></pre>\n"},
		{"Table", "| a | b |\n|:--|--:|\n| 1 | 2 |",
			"<table>\n<thead>\n<tr>\n<th align=\"left\">a</th>\n<th align=\"right\">b</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td align=\"left\">1</td>\n<td align=\"right\">2</td>\n</tr>\n</tbody>\n</table>\n"},
		{"Blockquote", "> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>\n"},
		{"HarmlessInlineHTML", "a <em>b</em> <sub>2</sub> <kbd>x</kbd>", "<p>a <em>b</em> <sub>2</sub> x</p>\n"},
		{"ClassStripped", "<span class=\"admin\">x</span>", "<p><span>x</span></p>\n"},
		{"NoHeadingIDs", "# Title {#custom}", "<h1>Title {#custom}</h1>\n"},
		// The parser reopens the link after the paragraph, as browsers do, and
		// closes it at the end: it cannot swallow the page after the body.
		{"UnclosedHTMLIsClosed", "<a href=\"https://example.com\">open", "<p><a href=\"https://example.com\">open</a></p><a href=\"https://example.com\">\n</a>"},
		{"TextInputDropped", "<input type=\"text\"><input><input checked>", "<p></p>\n"},
		{"RawCheckboxDisabled", "<input type=\"checkbox\" checked>", "<input checked=\"\" disabled=\"\" type=\"checkbox\"/>"},
		// Containers nest at most 32 deep (limits.go); deeper markers are text.
		{"DeepQuotesAreCapped", strings.Repeat("> ", 40) + "<b>x</b>",
			strings.Repeat("<blockquote>\n", 32) + "<p>" + strings.Repeat("&gt; ", 8) + "<b>x</b></p>\n" + strings.Repeat("</blockquote>\n", 32)},
		{"TooDeepIsShownAsSource", strings.Repeat("<div>", 600) + "<b>x</b>", "<pre>" + strings.Repeat("&lt;div&gt;", 600) + "&lt;b&gt;x&lt;/b&gt;</pre>"},
		{"Empty", "", ""},
		{"InvalidMarkdownStillRenders", "[unclosed](http://a\n**bold\n|a|\n```", "<p>[unclosed](http://a\n**bold\n|a|</p>\n<pre><code></code></pre>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := r.Render(tt.in).HTML; got != tt.want {
				t.Errorf("Render(%q).HTML =\n%s\nwant\n%s", tt.in, got, tt.want)
			}
		})
	}
}

func TestRenderText(t *testing.T) {
	t.Parallel()
	r := markdown.New()
	tests := []struct {
		name, in, want string
	}{
		{"Inline", "Hello *wor*ld and `code`", "Hello world and code"},
		{"Blocks", "# Title\n\nPara one\nwraps.\n\n- a\n- b\n\n> quote", "Title\nPara one wraps.\na\nb\nquote"},
		{"Entities", "Fish &amp; chips &lt;3 &copy; caf&eacute;&nbsp;&nbsp;ok", "Fish & chips <3 © café ok"},
		{"EscapedHTML", "`<b>` and \\<i>", "<b> and <i>"},
		{"Table", "| a | b |\n|---|---|\n| 1 | 2 |", "a b\n1 2"},
		{"Code", "```go\nfunc f() {\n\treturn\n}\n```", "func f() { return }"},
		{"LinkTextNotURL", "[the docs](https://example.com/docs)", "the docs"},
		{"ImagesHaveNoText", "before ![alt text](/a.png) after", "before after"},
		{"ScriptDropped", "<script>alert(1)</script>\n\nvisible <style>p{}</style>text", "visible text"},
		{"HTMLBlock", "<div>\ninside\n</div>\n\nafter", "inside\nafter"},
		{"DeepQuotes", strings.Repeat("> ", 600) + "x", strings.Repeat("> ", 600-32) + "x"},
		{"TooDeep", strings.Repeat("<div>", 600) + "x", strings.Repeat("<div>", 600) + "x"},
		{"UnicodeSpace", "\va\vb\u2003c\u00a0", "a b c"},
		{"Empty", "   \n\n  ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := r.Render(tt.in).Text; got != tt.want {
				t.Errorf("Render(%q).Text = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// xssVectors are inputs that try to run script or leave the page: each
// must render to HTML in which whyUnsafe finds nothing.
var xssVectors = []struct{ name, in string }{
	{"Script", "<script>alert(1)</script>"},
	{"ScriptMixedCase", "<ScRiPt>alert(1)</sCrIpT>"},
	{"ScriptNested", "<scr<script>ipt>alert(1)</scr</script>ipt>"},
	{"ScriptSrc", "<script src=\"https://evil.example/x.js\"></script>"},
	{"ScriptInHTMLBlock", "<div>\n<script>alert(1)</script>\n</div>"},
	{"ImgOnerror", "<img src=x onerror=alert(1)>"},
	{"ImgOnerrorUpperCase", "<IMG SRC=\"x\" ONERROR=\"alert(1)\">"},
	{"ImgOnerrorSlash", "<img/src=x/onerror=alert(1)>"},
	{"SVGOnload", "<svg onload=alert(1)>"},
	{"BodyOnload", "<body onload=alert(1)>"},
	{"DivOnclick", "<div onclick=\"alert(1)\">click</div>"},
	{"DetailsOntoggle", "<details open ontoggle=alert(1)><summary>x</summary></details>"},
	{"InputOnfocus", "<input autofocus onfocus=alert(1)>"},
	{"InputImage", "<input type=\"image\" src=\"x\" onerror=\"alert(1)\">"},
	{"MarkdownLinkJavascript", "[x](javascript:alert(1))"},
	{"MarkdownLinkJavascriptTitle", "[x](javascript:alert(1) \"t\")"},
	{"MarkdownLinkJavascriptEntity", "[x](jav&#x61;script:alert(1))"},
	{"MarkdownLinkJavascriptColonEntity", "[x](javascript&colon;alert(1))"},
	{"MarkdownLinkJavascriptAngle", "[x](<javascript:alert(1)>)"},
	{"MarkdownLinkJavascriptUpperCase", "[x](JaVaScRiPt:alert(1))"},
	{"HTMLHrefJavascript", "<a href=\"javascript:alert(1)\">x</a>"},
	{"HTMLHrefHexEntity", "<a href=\"jav&#x61;script:alert(1)\">x</a>"},
	{"HTMLHrefDecimalEntities", "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>"},
	{"HTMLHrefTab", "<a href=\"java\tscript:alert(1)\">x</a>"},
	{"HTMLHrefTabEntity", "<a href=\"java&#x09;script:alert(1)\">x</a>"},
	{"HTMLHrefNewline", "<a href=\"java\nscript:alert(1)\">x</a>"},
	{"HTMLHrefLeadingSpace", "<a href=\"  javascript:alert(1)\">x</a>"},
	{"HTMLHrefLeadingControl", "<a href=\"&#x01;javascript:alert(1)\">x</a>"},
	{"MarkdownLinkTab", "[x](java\tscript:alert(1))"},
	{"MarkdownLinkDataHTML", "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"},
	{"HTMLHrefDataHTML", "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>"},
	{"MarkdownImageDataHTML", "![x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"},
	{"HTMLImageDataSVG", "<img src=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\">"},
	{"MarkdownLinkVBScript", "[x](vbscript:msgbox(1))"},
	{"HTMLHrefVBScript", "<a href=\"VBScript:msgbox(1)\">x</a>"},
	{"SVGScript", "<svg><script>alert(1)</script></svg>"},
	{"SVGXlinkHref", "<svg><a xlink:href=\"javascript:alert(1)\"><text x=\"0\" y=\"20\">x</text></a></svg>"},
	{"SVGAnimateHref", "<svg><animate attributeName=\"href\" values=\"javascript:alert(1)\"/></svg>"},
	{"Iframe", "<iframe src=\"https://evil.example\"></iframe>"},
	{"IframeSrcdoc", "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\"></iframe>"},
	{"Object", "<object data=\"javascript:alert(1)\"></object>"},
	{"Embed", "<embed src=\"javascript:alert(1)\">"},
	{"FormAction", "<form action=\"javascript:alert(1)\"><button>x</button></form>"},
	{"ButtonFormaction", "<button formaction=\"javascript:alert(1)\">x</button>"},
	{"MetaRefresh", "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">"},
	{"Base", "<base href=\"javascript:alert(1)//\">"},
	{"LinkStylesheet", "<link rel=\"stylesheet\" href=\"javascript:alert(1)\">"},
	{"StyleURL", "<style>body{background:url(javascript:alert(1))}</style>"},
	{"StyleExpression", "<style>p{width:expression(alert(1))}</style>"},
	{"StyleAttribute", "<div style=\"width:expression(alert(1));background:url(javascript:alert(1))\">x</div>"},
	{"MathHref", "<math href=\"javascript:alert(1)\">x</math>"},
	{"MathMutation", "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"},
	{"MathMIHref", "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>"},
	{"NoscriptMutation", "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">"},
	{"TemplateScript", "<template><script>alert(1)</script></template>"},
	{"AutolinkJavascript", "<javascript:alert(1)>"},
	{"AutolinkVBScript", "<vbscript:msgbox(1)>"},
	{"ReferenceLinkJavascript", "[x][r]\n\n[r]: javascript:alert(1)"},
	{"ReferenceLinkData", "[x][r]\n\n[r]: data:text/html,<script>alert(1)</script>"},
	{"MarkdownImageJavascript", "![x](javascript:alert(1))"},
	{"ImgSrcset", "<img srcset=\"javascript:alert(1) 1x\" src=\"/a.png\">"},
	{"VideoPoster", "<video poster=\"javascript:alert(1)\"><source src=\"x\" onerror=\"alert(1)\"></video>"},
	{"Isindex", "<isindex type=\"image\" src=\"1\" onerror=\"alert(1)\">"},
	{"UnclosedAttribute", "<img src=x onerror=alert(1)//"},
	{"QuoteBreakout", "<img \"\"\"><script>alert(1)</script>\">"},
	{"CommentBreakout", "<!--<img src=\"--><img src=x onerror=alert(1)//\">"},
	{"CDATA", "<![CDATA[<script>alert(1)</script>]]>"},
	{"LinkTitleBreakout", "[x](/a \"\\\" onmouseover=\\\"alert(1)\")"},
	{"BlockquoteCite", "<blockquote cite=\"javascript:alert(1)\">x</blockquote>"},
}

func TestRenderXSS(t *testing.T) {
	t.Parallel()
	r := markdown.New()
	for _, v := range xssVectors {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			out := r.Render(v.in).HTML
			if why := whyUnsafe(out); why != "" {
				t.Errorf("Render(%q).HTML = %q: %s", v.in, out, why)
			}
		})
	}
}

// TestWhyUnsafe shows the checker the XSS tests rely on catching what it
// is meant to catch, so that a blind checker cannot make them pass.
func TestWhyUnsafe(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"<SCRIPT>x</SCRIPT>",
		"<img src=x onerror=alert(1)>",
		"<a href=\" jav&#x09;ascript:x\">x</a>",
		"<a href=\"java\nscript:x\">x</a>",
		"<img src=\"DATA:image/png;base64,AA\">",
		"<img srcset=\"/a.png 1x, javascript:x 2x\">",
		"<a href=\"vbscript:x\">x</a>",
		"<svg><a xlink:href=\"/x\">x</a></svg>",
		"<math><mi>x</mi></math>",
		"<iframe></iframe>",
		"<p style=\"color:red\">x</p>",
		"<input type=\"text\">",
		"<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
	} {
		if whyUnsafe(bad) == "" {
			t.Errorf("whyUnsafe(%q) = \"\", want a reason", bad)
		}
	}
	for _, good := range []string{
		"<p><a href=\"https://example.com\" title=\"javascript: the good parts\">x</a></p>",
		"<img src=\"/data:x.png\">",
		"<p>javascript:alert(1) as text</p>",
		"<input checked=\"\" disabled=\"\" type=\"checkbox\"/>",
	} {
		if why := whyUnsafe(good); why != "" {
			t.Errorf("whyUnsafe(%q) = %q, want \"\"", good, why)
		}
	}
}

// TestRenderKeepsSafeLinks guards whyUnsafe against a policy so strict that
// the XSS test passes by dropping everything.
func TestRenderKeepsSafeLinks(t *testing.T) {
	t.Parallel()
	out := markdown.New().Render("[a](https://example.com) ![b](/b.png) <em>c</em>").HTML
	for _, want := range []string{`href="https://example.com"`, `src="/b.png"`, `<em>c</em>`} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML = %q, want it to contain %q", out, want)
		}
	}
}

func FuzzRender(f *testing.F) {
	for _, v := range xssVectors {
		f.Add(v.in)
	}
	f.Add(post)
	f.Add(strings.Repeat("<div>", 513))
	for _, p := range pathological {
		f.Add(p.body(256)) // past the nesting limits, within the budgets
	}
	r := markdown.New()
	f.Fuzz(func(t *testing.T, in string) {
		got := r.Render(in)
		if why := whyUnsafe(got.HTML); why != "" {
			t.Fatalf("Render(%q).HTML = %q: %s", in, got.HTML, why)
		}
		if strings.TrimSpace(got.Text) != got.Text || strings.Contains(got.Text, "\n\n") {
			t.Fatalf("Render(%q).Text = %q: untrimmed space or a blank line", in, got.Text)
		}
	})
}

func TestRenderConcurrent(t *testing.T) {
	t.Parallel()
	r := markdown.New()
	inputs := []string{post, "# a", "<script>x</script>b", "- [x] c", "| d |\n|---|\n| e |"}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		want[i] = r.Render(in).HTML
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := (g + i) % len(inputs)
				if got := r.Render(inputs[k]).HTML; got != want[k] {
					t.Errorf("concurrent Render(%q) = %q, want %q", inputs[k], got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkRender(b *testing.B) {
	r := markdown.New()
	b.SetBytes(int64(len(post)))
	b.ReportAllocs()
	for b.Loop() {
		r.Render(post)
	}
}

// whyUnsafe parses out as a browser would and says what in it could run
// script, load a document or submit data, or "" when nothing could.
// Parsing rather than matching substrings sees attributes however they
// are quoted, cased or entity-encoded, and sees mutations: markup whose
// meaning changes when it is parsed again.
func whyUnsafe(out string) string {
	if strings.Contains(strings.ToLower(out), "<script") {
		return "contains <script"
	}
	ctx := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := html.ParseFragment(strings.NewReader(out), ctx)
	if err != nil {
		return fmt.Sprintf("parse: %v", err)
	}
	for _, n := range nodes {
		if why := whyUnsafeNode(n); why != "" {
			return why
		}
	}
	return ""
}

// forbidden are elements that run script, embed or frame documents, build
// forms, style the page or change its head, in HTML's namespace.
var forbidden = map[string]bool{
	"script": true, "style": true, "iframe": true, "frame": true, "frameset": true, "object": true,
	"embed": true, "applet": true, "form": true, "button": true, "select": true, "textarea": true,
	"meta": true, "link": true, "base": true, "noscript": true, "template": true, "svg": true,
	"math": true, "video": true, "audio": true, "source": true, "param": true, "isindex": true,
}

// urlAttrs are attributes whose value a browser may load or navigate to.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "cite": true, "action": true, "formaction": true, "data": true,
	"poster": true, "background": true, "longdesc": true, "srcset": true, "dynsrc": true,
	"lowsrc": true, "codebase": true, "classid": true, "manifest": true, "ping": true, "xlink:href": true,
}

func whyUnsafeNode(n *html.Node) string {
	if n.Type == html.ElementNode {
		if n.Namespace != "" {
			return fmt.Sprintf("<%s> in namespace %s", n.Data, n.Namespace)
		}
		if forbidden[n.Data] {
			return fmt.Sprintf("<%s> element", n.Data)
		}
		for _, a := range n.Attr {
			key := strings.ToLower(a.Key)
			if a.Namespace != "" {
				key = a.Namespace + ":" + key
			}
			switch {
			case strings.HasPrefix(key, "on"):
				return fmt.Sprintf("event handler %s on <%s>", key, n.Data)
			case key == "style" || key == "srcdoc":
				return fmt.Sprintf("%s attribute on <%s>", key, n.Data)
			case n.Data == "input" && key == "type" && !strings.EqualFold(a.Val, "checkbox"):
				return fmt.Sprintf("input of type %q", a.Val)
			case urlAttrs[key] && badURL(a.Val):
				return fmt.Sprintf("%s=%q on <%s>", key, a.Val, n.Data)
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if why := whyUnsafeNode(c); why != "" {
			return why
		}
	}
	return ""
}

// badURL reports whether any URL in v, a comma-separated srcset included,
// has a scheme that runs script or inlines a document. It removes what
// browsers ignore first: ASCII whitespace and control characters.
func badURL(v string) bool {
	norm := strings.ToLower(strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, v))
	for u := range strings.SplitSeq(norm, ",") {
		for _, scheme := range []string{"javascript:", "vbscript:", "data:", "livescript:"} {
			if strings.HasPrefix(u, scheme) {
				return true
			}
		}
	}
	return false
}

// post is a realistic blog post of about 3 KB, for the benchmark and the
// fuzz corpus.
const post = "# Shipping a static site with Keel\n\n" +
	"Last month we moved the **company blog** off a hosted platform and onto Keel. This post covers " +
	"what went well, what surprised us, and the numbers after four weeks in production. If you only " +
	"have a minute, skip to [the results](#results) or read the [migration guide](https://example.com/guide).\n\n" +
	"## Why we moved\n\n" +
	"The old platform was fine for writing but painful for everything around it:\n\n" +
	"- Builds took *minutes* because every page was fetched one by one.\n" +
	"- Drafts could not be previewed on the real site.\n" +
	"- Scheduling a post meant setting an alarm.\n" +
	"- The export was a zip of HTML with inline styles everywhere.\n\n" +
	"We wanted plain Markdown in, clean HTML out, and an API our front end could cache.\n\n" +
	"## The setup\n\n" +
	"Our front end is a small Go program that renders templates. Fetching a post is one request:\n\n" +
	"```go\nresp, err := http.Get(base + \"/v1/sites/acme/posts/\" + slug)\nif err != nil {\n\treturn fmt.Errorf(\"fetch %s: %w\", slug, err)\n}\ndefer resp.Body.Close()\n```\n\n" +
	"The response carries an `ETag`, so revalidating costs a `304` and no body. We put a CDN in front " +
	"and set `stale-while-revalidate` to a minute.\n\n" +
	"> Caching is easy when the server tells you the truth about freshness.\n> — someone on our team, probably\n\n" +
	"### Scheduling\n\n" +
	"Editors pick a time and go home. The scheduler publishes the post within seconds of it, once, " +
	"even with two nodes running. We tested that by killing a node mid-publish; the post still went " +
	"out exactly once.\n\n" +
	"## Results\n\n" +
	"| Metric | Before | After |\n|:--|--:|--:|\n| Build time | 4 min 10 s | 38 s |\n" +
	"| Median page load | 1.9 s | 0.6 s |\n| Posts per week | 2 | 3 |\n| Support tickets | 5 | 0 |\n\n" +
	"The biggest win was not speed but confidence: previews match production, and a typo fix is live " +
	"in seconds rather than after the next build.\n\n" +
	"### Things to watch\n\n" +
	"1. Images still live on the old bucket; we rewrite their URLs at render time.\n" +
	"2. Old posts used HTML tables with `style` attributes, which the sanitiser drops. We converted " +
	"them to Markdown tables by hand.\n" +
	"3. Footnotes are not supported yet, so we turned them into parenthetical notes.\n\n" +
	"## What is next\n\n" +
	"- [x] Move the blog\n- [x] Move the changelog\n- [ ] Move the docs (they have ~~400~~ 412 pages)\n" +
	"- [ ] Full-text search on the site\n\n" +
	"Questions? Write to <team@example.com> or find us at https://example.com/community. " +
	"Thanks to everyone who read drafts of this post &mdash; especially the ones who said it was too long.\n\n" +
	"![The new blog's front page](/images/blog-front.png \"Front page\")\n\n" +
	"<small>Numbers are medians over 28 days; your mileage will vary.</small>\n"
