package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/content"
	"github.com/keelhq/keel/domain"
)

// localeRoutes manage a workspace's locales and an entry's translation.
type localeRoutes struct {
	content *content.Service
}

func (h localeRoutes) register(v1 *gin.RouterGroup) {
	v1.GET("/workspaces/:ws/locales", h.get)
	v1.PUT("/workspaces/:ws/locales", h.put)
	v1.PUT("/workspaces/:ws/entries/:id/translation", h.translation)
}

type siteLocalesDTO struct {
	DefaultLocale string              `json:"default_locale"`
	Fallbacks     map[string][]string `json:"fallbacks"`
}

func toSiteLocalesDTO(l domain.SiteLocales) siteLocalesDTO {
	out := siteLocalesDTO{DefaultLocale: l.Default().String(), Fallbacks: map[string][]string{}}
	for k, v := range l.Fallbacks() {
		chain := make([]string, len(v))
		for i, x := range v {
			chain[i] = x.String()
		}
		out.Fallbacks[k.String()] = chain
	}
	return out
}

type translationRequest struct {
	Locale        string `json:"locale"`
	TranslationOf string `json:"translation_of"`
}

func (h localeRoutes) get(c *gin.Context) {
	l, err := h.content.SiteLocales(c.Request.Context(), principal(c), c.Param("ws"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toSiteLocalesDTO(l))
}

func (h localeRoutes) put(c *gin.Context) {
	var req siteLocalesDTO
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	l, err := h.content.SetSiteLocales(c.Request.Context(), principal(c), c.Param("ws"), req.DefaultLocale, req.Fallbacks)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toSiteLocalesDTO(l))
}

func (h localeRoutes) translation(c *gin.Context) {
	v, err := ifMatch(c)
	if err != nil {
		fail(c, err)
		return
	}
	var req translationRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	e, err := h.content.SetTranslation(c.Request.Context(), principal(c), c.Param("ws"), domain.EntryID(c.Param("id")), v,
		content.TranslationInput{Locale: req.Locale, TranslationOf: domain.EntryID(req.TranslationOf)})
	if err != nil {
		fail(c, err)
		return
	}
	writeEntry(c, http.StatusOK, e)
}

// translationDTO is one published translation of a public entry.
type translationDTO struct {
	Locale string `json:"locale"`
	Slug   string `json:"slug"`
}

// translations are the published translations of e, itself included,
// none when it translates nothing and nothing translates it.
func (h siteRoutes) translations(ctx context.Context, e domain.Entry) ([]translationDTO, error) {
	if e.Locale() == "" {
		return nil, nil
	}
	ts, err := h.content.PublishedTranslations(ctx, e)
	if err != nil || len(ts) < 2 {
		return nil, err
	}
	return toTranslations(ts), nil
}

func toTranslations(ts []domain.Entry) []translationDTO {
	out := make([]translationDTO, 0, len(ts))
	for _, t := range ts {
		if t.Locale() != "" {
			out = append(out, translationDTO{t.Locale().String(), t.Slug()})
		}
	}
	slices.SortFunc(out, func(a, b translationDTO) int {
		if a.Locale < b.Locale {
			return -1
		}
		if a.Locale > b.Locale {
			return 1
		}
		return 0
	})
	return out
}

// withLocale reads ?locale= for serve: it asks the content service for
// that locale through the request's context and keys the cached answer
// on it too. A malformed locale is 422 and ok is false.
func (h siteRoutes) withLocale(c *gin.Context, key []byte) (_ []byte, _ domain.Locale, ok bool) {
	s := c.Query("locale")
	if s == "" {
		return key, "", true
	}
	l, err := domain.ParseLocale("locale", s)
	if err != nil {
		fail(c, err)
		return nil, "", false
	}
	c.Request = c.Request.WithContext(content.WithLocale(c.Request.Context(), l))
	if key != nil {
		key = append(append(key, 0), "locale="+l.String()...)
	}
	return key, l, true
}

// localized finishes an answer built for locale l: its link to the next
// page asks for l too, and it is served but not kept when the site's
// settings do not name l, so that made-up locales cannot fill the cache
// (nor can a failure to read the settings).
func (h siteRoutes) localized(ctx context.Context, site domain.Workspace, l domain.Locale, r *cachedResponse) {
	for i, link := range r.linkHeader {
		if j := strings.Index(link, ">;"); j > 0 {
			r.linkHeader[i] = link[:j] + "&locale=" + url.QueryEscape(l.String()) + link[j:]
		}
	}
	settings, err := h.content.PublicLocales(ctx, site.ID())
	if err != nil || !settings.Knows(l) {
		r.transient = true
	}
}

// hreflangLink is a sitemap URL's alternate in another language
// (xhtml:link, as search engines read it).
type hreflangLink struct {
	Rel      string `xml:"rel,attr"`
	Hreflang string `xml:"hreflang,attr"`
	Href     string `xml:"href,attr"`
}

// sitemapAlternates gathers, while the sitemap lists entries, the URLs of
// each translation group's members that have a locale.
type sitemapAlternates map[domain.EntryID][]sitemapMember

type sitemapMember struct {
	locale domain.Locale
	url    int // index in sitemapSet.URLs
}

func (a sitemapAlternates) add(e domain.Entry, url int) {
	if e.Locale() != "" {
		g := e.TranslationGroup()
		a[g] = append(a[g], sitemapMember{e.Locale(), url})
	}
}

// addAlternates gives every URL of a group with two published members or
// more an hreflang link to each member, itself included, and an
// x-default to the member in the site's default locale, as search engines
// ask.
func (h siteRoutes) addAlternates(ctx context.Context, site domain.Workspace, set *sitemapSet, a sitemapAlternates) error {
	def := domain.Locale("")
	for _, members := range a {
		if len(members) > 1 {
			settings, err := h.content.PublicLocales(ctx, site.ID())
			if err != nil {
				return err
			}
			def = settings.Default()
			break
		}
	}
	for _, members := range a {
		if len(members) < 2 {
			continue
		}
		slices.SortFunc(members, func(x, y sitemapMember) int { return strings.Compare(string(x.locale), string(y.locale)) })
		links := make([]hreflangLink, 0, len(members)+1)
		for _, m := range members {
			links = append(links, hreflangLink{"alternate", m.locale.String(), set.URLs[m.url].Loc})
		}
		for _, m := range members {
			if m.locale == def && def != "" {
				links = append(links, hreflangLink{"alternate", "x-default", set.URLs[m.url].Loc})
			}
		}
		for _, m := range members {
			set.URLs[m.url].Alternates = links
		}
	}
	return nil
}

// localizeFeed makes the feed of a locale a feed of its own: its ID and
// its self link name the locale, so that a reader subscribed to two
// languages does not take them for one feed.
func localizeFeed(ctx context.Context, f *atomFeed) {
	l := content.RequestedLocale(ctx)
	if l == "" {
		return
	}
	f.ID += ":" + l.String()
	for i, link := range f.Links {
		if link.Rel == "self" {
			f.Links[i].Href += "?locale=" + url.QueryEscape(l.String())
		}
	}
}
